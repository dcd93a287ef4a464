"""Building blocks shared by the zoo's Keras models."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers


def scaled(channels: int, width: float, divisor: int = 8) -> int:
    """Channels times a width multiplier, rounded to a multiple of ``divisor``
    (MobileNet's rule, so int8 kernels stay vectorisable)."""
    return max(divisor, int(channels * width + divisor / 2) // divisor * divisor)


def conv_bn_relu6(x: Any, filters: int, kernel: int, stride: int, name: str) -> Any:
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def inverted_residual(x: Any, filters: int, expansion: int, stride: int, name: str) -> Any:
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, linear 1x1 project,
    with the identity shortcut when shapes allow."""
    channels = x.shape[-1]
    h = x
    if expansion != 1:
        h = conv_bn_relu6(h, channels * expansion, 1, 1, f"{name}_expand")
    h = layers.DepthwiseConv2D(3, stride, padding="same", use_bias=False, name=f"{name}_dw")(h)
    h = layers.BatchNormalization(name=f"{name}_dw_bn")(h)
    h = layers.ReLU(6.0, name=f"{name}_dw_relu")(h)
    h = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(h)
    h = layers.BatchNormalization(name=f"{name}_project_bn")(h)
    if stride == 1 and channels == filters:
        h = layers.Add(name=f"{name}_add")([x, h])
    return h


def heads(x: Any, outputs: dict[str, int]) -> dict[str, Any]:
    """One linear 1x1 convolution per named output; the layer carries the name.

    Initialised near zero (std 0.001, as SimpleBaseline does) so training starts
    from flat outputs instead of spending its first steps shrinking large ones.
    """
    init = keras.initializers.RandomNormal(stddev=0.001)
    return {name: layers.Conv2D(n, 1, kernel_initializer=init, name=name)(x) for name, n in outputs.items()}


def functional(inputs: Any, outputs: dict[str, Any], name: str) -> keras.Model:
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
