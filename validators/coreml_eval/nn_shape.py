"""neuralnetwork layers that move values: ND reshapes and transposes, the
rank-5-era ``permute``/``reshape``/``flatten``/``concat``, slices and pads."""

from __future__ import annotations

from typing import Any

import numpy as np

from posepipe.validators.coreml_eval.errors import UnsupportedOpError
from posepipe.validators.coreml_eval.registry import nn_layer

Inputs = list[np.ndarray]


@nn_layer("transpose")
def transpose(p: Any, inputs: Inputs) -> np.ndarray:
    return np.transpose(inputs[0], tuple(p.axes))


@nn_layer("permute")
def permute(p: Any, inputs: Inputs) -> np.ndarray:
    """Axes of [Seq, C, H, W] (Seq being the batch here)."""
    x = inputs[0]
    lead = x.ndim - 4
    return np.transpose(x, (*range(lead), *(lead + a for a in p.axis)))


@nn_layer("expandDims")
def expand_dims(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0]
    rank = x.ndim + len(p.axes)
    return np.expand_dims(x, tuple(sorted(a % rank for a in p.axes)))


@nn_layer("squeeze")
def squeeze(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0]
    if p.squeezeAll or not len(p.axes):
        return np.squeeze(x)
    return np.squeeze(x, axis=tuple(p.axes))


@nn_layer("tile")
def tile(p: Any, inputs: Inputs) -> np.ndarray:
    return np.tile(inputs[0], tuple(p.reps))


@nn_layer("reshapeStatic")
def reshape_static(p: Any, inputs: Inputs) -> np.ndarray:
    return inputs[0].reshape(tuple(p.targetShape))


@nn_layer("flattenTo2D")
def flatten_to_2d(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0]
    axis = p.axis % x.ndim if x.ndim else 0
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@nn_layer("flatten")
def flatten(p: Any, inputs: Inputs) -> np.ndarray:
    """[N, C, H, W] -> [N, C*H*W, 1, 1], in channel-first or channel-last order."""
    x = inputs[0]
    if p.mode == 1:  # CHANNEL_LAST
        x = np.moveaxis(x, -3, -1)
    return x.reshape(*x.shape[:-3], -1, 1, 1)


@nn_layer("reshape")
def reshape(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0]
    if p.mode != 0:
        raise UnsupportedOpError("layer", "reshape", "CHANNEL_LAST mode")
    target = tuple(p.targetShape)[-3:]
    return x.reshape(*x.shape[:-3], *target)


@nn_layer("concat")
def concat(p: Any, inputs: Inputs) -> np.ndarray:
    if p.sequenceConcat:
        raise UnsupportedOpError("layer", "concat", "sequenceConcat")
    return np.concatenate(inputs, axis=-3)


@nn_layer("concatND")
def concat_nd(p: Any, inputs: Inputs) -> np.ndarray:
    if p.interleave:
        stacked = np.stack(inputs, axis=p.axis + 1 if p.axis >= 0 else p.axis)
        shape = list(inputs[0].shape)
        shape[p.axis] *= len(inputs)
        return stacked.reshape(shape)
    return np.concatenate(inputs, axis=p.axis)


@nn_layer("splitND")
def split_nd(p: Any, inputs: Inputs) -> tuple[np.ndarray, ...]:
    x = inputs[0]
    if len(p.splitSizes):
        return tuple(np.split(x, np.cumsum(tuple(p.splitSizes))[:-1], axis=p.axis))
    return tuple(np.split(x, p.numSplits, axis=p.axis))


@nn_layer("sliceStatic")
def slice_static(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0]
    index: list[slice | int] = []
    for i in range(x.ndim):
        begin = None if p.beginMasks[i] else p.beginIds[i]
        end = None if p.endMasks[i] else p.endIds[i]
        if len(p.squeezeMasks) and p.squeezeMasks[i]:
            index.append(p.beginIds[i])
        else:
            index.append(slice(begin, end, p.strides[i]))
    return x[tuple(index)]


@nn_layer("constantPad")
def constant_pad(p: Any, inputs: Inputs) -> np.ndarray:
    x, amounts = inputs[0], tuple(p.padAmounts)
    if p.padToGivenOutputSizeMode:
        raise UnsupportedOpError("layer", "constantPad", "padToGivenOutputSizeMode")
    k = len(amounts) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(amounts[2 * i], amounts[2 * i + 1]) for i in range(k)]
    return np.pad(x, widths, constant_values=np.float32(p.value))


@nn_layer("padding")
def padding(p: Any, inputs: Inputs) -> np.ndarray:
    x = inputs[0]
    amounts = list(p.paddingAmounts.borderAmounts)
    (top, bottom), (left, right) = ((a.startEdgeSize, a.endEdgeSize) for a in amounts) if amounts else ((0, 0), (0, 0))
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    kind = p.WhichOneof("PaddingType")
    if kind == "constant":
        return np.pad(x, widths, constant_values=np.float32(p.constant.value))
    if kind in ("reflection", "replication"):
        return np.pad(x, widths, mode="reflect" if kind == "reflection" else "edge")
    raise UnsupportedOpError("layer", "padding", str(kind))
