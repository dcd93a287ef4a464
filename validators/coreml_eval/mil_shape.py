"""mlprogram ops that move values without arithmetic: reshapes, transposes,
concatenation, slicing, padding, tiling, gathering."""

from __future__ import annotations

import numpy as np

from posepipe.validators.coreml_eval.errors import UnsupportedOpError
from posepipe.validators.coreml_eval.registry import Call, mil_op


@mil_op("reshape")
def reshape(call: Call) -> np.ndarray:
    x = call["x"]
    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(call.ints("shape"))]  # 0 copies a dimension
    return x.reshape(shape)


@mil_op("transpose")
def transpose(call: Call) -> np.ndarray:
    return np.transpose(call["x"], call.ints("perm"))


@mil_op("squeeze")
def squeeze(call: Call) -> np.ndarray:
    x = call["x"]
    axes = call.ints("axes") if call.get("axes") is not None else tuple(i for i, d in enumerate(x.shape) if d == 1)
    return np.squeeze(x, axis=axes)


@mil_op("expand_dims")
def expand_dims(call: Call) -> np.ndarray:
    x = call["x"]
    rank = x.ndim + len(call.ints("axes"))
    return np.expand_dims(x, tuple(sorted(a % rank for a in call.ints("axes"))))


@mil_op("concat")
def concat(call: Call) -> np.ndarray:
    values, axis = [np.asarray(v) for v in call["values"]], call.scalar("axis")
    if call.scalar("interleave", False):
        stacked = np.stack(values, axis=axis + 1 if axis >= 0 else axis)
        shape = list(values[0].shape)
        shape[axis] *= len(values)
        return stacked.reshape(shape)
    return np.concatenate(values, axis=axis)


@mil_op("stack")
def stack(call: Call) -> np.ndarray:
    return np.stack([np.asarray(v) for v in call["values"]], axis=call.scalar("axis"))


@mil_op("split")
def split(call: Call) -> tuple[np.ndarray, ...]:
    x, axis = call["x"], call.scalar("axis")
    if call.get("split_sizes") is not None:
        edges = np.cumsum(call.ints("split_sizes"))[:-1]
        return tuple(np.split(x, edges, axis=axis))
    return tuple(np.split(x, call.scalar("num_splits"), axis=axis))


@mil_op("tile")
def tile(call: Call) -> np.ndarray:
    return np.tile(call["x"], call.ints("reps"))


@mil_op("slice_by_size")
def slice_by_size(call: Call) -> np.ndarray:
    x = call["x"]
    index = tuple(slice(b, None if s == -1 else b + s)
                  for b, s in zip(call.ints("begin"), call.ints("size"), strict=True))
    return x[index]


@mil_op("slice_by_index")
def slice_by_index(call: Call) -> np.ndarray:
    x = call["x"]
    rank = x.ndim
    begin, end = call.ints("begin"), call.ints("end")
    stride = call.ints("stride", (1,) * rank)
    begin_mask = call.ints("begin_mask", (False,) * rank)
    end_mask = call.ints("end_mask", (False,) * rank)
    squeeze_mask = call.ints("squeeze_mask", (False,) * rank)
    index: list[slice | int] = []
    for i in range(rank):
        if squeeze_mask[i]:
            index.append(begin[i])
            continue
        index.append(slice(None if begin_mask[i] else begin[i], None if end_mask[i] else end[i], stride[i]))
    return x[tuple(index)]


@mil_op("pad")
def pad(call: Call) -> np.ndarray:
    x, amounts = call["x"], call.ints("pad")
    k = len(amounts) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(amounts[2 * i], amounts[2 * i + 1]) for i in range(k)]
    mode = call.scalar("mode", "constant")
    if mode == "constant":
        return np.pad(x, widths, constant_values=x.dtype.type(call.scalar("constant_val", 0.0)))
    if mode in ("reflect", "replicate"):
        return np.pad(x, widths, mode="reflect" if mode == "reflect" else "edge")
    raise UnsupportedOpError("op", "pad", f"mode {mode!r}")


@mil_op("gather")
def gather(call: Call) -> np.ndarray:
    if call.scalar("batch_dims", 0):
        raise UnsupportedOpError("op", "gather", "batch_dims > 0")
    x, indices, axis = call["x"], np.asarray(call["indices"]), call.scalar("axis", 0)
    return np.take(x, np.where(indices < 0, indices + x.shape[axis], indices), axis=axis)


@mil_op("shape")
def shape(call: Call) -> np.ndarray:
    return np.asarray(np.shape(call["x"]), np.int32)


@mil_op("flatten2d")
def flatten2d(call: Call) -> np.ndarray:
    x, axis = call["x"], call.scalar("axis", 1)
    axis %= x.ndim
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@mil_op("depth_to_space")
def depth_to_space(call: Call) -> np.ndarray:
    x, b = call["x"], call.scalar("block_size")
    n, c, h, w = x.shape
    y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // (b * b), h * b, w * b)


@mil_op("space_to_depth")
def space_to_depth(call: Call) -> np.ndarray:
    x, b = call["x"], call.scalar("block_size")
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)
