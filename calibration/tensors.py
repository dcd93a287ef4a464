"""The tensor a file expects from camera pixels: one function, used wherever a
file's input is made from pixels (the runners' integer inputs, ``posepipe
predict``, the preprocessing contract), so what the contract's sha256 says a
file takes is what posepipe feeds it.

A file's input is one of three kinds, read from its input tensor (the
``TensorInfo`` of converters/signature.py, read back from the written file):

- pixels: the uint8 RGB crop itself, for an image input (a Core ML picture,
  which normalises inside the file) and for a uint8 input with no scale and
  zero point (an app file: the normalisation is in its graph);
- quantized: an integer input with a scale and zero point (an int8 file's)
  takes the normalised crop quantized with them: q = clip(round(x / scale +
  zero_point)), in float32, rounding half to even (NumPy's, what the LiteRT
  runner feeds);
- float: the normalised crop, ``(pixel - mean) / std`` in float32.

A tensor's digest is the sha256 of its C-order bytes, batch dimension included.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from posepipe.models.spec import InputSpec


class InputTensor(Protocol):
    """What the function reads of a file's input (converters/signature.py ``TensorInfo`` has it)."""

    @property
    def dtype(self) -> str: ...

    @property
    def quantization(self) -> tuple[float, int] | None: ...

    @property
    def image(self) -> Any: ...


class InputKind(StrEnum):
    PIXELS = "uint8 pixels"
    QUANTIZED = "quantized"
    FLOAT = "float normalised"


def input_kind(tensor: InputTensor) -> InputKind:
    if tensor.image is not None or (np.dtype(tensor.dtype) == np.uint8 and tensor.quantization is None):
        return InputKind.PIXELS
    if np.dtype(tensor.dtype).kind in "iu":
        return InputKind.QUANTIZED
    return InputKind.FLOAT


def file_input(pixels: np.ndarray, spec: InputSpec, tensor: InputTensor) -> np.ndarray:
    """uint8 RGB ``pixels`` [..., H, W, 3] -> what the file takes for them."""
    if input_kind(tensor) is InputKind.PIXELS:
        return np.asarray(pixels, np.uint8)
    return to_tensor(spec.normalise(pixels), tensor.dtype, tensor.quantization)


def to_tensor(normalised: np.ndarray, dtype: Any, quantization: tuple[float, int] | None) -> np.ndarray:
    """A normalised input in the file's dtype: floats cast, integers quantized
    with the file's (scale, zero point). A value already in the file's dtype
    (the pixels of a uint8 input) goes in as it is."""
    dtype = np.dtype(dtype)
    if normalised.dtype == dtype:
        return normalised
    if dtype.kind == "f":
        return normalised.astype(dtype)
    if quantization is None:
        raise ValueError(f"an integer input ({dtype}) without a scale and zero point cannot take a normalised tensor")
    scale, zero_point = quantization
    info = np.iinfo(dtype)
    return np.clip(np.round(normalised / scale + zero_point), info.min, info.max).astype(dtype)


def tensor_sha256(tensor: np.ndarray) -> str:
    """The digest of a tensor's C-order bytes (its dtype's, little-endian on every host posepipe runs on)."""
    return hashlib.sha256(np.ascontiguousarray(tensor).tobytes()).hexdigest()
