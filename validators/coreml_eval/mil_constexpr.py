"""The constexpr ops compressed weights are stored as (iOS16 and iOS18 forms):
affine dequantisation, block-wise shift and scale, palettes (LUT) and sparse
masks. Decoded here from the stored integers, so a fault in how the artifact
stores them is a fault the comparison sees."""

from __future__ import annotations

import numpy as np

from posepipe.validators.coreml_eval.errors import UnsupportedOpError
from posepipe.validators.coreml_eval.registry import Call, mil_op


def _unpack_bits(packed: np.ndarray, nbits: int, count: int) -> np.ndarray:
    """iOS16 packing: values of ``nbits`` bits, least significant bit first,
    one byte after another."""
    bits = np.unpackbits(packed.astype(np.uint8), bitorder="little")[: count * nbits]
    weights = (1 << np.arange(nbits)).astype(np.int64)
    return bits.reshape(count, nbits).astype(np.int64) @ weights


def _along(values: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A scalar or per-channel vector shaped to broadcast along ``axis``."""
    if values.ndim == 0:
        return values
    shape = [1] * rank
    shape[axis] = -1
    return values.reshape(shape)


@mil_op("constexpr_affine_dequantize")
def affine_dequantize(call: Call) -> np.ndarray:
    data, scale = call["quantized_data"], np.asarray(call["scale"])
    axis = call.scalar("axis") % data.ndim
    zero_point = _along(np.asarray(call["zero_point"]).astype(np.float32), data.ndim, axis)
    out = (data.astype(np.float32) - zero_point) * _along(scale.astype(np.float32), data.ndim, axis)
    return out.astype(scale.dtype)


def _blockwise(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One value per block -> one per element (block sizes = shape / values.shape)."""
    for axis, (n, m) in enumerate(zip(shape, values.shape, strict=True)):
        if n != m:
            values = np.repeat(values, n // m, axis=axis)
    return values


@mil_op("constexpr_blockwise_shift_scale")
def blockwise_shift_scale(call: Call) -> np.ndarray:
    data, scale = np.asarray(call["data"]), np.asarray(call["scale"])
    out = data.astype(np.float32)
    if call.get("offset") is not None:
        out = out - _blockwise(np.asarray(call["offset"]).astype(np.float32), data.shape)
    return (out * _blockwise(scale.astype(np.float32), data.shape)).astype(scale.dtype)


@mil_op("constexpr_lut_to_dense")
def lut_to_dense(call: Call) -> np.ndarray:
    lut, indices = np.asarray(call["lut"]), np.asarray(call["indices"])
    if call.get("shape") is not None:  # iOS16: one palette, indices packed in bytes
        shape = call.ints("shape")
        nbits = int(np.log2(lut.size))
        return lut[_unpack_bits(indices, nbits, int(np.prod(shape)))].reshape(shape)
    if lut.shape[-1] != 1:  # iOS18 vector palettes
        raise UnsupportedOpError("op", "constexpr_lut_to_dense", "vector palettization")
    tables = _blockwise(lut[..., 0], (*indices.shape, lut.shape[-2]))  # [..., palette] per element
    return np.take_along_axis(tables, indices.astype(np.int64)[..., None], axis=-1)[..., 0]


@mil_op("constexpr_sparse_to_dense")
def sparse_to_dense(call: Call) -> np.ndarray:
    data, mask = np.asarray(call["nonzero_data"]), np.asarray(call["mask"])
    if call.get("shape") is not None:  # iOS16: a bit mask packed in bytes
        shape = call.ints("shape")
        mask = _unpack_bits(mask, 1, int(np.prod(shape))).reshape(shape)
    out = np.zeros(mask.shape, data.dtype)
    out[mask != 0] = data
    return out


@mil_op("constexpr_cast")
def constexpr_cast(call: Call) -> np.ndarray:
    return np.asarray(call["source_val"]).astype(np.float32)
