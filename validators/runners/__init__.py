"""One runner per runtime, chosen by the artifact's format."""

from __future__ import annotations

from pathlib import Path

from posepipe.models.formats import Format
from posepipe.validators.runners.base import Feed, NotExecutableError, Runner
from posepipe.validators.runners.coreml import ComputeUnits, CoreMLRunner
from posepipe.validators.runners.keras import KerasRunner
from posepipe.validators.runners.litert import LiteRTRunner
from posepipe.validators.runners.onnxruntime import OnnxRuntimeRunner


def runner_for(path: Path, threads: int = 1) -> Runner:
    """The runner for an artifact file, by its format: Core ML files run in Core ML
    on macOS and in the NumPy reference evaluator elsewhere."""
    fmt = Format.from_path(str(path))
    if fmt is Format.TFLITE:
        return LiteRTRunner(path, threads)
    if fmt in (Format.ONNX, Format.ORT):  # ONNX Runtime loads both
        return OnnxRuntimeRunner(path, threads)
    if fmt in (Format.COREML, Format.COREML_NN):
        return CoreMLRunner(path, threads)
    raise NotExecutableError(f"{path.name}: no runner for {fmt}")


__all__ = ["ComputeUnits", "CoreMLRunner", "Feed", "KerasRunner", "NotExecutableError", "Runner", "runner_for"]
