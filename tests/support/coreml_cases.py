"""Tiny Keras models, one family of layers each, converted to the three Core ML
flavours the pipeline can ship, for testing the reference evaluator op by op."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

SHAPE = (1, 12, 12, 4)


class Flavour(StrEnum):
    FP32 = "mlprogram-fp32"  # iOS15, fp32 compute: what converters/coreml/convert.py writes
    FP16 = "mlprogram-fp16"  # iOS16, fp16 compute and fp16 inputs/outputs
    NN = "neuralnetwork"  # iOS14 .mlmodel

    @property
    def suffix(self) -> str:
        return ".mlmodel" if self is Flavour.NN else ".mlpackage"


def convert(model: Any, flavour: Flavour, out: Path, target: Any = None, shape: tuple[int, ...] = SHAPE) -> Path:
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct

    options: dict[str, Any] = {"source": "tensorflow", "inputs": [ct.TensorType(name="image", shape=shape)]}
    if flavour is Flavour.NN:
        options |= {"convert_to": "neuralnetwork", "minimum_deployment_target": ct.target.iOS14}
    else:
        fp16 = flavour is Flavour.FP16
        options |= {"convert_to": "mlprogram",
                    "minimum_deployment_target": target or (ct.target.iOS16 if fp16 else ct.target.iOS15),
                    "compute_precision": ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32}
    mlmodel = ct.convert(model, **options)
    spec = mlmodel.get_spec()
    names = sorted(model.output)  # the TensorFlow frontend emits dict outputs in sorted-key order
    for feature, name in zip(list(spec.description.output), names, strict=True):
        ct.utils.rename_feature(spec, feature.name, name)
    path = out.with_suffix(flavour.suffix)
    weights = {"weights_dir": mlmodel.weights_dir} if flavour is not Flavour.NN else {}
    ct.models.MLModel(spec, skip_model_load=True, **weights).save(str(path))
    return path


def _bn(x: Any, name: str) -> Any:
    """Batch norm with moving statistics far from the identity, so folding it
    wrongly shows."""
    import keras

    layer = keras.layers.BatchNormalization(name=name)
    y = layer(x)
    rng = np.random.default_rng(len(name))
    c = x.shape[-1]
    layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.2, c),
                       rng.uniform(0.5, 1.5, c)])
    return y


def conv(image: Any) -> dict[str, Any]:
    from keras import layers

    x = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(image)
    y = layers.Conv2D(5, 3, dilation_rate=2, padding="valid", activation="sigmoid")(image)
    return {"strided": x, "dilated": layers.Activation("tanh")(y)}


def depthwise(image: Any) -> dict[str, Any]:
    from keras import layers

    x = layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)(image)
    x = layers.ReLU(6.0)(_bn(x, "dw_bn"))
    x = layers.Conv2D(8, 3, padding="same")(x)  # Keras 3 grouped convs are XLA calls coremltools cannot convert
    return {"grouped": layers.LeakyReLU(0.2)(x)}


def transpose(image: Any) -> dict[str, Any]:
    from keras import layers

    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(image)
    y = layers.Conv2DTranspose(3, 2, strides=2, padding="valid", use_bias=False)(image)
    return {"same": x, "valid": layers.ReLU()(y)}


def pool_resize(image: Any) -> dict[str, Any]:
    from keras import layers

    avg = layers.AveragePooling2D(3, strides=2, padding="same")(image)
    up = layers.UpSampling2D(2, interpolation="bilinear")(avg)
    near = layers.UpSampling2D(2)(layers.MaxPooling2D(2)(image))
    return {"merged": layers.Concatenate()([up, near, layers.Subtract()([up, near])])}


def dense(image: Any) -> dict[str, Any]:
    from keras import layers

    x = layers.Conv2D(8, 3, strides=2, padding="same")(image)
    pooled = layers.GlobalAveragePooling2D()(x)
    probabilities = layers.Softmax()(layers.Dense(10)(pooled))
    coords = layers.Dense(6, activation="sigmoid")(layers.Flatten()(x))
    return {"probabilities": probabilities, "coords": layers.Reshape((3, 2))(coords)}


def pad_norm(image: Any) -> dict[str, Any]:
    from keras import layers

    x = layers.ZeroPadding2D(((1, 2), (0, 1)))(image)
    x = _bn(layers.Conv2D(6, 3, use_bias=False)(x), "pad_bn")
    gate = layers.Conv2D(6, 1, activation="sigmoid")(x)
    return {"gated": layers.Maximum()([layers.Multiply()([x, gate]), layers.Add()([x, gate])])}


CASES: dict[str, Callable[[Any], dict[str, Any]]] = {
    f.__name__: f for f in (conv, depthwise, transpose, pool_resize, dense, pad_norm)
}


def build(case: str) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input(batch_shape=SHAPE, name="image")
    return keras.Model(image, CASES[case](image), name=case)


def sample(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=SHAPE).astype(np.float32)
