"""Artifacts built side by side: a worker the kernel kills fails the run with the
unfinished files named, instead of leaving it waiting for a result forever."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from posepipe.pipeline.engine.console import RecordingConsole
from posepipe.pipeline.engine.pool import Job, Workspace, build_all
from posepipe.pipeline.errors import WorkerDiedError


def _killed_workspace() -> Workspace:
    """What each worker loads: a workspace whose first request kills its worker (as the OOM killer does)."""
    return Workspace(model=None, stage=None, make_request=_die)  # type: ignore[arg-type]


def _die(cell: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_fails_the_run_naming_what_was_unfinished(tmp_path: Path) -> None:
    jobs = [Job(cell=None, name=f"m-{i}.onnx", key="k") for i in range(3)]  # type: ignore[arg-type]
    outcome: list[BaseException] = []

    def build() -> None:
        try:
            list(build_all(jobs, 2, _killed_workspace(), _killed_workspace, tmp_path / "logs", RecordingConsole()))
        except BaseException as error:  # noqa: BLE001 (handed to the test thread)
            outcome.append(error)

    thread = threading.Thread(target=build, daemon=True)  # a hang must fail the test, not stall the suite
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "build_all waited forever for a killed worker's result"
    assert len(outcome) == 1 and isinstance(outcome[0], WorkerDiedError), outcome
    message = str(outcome[0])
    assert "m-0.onnx, m-1.onnx, m-2.onnx unfinished; rerun with -j 1" in message
    assert str(tmp_path / "logs") in message and WorkerDiedError.exit_code == 26
