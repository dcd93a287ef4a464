"""What every converter takes and gives back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from posepipe.converters.metadata import ArtifactMetadata, Embedded
from posepipe.converters.recipe import Recipe
from posepipe.converters.sensitivity import Sensitivity
from posepipe.converters.signature import Signature
from posepipe.models.errors import PosepipeError
from posepipe.models.formats import Format, Precision, Variant
from posepipe.models.spec import ModelSpec

if TYPE_CHECKING:
    import keras

    from posepipe.converters.metadata import ArtifactMetadata, Embedded


class ConversionError(PosepipeError):
    """A converter failed, or was asked for something it cannot make."""

    exit_code = 9


@dataclass(frozen=True)
class ConversionRequest:
    """A trained Keras model and what the artifact must be.

    The model is the checkpoint as trained; converters fix the batch to 1 (what a
    phone runs) and take input/output names from the spec. ``calibration`` feeds
    every quantizer that measures activations; ``recipe`` holds the settings.
    """

    model: keras.Model
    spec: ModelSpec
    input_size: tuple[int, int]
    precision: Precision
    calibration: Iterable[dict[str, np.ndarray]] | None = None
    recipe: Recipe = field(default_factory=Recipe)
    source: Path | None = None  # the file a derived format is made from (an .ort from its passed .onnx)
    # An app or keypoints file: ``model`` is then that variant's graph (models/app.py), already on a batch of
    # one, taking uint8 pixels; ``calibration`` yields pixels too.
    variant: Variant = Variant.TENSOR

    def calibration_data(self) -> Iterable[dict[str, np.ndarray]]:
        if self.calibration is None:
            raise ConversionError(f"{self.precision} needs a calibration set and none was given")
        return self.calibration

    @property
    def input_dtype(self) -> str:
        """What the file takes: uint8 pixels for an app or keypoints file, else the normalised float32 tensor."""
        return "uint8" if self.variant.takes_pixels else "float32"

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, *self.input_size, 3)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The model's own output names: a config may deploy fewer outputs than the
        spec lists (``ModelSpec.outputs_for``), and the checkpoint was checked against those."""
        return tuple(sorted(self.model.output))

    @property
    def output_order(self) -> tuple[str, ...]:
        """The model's outputs in the order its spec declares them: every file lists
        them so by index (a published model's order, which apps index by), not as
        the converter happened to. A keypoints file's outputs come in its decoder's order
        (keypoints or peaks first)."""
        if self.variant is Variant.KEYPOINTS:
            return tuple(self.model.output)
        declared = [o.name for o in self.spec.outputs if o.name in self.model.output]
        return tuple(declared + [n for n in self.output_names if n not in declared])


class Converter(Protocol):
    format: Format
    precisions: tuple[Precision, ...]  # what it can build
    defaults: tuple[Precision, ...]  # what ``posepipe run`` builds unless told otherwise
    variants: tuple[Variant, ...]  # the file kinds it builds (pipeline/run/matrix.py VARIANT_DEFAULTS)
    deterministic: bool  # the same model, data and settings give the same bytes (tested)
    checker: str  # the name of the format's own validity check that ``verify`` runs (converters/checks.py)

    def convert(self, request: ConversionRequest, out: Path) -> None:
        """Write the artifact to ``out`` (a temporary path the caller renames)."""

    def signature(self, path: Path) -> Signature:
        """Read the inputs and outputs back from a written artifact."""

    def embed(self, path: Path, metadata: ArtifactMetadata) -> None:
        """Write ``metadata`` into the artifact at ``path``, in place."""

    def read_metadata(self, path: Path) -> Embedded:
        """What the artifact says about itself."""

    def verify(self, path: Path) -> None:
        """Run the format's strictest validity check on the finished file; a
        ConversionError carrying the checker's message when it refuses it."""


@runtime_checkable
class Companioned(Protocol):
    """A converter that writes files beside the artifact that ship with it (the
    .ort's required-operators config): listed, digested and pulled with it."""

    def companions(self, path: Path) -> tuple[Path, ...]: ...


@runtime_checkable
class Debuggable(Protocol):
    """A converter that can say where its int8 model's error grows."""

    def sensitivity(self, request: ConversionRequest, probe: Iterable[dict[str, np.ndarray]]) -> Sensitivity: ...


def batch_one(request: ConversionRequest) -> keras.Model:
    """The model rebuilt on a static batch of one, so every format gets fixed
    shapes. A clone, not a wrapper: a wrapped model would name its outputs after
    itself in some converters. A variant's graph is built on a batch of one already."""
    import keras

    if request.variant.takes_pixels:
        return request.model

    image = keras.Input(batch_shape=request.input_shape, name=request.spec.input.name)
    clone = keras.models.clone_model(request.model, input_tensors=image)
    clone.set_weights(request.model.get_weights())
    return clone
