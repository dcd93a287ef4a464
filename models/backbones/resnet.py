"""ResNet backbones (He et al.), v1.5 (the stride on the 3x3 convolution), with a
width multiplier so that a ResNet-50 can train on a CPU budget."""

from __future__ import annotations

from typing import Any

from keras import layers

from posepipe.models.backbones.blocks import conv_bn_relu, scaled
from posepipe.models.errors import ConfigError

# depth -> (residual blocks per stage, bottleneck blocks?)
LAYOUTS: dict[int, tuple[tuple[int, int, int, int], bool]] = {
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
    152: ((3, 8, 36, 3), True),
}
STAGE_CHANNELS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4
STRIDE = 32


def resnet(image: Any, depth: int, width: float) -> Any:
    """Features at stride 32: a 7x7 stem, max pooling, four residual stages."""
    if depth not in LAYOUTS:
        raise ConfigError(f"resnet: depth={depth}; choose from {', '.join(map(str, LAYOUTS))}")
    blocks, bottleneck = LAYOUTS[depth]
    x = conv_bn_relu(image, scaled(64, width), 7, 2, "stem")
    x = layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for stage, (count, channels) in enumerate(zip(blocks, STAGE_CHANNELS, strict=True), start=1):
        for index in range(count):
            stride = 2 if stage > 1 and index == 0 else 1
            name = f"res{stage}_{index + 1}"
            block = _bottleneck if bottleneck else _basic
            x = block(x, scaled(channels, width), stride, name)
    return x


def _basic(x: Any, channels: int, stride: int, name: str) -> Any:
    h = conv_bn_relu(x, channels, 3, stride, f"{name}_a")
    h = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"{name}_b_conv")(h)
    h = layers.BatchNormalization(name=f"{name}_b_bn")(h)
    return _merge(x, h, stride, name)


def _bottleneck(x: Any, channels: int, stride: int, name: str) -> Any:
    h = conv_bn_relu(x, channels, 1, 1, f"{name}_a")
    h = conv_bn_relu(h, channels, 3, stride, f"{name}_b")
    h = layers.Conv2D(channels * BOTTLENECK_EXPANSION, 1, use_bias=False, name=f"{name}_c_conv")(h)
    h = layers.BatchNormalization(name=f"{name}_c_bn")(h)
    return _merge(x, h, stride, name)


def _merge(x: Any, h: Any, stride: int, name: str) -> Any:
    """Identity shortcut, or a strided 1x1 projection where the shape changes."""
    if stride != 1 or x.shape[-1] != h.shape[-1]:
        x = layers.Conv2D(h.shape[-1], 1, stride, use_bias=False, name=f"{name}_proj_conv")(x)
        x = layers.BatchNormalization(name=f"{name}_proj_bn")(x)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, h]))
