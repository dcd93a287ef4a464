"""The small choices and records a spec file's tables are read into."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from posepipe.models.spec import Activation, OutputKind


class Color(StrEnum):
    RGB = "RGB"
    BGR = "BGR"


class Layout(StrEnum):
    """Channels last, as Keras and posepipe's converters and decoders take them."""

    NHWC = "NHWC"


@dataclass(frozen=True)
class OutputEntry:
    name: str
    kind: OutputKind
    stride: int | None
    activation: Activation = Activation.NONE  # what the values are (models/spec.py)
