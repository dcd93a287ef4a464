"""The entry: a Core ML file in, something that runs feeds out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from posepipe.models.formats import Format
from posepipe.validators.coreml_eval.errors import UnreadableArtifactError
from posepipe.validators.coreml_eval.image import ImageInput

Feed = dict[str, np.ndarray]


class Evaluator(Protocol):
    output_names: tuple[str, ...]
    image_inputs: dict[str, ImageInput]  # fed as uint8 RGB pixels [H, W, 3], as Core ML takes a picture

    def run(self, feed: Feed) -> Feed: ...


def load_evaluator(path: Path) -> Evaluator:
    """The reference evaluator for an .mlpackage (mlprogram) or .mlmodel
    (neuralnetwork); UnsupportedOpError now, not mid-run, for an unknown op."""
    if not path.exists():
        raise UnreadableArtifactError(f"{path}: no such file")
    fmt = Format.from_path(str(path))
    if fmt is Format.COREML:
        from posepipe.validators.coreml_eval.program import MLProgramEvaluator

        return MLProgramEvaluator(path)
    if fmt is Format.COREML_NN:
        from posepipe.validators.coreml_eval.neuralnetwork import NeuralNetworkEvaluator

        return NeuralNetworkEvaluator(path)
    raise UnreadableArtifactError(f"{path.name}: not a Core ML file")
