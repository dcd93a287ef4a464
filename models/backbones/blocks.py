"""Building blocks shared by the zoo's Keras models."""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops


def scaled(channels: int, width: float, divisor: int = 8) -> int:
    """Channels times a width multiplier, rounded to a multiple of ``divisor``
    (MobileNet's rule, so int8 kernels stay vectorisable)."""
    return max(divisor, int(channels * width + divisor / 2) // divisor * divisor)


def conv_bn_relu6(x: Any, filters: int, kernel: int, stride: int, name: str) -> Any:
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def inverted_residual(x: Any, filters: int, expansion: int, stride: int, name: str, kernel: int = 3) -> Any:
    """MobileNetV2's block: 1x1 expand, depthwise (3x3 unless ``kernel``), linear
    1x1 project, with the identity shortcut when shapes allow."""
    channels = x.shape[-1]
    h = x
    if expansion != 1:
        h = conv_bn_relu6(h, channels * expansion, 1, 1, f"{name}_expand")
    h = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dw")(h)
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


def submodel(model: keras.Model, names: list[str], name: str) -> keras.Model:
    """The part of a Functional model that computes the outputs ``names``: the same
    layer objects (so the same weights), none of the layers only other outputs need."""
    return keras.Model(model.input, {n: model.output[n] for n in names}, name=name)


def conv_bn_relu(x: Any, filters: int, kernel: int, stride: int, name: str) -> Any:
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def separable(x: Any, filters: int, name: str, stride: int = 1, kernel: int = 3) -> Any:
    """Depthwise then pointwise convolution, batch-normalised, no activation."""
    x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def channel_attention(x: Any, name: str, reduction: int = 4) -> Any:
    """Squeeze-and-excitation channel attention: a per-channel gate in (0, 1) from
    the globally pooled features.

    Built from standard layers (pooling, 1x1 convolutions, sigmoid, multiply)
    rather than a custom layer, so checkpoints load in safe mode and every
    converter maps it to ops it already knows.
    """
    channels = x.shape[-1]
    gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    gate = layers.Conv2D(max(8, channels // reduction), 1, activation="relu", name=f"{name}_squeeze")(gate)
    gate = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_excite")(gate)
    return layers.Multiply(name=f"{name}_scale")([x, gate])


@keras.saving.register_keras_serializable(package="posepipe")
class NearestUpsampling(layers.Layer):
    """Nearest-neighbour upsampling by an integer factor, as the one resize op every
    mobile runtime delegates.

    ``layers.UpSampling2D`` lowers nearest upsampling to ``repeat``, which becomes
    Unsqueeze/Tile/Reshape in ONNX: NNAPI and Core ML NeuralNetwork take no Tile, so
    each upsampling split the graph. ``layers.Resizing`` lowers to a resize with TF2's
    half-pixel centres (ONNX ``tf_half_pixel_for_nn``), which ONNX Runtime's NNAPI and
    Core ML NeuralNetwork providers refuse: they take nearest resizing only as
    ``asymmetric`` with ``floor``. TensorFlow's ResizeNearestNeighbor without
    half-pixel centres is exactly that (tf2onnx: Resize asymmetric/floor; LiteRT:
    RESIZE_NEAREST_NEIGHBOR; coremltools: upsample_nearest_neighbor), and for an
    integer factor it picks the same source pixel as ``repeat``: the outputs are
    bit-identical (tests/models/test_delegable.py).
    """

    def __init__(self, factor: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(factor) != factor or factor < 1:
            raise ValueError(f"NearestUpsampling: factor must be a positive integer, not {factor!r}")
        self.factor = int(factor)

    def call(self, x: Any) -> Any:
        if keras.backend.backend() != "tensorflow":  # the same numbers where no TF op exists
            return keras.ops.repeat(keras.ops.repeat(x, self.factor, axis=1), self.factor, axis=2)
        import tensorflow as tf

        h, w = x.shape[1], x.shape[2]
        size = [h * self.factor, w * self.factor] if h and w else tf.shape(x)[1:3] * self.factor
        return tf.raw_ops.ResizeNearestNeighbor(images=x, size=size, align_corners=False, half_pixel_centers=False)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, h, w, c = input_shape
        return n, h and h * self.factor, w and w * self.factor, c

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"factor": self.factor}


def upsample_nearest(x: Any, factor: int, name: str) -> Any:
    return NearestUpsampling(factor, name=name)(x)


@keras.saving.register_keras_serializable(package="posepipe")
class PixelInput(layers.Layer):
    """uint8 pixels -> the model's float input: ``InputSpec.normalise`` as graph ops
    (a channel reverse first for a BGR model, then ``(x - mean) / std``)."""

    def __init__(self, color: str = "RGB", mean: tuple[float, ...] = (127.5,) * 3,
                 std: tuple[float, ...] = (127.5,) * 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.color, self.mean, self.std = color, tuple(mean), tuple(std)

    def call(self, pixels: Any) -> Any:
        x = ops.cast(pixels, "float32")
        if self.color == "BGR":
            x = ops.flip(x, axis=-1)
        return (x - ops.convert_to_tensor(self.mean, "float32")) / ops.convert_to_tensor(self.std, "float32")

    def compute_output_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"color": self.color, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def of(cls, spec: Any) -> PixelInput:
        """The layer for a model's ``InputSpec`` (models/spec.py)."""
        return cls(spec.color, spec.mean, spec.std, name="pixel_input")
