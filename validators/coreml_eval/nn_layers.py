"""neuralnetwork layers (NeuralNetwork.proto), on float32 as Core ML's CPU runs
them. Images are [..., C, H, W]; ND layers take axes as given."""

from __future__ import annotations

from typing import Any

import numpy as np

from posepipe.validators.coreml_eval import kernels
from posepipe.validators.coreml_eval.errors import UnsupportedOpError
from posepipe.validators.coreml_eval.nn_weights import flat_weights, weights
from posepipe.validators.coreml_eval.registry import nn_layer

Inputs = list[np.ndarray]


def _nchw(x: np.ndarray, layer: str) -> np.ndarray:
    if x.ndim < 4:
        raise UnsupportedOpError("layer", layer, f"rank {x.ndim} input; 2-D spatial layers need rank >= 4")
    return x.reshape(-1, *x.shape[-3:])


def _padding(p: Any, size: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
             dilations: tuple[int, int]) -> kernels.Pads:
    is_conv = hasattr(p, "dilationFactor")
    which = p.WhichOneof("ConvolutionPaddingType" if is_conv else "PoolingPaddingType")
    if which == "valid":
        amounts = list(p.valid.paddingAmounts.borderAmounts)
        if not amounts:
            return 0, 0, 0, 0
        return amounts[0].startEdgeSize, amounts[0].endEdgeSize, amounts[1].startEdgeSize, amounts[1].endEdgeSize
    if which == "same":
        return kernels.same_pads(size, kernel, strides, dilations, lower=p.same.asymmetryMode == 1)
    raise UnsupportedOpError("layer", "padding", str(which))


@nn_layer("convolution")
def convolution(p: Any, inputs: Inputs) -> np.ndarray:
    x = _nchw(inputs[0], "convolution")
    kernel = tuple(p.kernelSize) or (3, 3)
    strides, dilations = tuple(p.stride) or (1, 1), tuple(p.dilationFactor) or (1, 1)
    groups = max(p.nGroups, 1)
    bias = weights(p.bias, (p.outputChannels,)) if p.hasBias else None
    if p.isDeconvolution:
        w = weights(p.weights, (p.kernelChannels, p.outputChannels // groups, *kernel), channel_axis=1)
        (h, wd), (kh, kw) = x.shape[2:], kernel
        full = ((h - 1) * strides[0] + (kh - 1) * dilations[0] + 1, (wd - 1) * strides[1] + (kw - 1) * dilations[1] + 1)
        crop = _padding(p, (h, wd), kernel, strides, dilations) if p.WhichOneof("ConvolutionPaddingType") == "valid" \
            else _same_crop(full, (h * strides[0], wd * strides[1]))
        if len(p.outputShape):
            crop = _same_crop(full, tuple(p.outputShape))
        return kernels.conv_transpose2d(x, w, bias, strides, crop, dilations, groups)
    w = weights(p.weights, (p.outputChannels, p.kernelChannels, *kernel))
    pads = _padding(p, x.shape[2:], kernel, strides, dilations)
    return kernels.conv2d(x, w, bias, strides, pads, dilations, groups)


def _same_crop(full: tuple[int, int], target: tuple[int, ...]) -> kernels.Pads:
    crops = []
    for size, want in zip(full, target, strict=True):
        total = max(size - want, 0)
        crops += [total // 2, total - total // 2]
    return crops[0], crops[1], crops[2], crops[3]


@nn_layer("batchnorm")
def batchnorm(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0].astype(np.float32)
    c = p.channels
    shape = (c, 1, 1) if x.ndim >= 3 else (c,)
    if p.computeMeanVar:
        raise UnsupportedOpError("layer", "batchnorm", "computeMeanVar")
    gamma, beta = weights(p.gamma, (c,)).reshape(shape), weights(p.beta, (c,)).reshape(shape)
    mean, var = weights(p.mean, (c,)).reshape(shape), weights(p.variance, (c,)).reshape(shape)
    return (x - mean) / np.sqrt(var + np.float32(p.epsilon)) * gamma + beta


_ACTIVATIONS = {
    "ReLU": lambda a, x: np.maximum(x, 0),
    "leakyReLU": lambda a, x: np.where(x >= 0, x, a.alpha * x),
    "linear": lambda a, x: a.alpha * x + a.beta,
    "sigmoid": lambda a, x: 1 / (1 + np.exp(-x)),
    "tanh": lambda a, x: np.tanh(x),
    "scaledTanh": lambda a, x: a.alpha * np.tanh(a.beta * x),
    "sigmoidHard": lambda a, x: np.clip(a.alpha * x + a.beta, 0, 1),
    "ELU": lambda a, x: np.where(x > 0, x, a.alpha * (np.exp(x) - 1)),
    "thresholdedReLU": lambda a, x: np.where(x > a.alpha, x, 0),
    "softsign": lambda a, x: x / (1 + np.abs(x)),
    "softplus": lambda a, x: np.logaddexp(x, 0),
}


@nn_layer("activation")
def activation(p: Any, inputs: Inputs) -> np.ndarray:
    kind = p.WhichOneof("NonlinearityType")
    x = inputs[0].astype(np.float32)
    if kind == "PReLU":
        alpha = flat_weights(p.PReLU.alpha)
        return np.where(x >= 0, x, x * alpha.reshape(-1, 1, 1))
    if kind not in _ACTIVATIONS:
        raise UnsupportedOpError("layer", f"activation {kind}")
    return np.asarray(_ACTIVATIONS[kind](getattr(p, kind), x), np.float32)


_UNARY = {0: np.sqrt, 4: np.exp, 6: np.abs}  # SQRT, EXP, ABS


@nn_layer("unary")
def unary(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0].astype(np.float32) * np.float32(p.scale if p.scale != 0 else 1) + np.float32(p.shift)
    eps = np.float32(p.epsilon or 1e-6)
    if p.type == 1:  # RSQRT
        return 1 / np.sqrt(x + eps)
    if p.type == 2:  # INVERSE
        return 1 / (x + eps)
    if p.type == 3:  # POWER
        return np.power(x, np.float32(p.alpha))
    if p.type == 5:  # LOG
        return np.log(x + eps)
    if p.type == 7:  # THRESHOLD
        return np.maximum(x, np.float32(p.alpha))
    if p.type in _UNARY:
        return _UNARY[p.type](x)
    raise UnsupportedOpError("layer", "unary", f"type {p.type}")


@nn_layer("clip")
def clip(p: Any, inputs: Inputs) -> np.ndarray:
    return np.clip(inputs[0], np.float32(p.minVal), np.float32(p.maxVal))


@nn_layer("add", "multiply")
def add_multiply(p: Any, inputs: Inputs) -> np.ndarray:
    op = np.add if p.DESCRIPTOR.name == "AddLayerParams" else np.multiply
    if len(inputs) == 1:
        return op(inputs[0], np.float32(p.alpha))
    out = inputs[0]
    for x in inputs[1:]:
        out = op(out, x)
    return out


@nn_layer("max", "min", "average")
def reduce_inputs(p: Any, inputs: Inputs) -> np.ndarray:
    """Elementwise over all inputs (the layer's params name which reduction)."""
    name = p.DESCRIPTOR.name
    if name == "MaxLayerParams":
        return np.maximum.reduce(inputs)
    if name == "MinLayerParams":
        return np.minimum.reduce(inputs)
    return np.mean(np.stack(inputs), axis=0)


_BROADCAST = {
    "addBroadcastable": np.add, "subtractBroadcastable": np.subtract, "multiplyBroadcastable": np.multiply,
    "divideBroadcastable": np.true_divide, "maxBroadcastable": np.maximum, "minBroadcastable": np.minimum,
}


def _broadcast(name: str):  # type: ignore[no-untyped-def]
    def layer(p: Any, inputs: Inputs) -> np.ndarray:
        out = inputs[0]
        for x in inputs[1:]:
            out = _BROADCAST[name](out, x)
        return out

    return layer


for _name in _BROADCAST:
    nn_layer(_name)(_broadcast(_name))


@nn_layer("pooling")
def pooling(p: Any, inputs: Inputs) -> np.ndarray:
    x = _nchw(inputs[0], "pooling")
    kind = {0: "max", 1: "avg"}.get(p.type)
    if kind is None:
        raise UnsupportedOpError("layer", "pooling", "L2")
    if p.globalPooling:
        return x.max(axis=(2, 3), keepdims=True) if kind == "max" else x.mean(axis=(2, 3), keepdims=True)
    if p.WhichOneof("PoolingPaddingType") == "includeLastPixel":
        raise UnsupportedOpError("layer", "pooling", "includeLastPixel padding")
    kernel, strides = tuple(p.kernelSize) or (3, 3), tuple(p.stride) or (1, 1)
    pads = _padding(p, x.shape[2:], kernel, strides, (1, 1))
    return kernels.pool2d(x, kind, kernel, strides, pads, p.avgPoolExcludePadding)


@nn_layer("upsample")
def upsample(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0]
    if len(p.fractionalScalingFactor):
        raise UnsupportedOpError("layer", "upsample", "fractional scaling")
    sh, sw = tuple(p.scalingFactor) or (1, 1)
    size = (x.shape[-2] * sh, x.shape[-1] * sw)
    if p.mode == 0:  # NN
        return kernels.resize_nearest(x, size)
    mode = {0: "DEFAULT", 1: "STRICT_ALIGN_CORNERS", 2: "HALF_PIXEL"}[p.linearUpsampleMode]
    return kernels.resize_bilinear(x, size, mode)


@nn_layer("resizeBilinear")
def resize_bilinear(p: Any, inputs: Inputs) -> np.ndarray:
    modes = {0: "STRICT_ALIGN_CORNERS", 1: "ALIGN_CORNERS", 2: "DEFAULT"}
    if p.mode.samplingMethod not in modes:
        raise UnsupportedOpError("layer", "resizeBilinear", f"sampling method {p.mode.samplingMethod}")
    return kernels.resize_bilinear(inputs[0], tuple(p.targetSize), modes[p.mode.samplingMethod])


@nn_layer("innerProduct")
def inner_product(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0].astype(np.float32)
    w = weights(p.weights, (p.outputChannels, p.inputChannels))
    out = x @ w.T if x.shape[-1] == p.inputChannels else x.reshape(x.shape[0], -1) @ w.T
    return out + weights(p.bias, (p.outputChannels,)) if p.hasBias else out


@nn_layer("batchedMatmul")
def batched_matmul(p: Any, inputs: Inputs) -> np.ndarray:
    a = inputs[0].astype(np.float32)
    a = np.swapaxes(a, -1, -2) if p.transposeA else a
    if len(inputs) == 1:
        w = weights(p.weights, (p.weightMatrixSecondDimension, p.weightMatrixFirstDimension)).T
        out = a @ w
        return out + weights(p.bias, (p.weightMatrixSecondDimension,)) if p.hasBias else out
    b = inputs[1].astype(np.float32)
    return a @ (np.swapaxes(b, -1, -2) if p.transposeB else b)


@nn_layer("softmax")
def softmax(p: Any, inputs: Inputs) -> np.ndarray:
    return _softmax(inputs[0], -3)


@nn_layer("softmaxND")
def softmax_nd(p: Any, inputs: Inputs) -> np.ndarray:
    return _softmax(inputs[0], p.axis)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_REDUCE = {"reduceMean": np.mean, "reduceSum": np.sum, "reduceMax": np.max, "reduceMin": np.min,
           "reduceProd": np.prod}


def _reduce(name: str):  # type: ignore[no-untyped-def]
    def layer(p: Any, inputs: Inputs) -> np.ndarray:
        axes = None if p.reduceAll else tuple(p.axes)
        return _REDUCE[name](inputs[0], axis=axes, keepdims=p.keepDims)

    return layer


for _name in _REDUCE:
    nn_layer(_name)(_reduce(_name))


@nn_layer("loadConstantND")
def load_constant(p: Any, inputs: Inputs) -> np.ndarray:
    return weights(p.data, tuple(p.shape))
