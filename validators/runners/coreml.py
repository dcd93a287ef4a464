"""Core ML: the real runtime on macOS, the NumPy reference evaluator elsewhere.

``runtime`` says which ran (``coreml`` or ``coreml-reference``) and goes into
the manifest, so nobody mistakes a reference evaluation for the device's.

An image input (every file posepipe writes has one) is fed the picture's uint8
RGB pixels: the evaluator turns them into the tensor Core ML would; on macOS they
become the PIL image ``MLModel.predict`` takes, so Core ML itself does the
conversion and the file's scale and bias.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.validators.runners.base import Feed, Runner, unreadable


class ComputeUnits(StrEnum):
    """Core ML's compute units on macOS; CPU_ONLY is the deterministic default."""

    CPU_ONLY = "cpu_only"
    ALL = "all"


def real_runtime_available() -> bool:
    return sys.platform == "darwin"


class CoreMLRunner(Runner):
    def __init__(self, path: Path, threads: int = 1, compute_units: ComputeUnits = ComputeUnits.CPU_ONLY,
                 reference: bool | None = None) -> None:
        super().__init__()
        self.path = path
        self.threads = threads  # the reference evaluator runs NumPy's own threads
        self.compute_units = compute_units
        self.reference = not real_runtime_available() if reference is None else reference
        self.runtime = "coreml-reference" if self.reference else "coreml"
        self._model: Any = None

    def activate(self) -> None:
        if self.reference:
            from posepipe.validators.coreml_eval import load_evaluator

            self._model = load_evaluator(self.path)
            self.pixel_inputs = frozenset(self._model.image_inputs)
            return
        import coremltools as ct

        units = {ComputeUnits.CPU_ONLY: ct.ComputeUnit.CPU_ONLY, ComputeUnits.ALL: ct.ComputeUnit.ALL}
        try:
            self._model = ct.models.MLModel(str(self.path), compute_units=units[self.compute_units])
        except Exception as error:  # a missing weight.bin, a truncated spec: Core ML's own RuntimeError
            raise unreadable(self.path, "Core ML", error) from error
        inputs = self._model.get_spec().description.input
        self.pixel_inputs = frozenset(f.name for f in inputs if f.type.WhichOneof("Type") == "imageType")

    def infer(self, feed: Feed) -> Feed:
        """On macOS an image input's pixels become a PIL image before the timed invoke."""
        if self.reference or not self.pixel_inputs:
            return super().infer(feed)
        return super().infer({name: _picture(v) if name in self.pixel_inputs else v for name, v in feed.items()})

    def _infer(self, feed: Feed) -> Feed:
        outputs = self._model.run(feed) if self.reference else self._model.predict(feed)
        return {name: np.asarray(value, np.float32) for name, value in outputs.items()}

    def deactivate(self) -> None:
        self._model = None


def _picture(pixels: np.ndarray) -> Any:
    """uint8 RGB pixels [H, W, 3] or [1, H, W, 3] -> the PIL image Core ML's predict
    takes for an image input (it converts it to the model's colour order)."""
    from PIL import Image

    array = np.asarray(pixels)
    if array.dtype != np.uint8 or array.shape[-1] != 3:
        raise ValueError(f"an image input takes uint8 RGB pixels [H, W, 3], not {array.dtype} {list(array.shape)}")
    return Image.fromarray(array[0] if array.ndim == 4 else array)
