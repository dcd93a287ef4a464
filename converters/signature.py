"""An artifact's inputs and outputs as read back from the written file: what the
converters report, the metadata describes and the runners feed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageFormat:
    """An input that takes a picture, not a tensor (a Core ML image): 8-bit pixels
    in ``color`` order, which the file itself turns into the model's input as
    ``pixel * scale + bias[channel]``. Read back from the file, so an app reads
    the normalisation the file really applies."""

    color: str  # the channel order the file reads the picture in: RGB or BGR
    scale: float
    bias: tuple[float, ...]  # per channel, in ``color`` order

    def to_json(self) -> dict[str, Any]:
        return {"color": self.color, "scale": self.scale, "bias": list(self.bias)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImageFormat:
        return cls(d["color"], float(d["scale"]), tuple(float(b) for b in d["bias"]))


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: tuple[float, int] | None = None  # (scale, zero point) of an integer tensor
    image: ImageFormat | None = None  # an image input: the file takes pixels and normalises them itself

    def to_json(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.quantization:
            info["quantization"] = {"scale": self.quantization[0], "zero_point": self.quantization[1]}
        if self.image:
            info["image"] = self.image.to_json()
        return info


@dataclass(frozen=True)
class Signature:
    """An artifact's inputs and outputs, read back from the written file."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
