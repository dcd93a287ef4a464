"""NumPy kernels on NCHW tensors, shared by the mlprogram ops and the
neuralnetwork layers (both formats lay images out as [N, C, H, W]).

Sums accumulate in float32 (float64 inputs stay float64); callers round the
result to the dtype their program declares.
"""

from __future__ import annotations

import math

import numpy as np

Pads = tuple[int, int, int, int]  # top, bottom, left, right
SAMPLING_MODES = ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS", "UNALIGN_CORNERS", "HALF_PIXEL")


def wide(x: np.ndarray) -> np.ndarray:
    """``x`` in the precision sums accumulate in: float32 for float16 and below."""
    return x.astype(np.float32) if x.dtype.itemsize < 4 or x.dtype.kind != "f" else x


def same_pads(size: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
              dilations: tuple[int, int], lower: bool = False) -> Pads:
    """TensorFlow's "same": output = ceil(input / stride), the odd pixel of padding
    after (or before, for Core ML's ``same_lower``)."""
    pads = []
    for n, k, s, d in zip(size, kernel, strides, dilations, strict=True):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        before = (total + 1) // 2 if lower else total // 2
        pads += [before, total - before]
    return pads[0], pads[1], pads[2], pads[3]


def pad2d(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    top, bottom, left, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], dilations: tuple[int, int]):  # type: ignore[no-untyped-def]
    """Yield ``(i, j, view)``: for each kernel tap, the strided [N, C, Ho, Wo] view
    of the (already padded) input it multiplies."""
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    ho = (x.shape[2] - (kh - 1) * dh - 1) // sh + 1
    wo = (x.shape[3] - (kw - 1) * dw - 1) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, strides: tuple[int, int],
           pads: Pads, dilations: tuple[int, int], groups: int) -> np.ndarray:
    """Grouped 2-D convolution; ``weight`` is [C_out, C_in / groups, kH, kW]."""
    x, weight = wide(pad2d(x, pads)), wide(weight)
    cin, cout = x.shape[1], weight.shape[0]
    kernel = (weight.shape[2], weight.shape[3])
    if groups == cin == cout and weight.shape[1] == 1:  # depthwise: one multiply-add per tap
        out = None
        for i, j, view in windows(x, kernel, strides, dilations):
            term = view * weight[None, :, 0, i, j, None, None]
            out = term if out is None else out + term
    else:
        per_in, per_out = cin // groups, cout // groups
        parts = []
        for g in range(groups):
            xg = x[:, g * per_in:(g + 1) * per_in]
            wg = weight[g * per_out:(g + 1) * per_out]
            part = None
            for i, j, view in windows(xg, kernel, strides, dilations):
                term = np.einsum("oc,nchw->nohw", wg[:, :, i, j], view, optimize=True)
                part = term if part is None else part + term
            parts.append(part)
        out = parts[0] if groups == 1 else np.concatenate(parts, axis=1)
    assert out is not None
    return out if bias is None else out + wide(bias).reshape(1, -1, 1, 1)


def conv_transpose2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, strides: tuple[int, int],
                     crop: Pads, dilations: tuple[int, int], groups: int) -> np.ndarray:
    """Transposed convolution; ``weight`` is [C_in, C_out / groups, kH, kW]. Every
    input pixel scatters its kernel into the full output, which is then cropped."""
    x, weight = wide(x), wide(weight)
    n, cin, h, w = x.shape
    per_in, per_out = cin // groups, weight.shape[1]
    kh, kw = weight.shape[2], weight.shape[3]
    (sh, sw), (dh, dw) = strides, dilations
    full = np.zeros((n, per_out * groups, (h - 1) * sh + (kh - 1) * dh + 1, (w - 1) * sw + (kw - 1) * dw + 1), x.dtype)
    for g in range(groups):
        xg = x[:, g * per_in:(g + 1) * per_in]
        for i in range(kh):
            for j in range(kw):
                term = np.einsum("co,nchw->nohw", weight[g * per_in:(g + 1) * per_in, :, i, j], xg, optimize=True)
                full[:, g * per_out:(g + 1) * per_out,
                     i * dh: i * dh + sh * (h - 1) + 1: sh, j * dw: j * dw + sw * (w - 1) + 1: sw] += term
    top, bottom, left, right = crop
    out = full[:, :, top: full.shape[2] - bottom, left: full.shape[3] - right]
    return out if bias is None else out + wide(bias).reshape(1, -1, 1, 1)


def pool2d(x: np.ndarray, kind: str, kernel: tuple[int, int], strides: tuple[int, int], pads: Pads,
           exclude_padding: bool) -> np.ndarray:
    """Max or average pooling. Padding never wins a max; an average divides by the
    taps inside the image when ``exclude_padding``, else by the kernel size."""
    ones = (1, 1)
    if kind == "max":
        padded = pad2d(x, pads, -np.inf)
        return np.maximum.reduce([v for _, _, v in windows(padded, kernel, strides, ones)])
    total = sum(v for _, _, v in windows(wide(pad2d(x, pads)), kernel, strides, ones))
    if exclude_padding and any(pads):
        inside = pad2d(np.ones((1, 1, *x.shape[2:]), np.float32), pads)
        count = sum(v for _, _, v in windows(inside, kernel, strides, ones))
        return total / count
    return total / (kernel[0] * kernel[1])


def source_coordinates(out_size: int, in_size: int, mode: str) -> np.ndarray:
    """Where each output pixel samples the input, in input pixels (MIL's
    ``sampling_mode`` names, plus TensorFlow's ``HALF_PIXEL``)."""
    i = np.arange(out_size, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if out_size == 1:
            grid = np.full(1, 0.0 if mode == "STRICT_ALIGN_CORNERS" else (in_size - 1) / 2)
        else:
            grid = i * (in_size - 1) / (out_size - 1)
    elif mode == "DEFAULT":
        grid = i * in_size / out_size
    elif mode == "OFFSET_CORNERS":
        delta = max(1, in_size - 1) / out_size
        grid = 0.5 * delta + i * delta
    elif mode in ("UNALIGN_CORNERS", "HALF_PIXEL"):
        grid = (i + 0.5) * in_size / out_size - 0.5
    else:
        raise ValueError(mode)
    return np.clip(grid, 0, in_size - 1)


def resize_bilinear(x: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Separable linear interpolation over the last two axes."""
    out = wide(x)
    for axis, n in ((-2, size[0]), (-1, size[1])):
        grid = source_coordinates(n, out.shape[axis], mode)
        low = np.floor(grid).astype(np.int64)
        high = np.minimum(low + 1, out.shape[axis] - 1)
        frac = (grid - low).astype(out.dtype)
        shape = [1] * out.ndim
        shape[axis] = n
        frac = frac.reshape(shape)
        out = np.take(out, low, axis=axis) * (1 - frac) + np.take(out, high, axis=axis) * frac
    return out


def resize_nearest(x: np.ndarray, size: tuple[int, int], scales: tuple[float, float] | None = None) -> np.ndarray:
    """Nearest neighbour over the last two axes: output pixel i reads
    floor(i / scale), the scale being output / input unless given."""
    out = x
    for k, (axis, n) in enumerate(((-2, size[0]), (-1, size[1]))):
        scale = scales[k] if scales else n / out.shape[axis]
        index = np.minimum(np.floor(np.arange(n) / scale).astype(np.int64), out.shape[axis] - 1)
        out = np.take(out, index, axis=axis)
    return out
