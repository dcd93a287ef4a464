"""mlprogram ops with weights or windows: convolutions, dense layers, batch
norm, pooling, reductions, resizing. Images are [N, C, H, W], as in MIL."""

from __future__ import annotations

import numpy as np

from posepipe.validators.coreml_eval import kernels
from posepipe.validators.coreml_eval.errors import UnsupportedOpError
from posepipe.validators.coreml_eval.kernels import Pads, wide
from posepipe.validators.coreml_eval.registry import Call, mil_op


def _spatial(x: np.ndarray, call: Call) -> None:
    if x.ndim != 4:
        raise UnsupportedOpError("op", call.op_type, f"rank {x.ndim}; only 2-D spatial (rank 4) is implemented")


def _pads(call: Call, size: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
          dilations: tuple[int, int]) -> Pads:
    pad_type = call.scalar("pad_type", "valid")
    if pad_type == "valid":
        return 0, 0, 0, 0
    if pad_type in ("same", "same_lower"):
        return kernels.same_pads(size, kernel, strides, dilations, lower=pad_type == "same_lower")
    if pad_type == "custom":
        top, bottom, left, right = call.ints("pad", (0, 0, 0, 0))
        return top, bottom, left, right
    raise UnsupportedOpError("op", call.op_type, f"pad_type {pad_type!r}")


@mil_op("conv")
def conv(call: Call) -> np.ndarray:
    x, weight = call["x"], call["weight"]
    _spatial(x, call)
    kernel = (weight.shape[2], weight.shape[3])
    strides, dilations = call.ints("strides", (1, 1)), call.ints("dilations", (1, 1))
    pads = _pads(call, x.shape[2:], kernel, strides, dilations)
    return kernels.conv2d(x, weight, call.get("bias"), strides, pads, dilations, call.scalar("groups", 1))


@mil_op("conv_transpose")
def conv_transpose(call: Call) -> np.ndarray:
    x, weight = call["x"], call["weight"]
    _spatial(x, call)
    strides, dilations = call.ints("strides", (1, 1)), call.ints("dilations", (1, 1))
    groups = call.scalar("groups", 1)
    (h, w), (kh, kw) = x.shape[2:], weight.shape[2:]
    full = [(h - 1) * strides[0] + (kh - 1) * dilations[0] + 1, (w - 1) * strides[1] + (kw - 1) * dilations[1] + 1]
    pad_type = call.scalar("pad_type", "valid")
    if call.get("output_shape") is not None:
        target = call.ints("output_shape")[-2:]
    elif pad_type in ("same", "same_lower"):
        target = (h * strides[0], w * strides[1])
    elif pad_type == "custom":
        top, bottom, left, right = call.ints("pad", (0, 0, 0, 0))
        return kernels.conv_transpose2d(x, weight, call.get("bias"), strides, (top, bottom, left, right),
                                        dilations, groups)
    else:
        target = tuple(full)
    crops = []
    for size, want in zip(full, target, strict=True):
        total = max(size - want, 0)
        before = (total + 1) // 2 if pad_type == "same_lower" else total // 2
        crops += [before, total - before]
    return kernels.conv_transpose2d(x, weight, call.get("bias"), strides, tuple(crops), dilations, groups)  # type: ignore[arg-type]


@mil_op("linear")
def linear(call: Call) -> np.ndarray:
    out = wide(call["x"]) @ wide(call["weight"]).T
    return out if call.get("bias") is None else out + wide(call["bias"])


@mil_op("matmul")
def matmul(call: Call) -> np.ndarray:
    x, y = wide(call["x"]), wide(call["y"])
    if call.scalar("transpose_x", False):
        x = np.swapaxes(x, -1, -2)
    if call.scalar("transpose_y", False):
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


@mil_op("batch_norm")
def batch_norm(call: Call) -> np.ndarray:
    x = wide(call["x"])
    shape = (1, -1, *([1] * (x.ndim - 2)))

    def channel(key: str, default: float) -> np.ndarray:
        value = call.get(key)
        return np.asarray(default if value is None else wide(np.asarray(value)), x.dtype).reshape(shape)

    scale = channel("gamma", 1.0) / np.sqrt(channel("variance", 1.0) + x.dtype.type(call.scalar("epsilon", 1e-5)))
    return (x - channel("mean", 0.0)) * scale + channel("beta", 0.0)


@mil_op("instance_norm")
def instance_norm(call: Call) -> np.ndarray:
    x = wide(call["x"])
    axes = tuple(range(2, x.ndim))
    normed = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + call.scalar("epsilon", 1e-5))
    shape = (1, -1, *([1] * (x.ndim - 2)))
    gamma, beta = call.get("gamma"), call.get("beta")
    scaled = normed * (1 if gamma is None else wide(gamma).reshape(shape))
    return scaled + (0 if beta is None else wide(beta).reshape(shape))


@mil_op("layer_norm")
def layer_norm(call: Call) -> np.ndarray:
    x = wide(call["x"])
    axes = call.ints("axes") if call.get("axes") is not None else tuple(range(x.ndim))
    normed = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + call.scalar("epsilon", 1e-5))
    gamma, beta = call.get("gamma"), call.get("beta")
    return normed * (1 if gamma is None else wide(gamma)) + (0 if beta is None else wide(beta))


@mil_op("max_pool", "avg_pool")
def pool(call: Call) -> np.ndarray:
    x = call["x"]
    _spatial(x, call)
    if call.scalar("ceil_mode", False):
        raise UnsupportedOpError("op", call.op_type, "ceil_mode=True")
    kernel, strides = call.ints("kernel_sizes"), call.ints("strides", (1, 1))
    pads = _pads(call, x.shape[2:], kernel, strides, (1, 1))
    exclude = call.scalar("exclude_padding_from_average", False)
    return kernels.pool2d(x, call.op_type[:3], kernel, strides, pads, exclude)


_REDUCTIONS = {"reduce_mean": np.mean, "reduce_sum": np.sum, "reduce_max": np.max, "reduce_min": np.min,
               "reduce_prod": np.prod}


@mil_op(*_REDUCTIONS)
def reduce(call: Call) -> np.ndarray:
    x = call["x"]
    axes = call.ints("axes") if call.get("axes") is not None else None
    data = x if call.op_type in ("reduce_max", "reduce_min") else wide(x)
    return _REDUCTIONS[call.op_type](data, axis=axes, keepdims=bool(call.scalar("keep_dims", False)))


@mil_op("reduce_argmax", "reduce_argmin")
def reduce_arg(call: Call) -> np.ndarray:
    pick = np.argmax if call.op_type == "reduce_argmax" else np.argmin
    out = pick(call["x"], axis=call.scalar("axis", -1))
    return np.expand_dims(out, call.scalar("axis", -1)) if call.scalar("keep_dims", False) else out


@mil_op("upsample_nearest_neighbor")
def upsample_nearest(call: Call) -> np.ndarray:
    x = call["x"]
    sh, sw = float(call.scalar("scale_factor_height", 1)), float(call.scalar("scale_factor_width", 1))
    size = (int(np.floor(x.shape[-2] * sh)), int(np.floor(x.shape[-1] * sw)))
    return kernels.resize_nearest(x, size, (sh, sw))


@mil_op("resize_nearest_neighbor")
def resize_nearest(call: Call) -> np.ndarray:
    size = (call.scalar("target_size_height", 1), call.scalar("target_size_width", 1))
    return kernels.resize_nearest(call["x"], size)


@mil_op("upsample_bilinear")
def upsample_bilinear(call: Call) -> np.ndarray:
    x = call["x"]
    sh, sw = float(call.scalar("scale_factor_height", 1)), float(call.scalar("scale_factor_width", 1))
    size = (int(np.floor(x.shape[-2] * sh)), int(np.floor(x.shape[-1] * sw)))
    align = bool(call.scalar("align_corners", True))
    half_pixel = bool(call.scalar("half_pixel_centers", not align))  # iOS15 has no such input: !align_corners
    mode = "STRICT_ALIGN_CORNERS" if align else "HALF_PIXEL" if half_pixel else "DEFAULT"
    return kernels.resize_bilinear(x, size, mode)


@mil_op("resize_bilinear")
def resize_bilinear(call: Call) -> np.ndarray:
    size = (call.scalar("target_size_height", 1), call.scalar("target_size_width", 1))
    mode = call.scalar("sampling_mode", "DEFAULT")
    if mode not in kernels.SAMPLING_MODES:
        raise UnsupportedOpError("op", call.op_type, f"sampling_mode {mode!r}")
    return kernels.resize_bilinear(call["x"], size, mode)
