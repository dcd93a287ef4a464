"""LiteRT (``ai_edge_litert``), the TFLite runtime phones run; not the deprecated
``tf.lite.Interpreter``. Inputs and outputs are addressed by signature name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from validators.runners.base import Feed, Runner


class LiteRTRunner(Runner):
    runtime = "litert"

    def __init__(self, path: Path, threads: int = 1) -> None:
        super().__init__()
        self.path = path
        self.threads = threads
        self._runner: Any = None

    def activate(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads)
        self._runner = interpreter.get_signature_runner()

    def _infer(self, feed: Feed) -> Feed:
        return {name: np.asarray(value) for name, value in self._runner(**feed).items()}

    def deactivate(self) -> None:
        self._runner = None
