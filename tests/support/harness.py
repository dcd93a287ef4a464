"""The tiny-model harness: every zoo model trained briefly on a tiny synthetic
set once per session, and the CLI invoked in-process with exit code and output.

The suite runs on every core (pytest-xdist); what the session shares (the tiny
data, each tiny checkpoint, the shared tiny run) is made once for all workers by
:func:`shared_once`, under a file lock, and reused by the others.

A model x format test is then a few lines: ``zoo.model(name)``, ``zoo.run(...)``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from posepipe import models
from posepipe.calibration.synthetic import SynthConfig, generate
from posepipe.models.spec import Topology
from posepipe.pipeline.cli.main import main
from posepipe.pipeline.run.data import MULTI_PERSON

TINY_DATA = SynthConfig(seed=7, train_images=48, val_images=16, min_side=96, max_side=160)
TINY_CROWDS = dataclasses.replace(TINY_DATA, **MULTI_PERSON)  # for bottom-up models


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("posepipe: error:")]


def invoke(capfd: pytest.CaptureFixture[str], *args: str) -> Result:
    """``posepipe ARGS`` in this process, as the console script runs it."""
    capfd.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capfd.readouterr()
    return Result(code, captured.out, captured.err)


def shared_once(folder: Path, make: Callable[[Path], object]) -> Path:
    """``folder``, made by ``make(folder)`` once per test session whichever worker
    asks first; the others wait on the lock, then reuse it. A made folder is marked
    done beside it, so one left half-made by a failure is made again."""
    done = folder.with_name(folder.name + ".done")
    with FileLock(folder.with_name(folder.name + ".lock")):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.parent.mkdir(parents=True, exist_ok=True)
            make(folder)
            done.touch()
    return folder


@dataclass
class TinyZoo:
    root: Path

    def __post_init__(self) -> None:
        self.data = self.root / "data"
        self.cache = self.root / "cache"
        shared_once(self.data, lambda folder: generate(folder, TINY_DATA))

    def data_for(self, name: str) -> Path:
        """The tiny set ``name`` trains on: single figures, or crowds for a bottom-up model."""
        if models.get(name).topology is Topology.TOP_DOWN:
            return self.data
        return shared_once(self.root / "crowds", lambda folder: generate(folder, TINY_CROWDS))

    def checkpoint(self, name: str) -> Path:
        """A tiny checkpoint of ``name``, trained once per session (``shared_once``)."""
        from posepipe.pipeline.engine.console import Console
        from posepipe.pipeline.run.checkpoint import MODEL_FILE, train_into
        from posepipe.pipeline.run.data import Data

        spec = models.get(name)
        data = Data(self.data_for(name), True, "tiny")
        folder = shared_once(self.root / "checkpoints" / name, lambda folder: train_into(
            folder, spec, spec.tiny, spec.tiny_schedule, data, Console(live=False)))
        return folder / MODEL_FILE

    def model(self, name: str) -> Any:
        import keras

        return keras.models.load_model(self.checkpoint(name), compile=False)

    def run_args(self, name: str, *extra: str) -> list[str]:
        """A tiny run of the fp32 files, timed briefly and not profiled (per-op
        profiles cost more than the rest of the latency stage; the shared tiny run
        asks for them), in this process (the suite already runs on every core;
        tests/test_stages.py runs the worker pool); a later ``--precisions``,
        ``--bench-runs``, ``--profile`` or ``--jobs`` in ``extra`` wins."""
        return ["run", name, "--preset", "tiny", "--data", str(self.data_for(name)), "--cache", str(self.cache),
                "--precisions", "fp32", "--bench-runs", "5", "--no-profile", "--jobs", "1",
                "--checkpoint", str(self.checkpoint(name)),
                *extra]


def read_manifest(root: Path, model: str) -> dict[str, Any]:
    return json.loads((root / "artifacts" / model / "manifest.json").read_text())
