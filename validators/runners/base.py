"""Runners, as in Polygraphy: one per runtime, a context manager with an
activate / infer / deactivate lifecycle, timing only the invoke."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

import numpy as np

from posepipe.models.errors import PosepipeError
from posepipe.validators.coreml_eval.errors import UnreadableArtifactError

Feed = dict[str, np.ndarray]


class NotExecutableError(PosepipeError):
    """The artifact's runtime does not exist on this machine; the message says why."""

    exit_code = 14


class Runner(ABC):
    runtime: str = "?"

    def __init__(self) -> None:
        self.inference_times: list[float] = []
        self._active = False
        # inputs that take the picture itself (a Core ML image): uint8 RGB pixels the file normalises; known once active
        self.pixel_inputs: frozenset[str] = frozenset()

    def feed(self, name: str, pixels: np.ndarray, normalised: np.ndarray) -> Feed:
        """What this file takes for one input: the uint8 RGB ``pixels`` [1, H, W, 3]
        for an image input, else the ``normalised`` tensor made from them."""
        return {name: pixels if name in self.pixel_inputs else normalised}

    def __enter__(self) -> Runner:
        self.activate()
        self._active = True
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._active = False
        self.deactivate()

    def infer(self, feed: Feed) -> Feed:
        """Outputs by name for one feed; the invoke's wall time is recorded."""
        if not self._active:
            raise RuntimeError(f"{type(self).__name__} used outside its 'with' block")
        start = time.perf_counter()
        outputs = self._infer(feed)
        self.inference_times.append(time.perf_counter() - start)
        return outputs

    @abstractmethod
    def activate(self) -> None: ...

    @abstractmethod
    def _infer(self, feed: Feed) -> Feed: ...

    def deactivate(self) -> None:
        """Drop the session or interpreter; most runtimes need nothing more."""


def unreadable(path: Path, runtime: str, error: Exception) -> UnreadableArtifactError:
    """A runtime refused to load ``path`` (each raises its own type: LiteRT a
    ValueError, ONNX Runtime InvalidProtobuf, Core ML a RuntimeError): the file is
    corrupt, truncated or not what its name says. One line, exit 18."""
    lines = str(error).strip().splitlines()
    return UnreadableArtifactError(f"{path}: {runtime} cannot load it ({lines[0] if lines else type(error).__name__})")
