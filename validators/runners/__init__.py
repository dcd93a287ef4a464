"""One runner per runtime, chosen by the artifact's format."""

from __future__ import annotations

from pathlib import Path

from models.formats import Format
from validators.runners.base import Feed, NotExecutableError, Runner
from validators.runners.keras import KerasRunner
from validators.runners.litert import LiteRTRunner
from validators.runners.onnxruntime import OnnxRuntimeRunner


def runner_for(path: Path, threads: int = 1) -> Runner:
    """The runner for an artifact file; NotExecutableError where none runs here."""
    fmt = Format.from_path(str(path))
    if fmt is Format.TFLITE:
        return LiteRTRunner(path, threads)
    if fmt is Format.ONNX:
        return OnnxRuntimeRunner(path, threads)
    raise NotExecutableError(
        f"{path.name}: converted, not executed: Core ML predict needs macOS and the "
        "reference evaluator for Linux is not built yet"
    )


__all__ = ["Feed", "KerasRunner", "NotExecutableError", "Runner", "runner_for"]
