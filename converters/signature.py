"""An artifact's inputs and outputs as read back from the written file: what the
converters report, the metadata describes and the runners feed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: tuple[float, int] | None = None  # (scale, zero point) of an integer tensor

    def to_json(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.quantization:
            info["quantization"] = {"scale": self.quantization[0], "zero_point": self.quantization[1]}
        return info


@dataclass(frozen=True)
class Signature:
    """An artifact's inputs and outputs, read back from the written file."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
