"""An ONNX Runtime CPU session on an .ort file, as posepipe checks, validates and reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SAVED_OPTIMIZATIONS = "session.enable_saved_runtime_optimizations"  # ORT: off unless asked, for trusted files


def session(path: Path, threads: int = 1) -> Any:
    """Its saved runtime optimizations replayed (the Runtime optimization style:
    converters/ort/convert.py), as validation runs it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry(SAVED_OPTIMIZATIONS, "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
