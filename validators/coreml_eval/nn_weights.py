"""NeuralNetwork.proto ``WeightParams``: float32, float16, or n-bit quantized
(linear per channel or a lookup table), decoded from the stored bytes."""

from __future__ import annotations

from typing import Any

import numpy as np

from posepipe.validators.coreml_eval.errors import UnsupportedOpError


def weights(params: Any, shape: tuple[int, ...], channel_axis: int = 0) -> np.ndarray:
    """The dense float32 tensor ``params`` stores, in ``shape``; linear quantization
    scales run along ``channel_axis`` (the output channels)."""
    if len(params.floatValue):
        values = np.asarray(params.floatValue, np.float32)
    elif len(params.float16Value):
        values = np.frombuffer(params.float16Value, np.float16).astype(np.float32)
    elif len(params.rawValue):
        values = _quantized(params, shape, channel_axis)
    else:
        values = np.zeros(0, np.float32)
    if values.size != int(np.prod(shape)):
        raise UnsupportedOpError("weights", "WeightParams", f"{values.size} values for shape {shape}")
    return values.reshape(shape)


def flat_weights(params: Any) -> np.ndarray:
    """A float vector of whatever length ``params`` stores (float32 or float16)."""
    if len(params.float16Value):
        return np.frombuffer(params.float16Value, np.float16).astype(np.float32)
    return np.asarray(params.floatValue, np.float32)


def _quantized(params: Any, shape: tuple[int, ...], channel_axis: int) -> np.ndarray:
    q = params.quantization
    nbits, count = q.numberOfBits, int(np.prod(shape))
    if not 1 <= nbits <= 8:
        raise UnsupportedOpError("weights", "rawValue", f"{nbits}-bit")
    raw = np.frombuffer(params.rawValue, np.uint8)
    if nbits == 8:
        codes = raw[:count].astype(np.int64)
    else:  # most significant bit first, byte after byte
        bits = np.unpackbits(raw)[: count * nbits].reshape(count, nbits).astype(np.int64)
        codes = bits @ (1 << np.arange(nbits - 1, -1, -1))
    kind = q.WhichOneof("QuantizationType")
    if kind == "lookupTableQuantization":
        return np.asarray(q.lookupTableQuantization.floatValue, np.float32)[codes]
    if kind != "linearQuantization":
        raise UnsupportedOpError("weights", "quantization", str(kind))
    scale = np.asarray(q.linearQuantization.scale, np.float32)
    bias = np.asarray(q.linearQuantization.bias, np.float32)
    grid = codes.reshape(shape).astype(np.float32)
    along = [1] * len(shape)
    along[channel_axis] = -1
    scale = scale.reshape(along) if scale.size > 1 else scale
    bias = bias.reshape(along) if bias.size > 1 else bias
    return (grid * scale + bias).reshape(-1)
