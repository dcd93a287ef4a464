"""The artifact stages of a run: each format x precision converted and validated,
unless its record says it is up to date; the stale ones built side by side.

Conversion and validation of one file are one stage: an int8 file that fails its
checks is rebuilt with layers kept in float (``--auto-mixed-precision``), so its
verdict decides what is converted. Stages run in a pool of worker processes (TF
converters are not thread-safe and hold the GIL for long stretches); each worker
loads the checkpoint, the calibration set and the reference once. Workers print
nothing to the terminal: their messages come back with their results and are
printed by the parent, in one piece per artifact. Latency is not measured here:
timings taken while other conversions share the cores would be wrong. Workers
write only into their staging folders: the parent publishes what passed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from posepipe.converters import ConversionRequest
from posepipe.pipeline.engine.atomic import remove, staging
from posepipe.pipeline.engine.console import Console, RecordingConsole
from posepipe.pipeline.errors import WorkerDiedError
from posepipe.pipeline.manifest import artifact_entry, quantization_entry
from posepipe.pipeline.run.convert import Built
from posepipe.pipeline.run.matrix import MatrixCell
from posepipe.pipeline.run.produce import Outcome, Stage, produce, recipe_path, sensitivity_path
from posepipe.validators.validate import Status


@dataclass(frozen=True)
class Job:
    cell: MatrixCell
    name: str  # the artifact's file name
    key: str


@dataclass(frozen=True)
class Done:
    """A finished artifact stage: its manifest entry and the files it made, still
    under their staging folder (pipeline/run/publish.py moves them into place)."""

    job: Job
    entry: dict[str, Any]
    files: tuple[Path, ...]  # in ``staging``, under their final names
    seconds: float
    staging: Path
    messages: tuple[tuple[str, str], ...] = ()  # (kind, text) a worker said, for the parent to print

    @property
    def passed(self) -> bool:
        return self.entry["validation"]["status"] != Status.FAILED


@dataclass(frozen=True)
class Workspace:
    """What every artifact stage of a run reads."""

    model: Any
    stage: Stage
    make_request: Callable[[MatrixCell], ConversionRequest]


def build_one(job: Job, workspace: Workspace, console: Console) -> Done:
    """Convert and validate under a staging folder of the output folder (same file
    system: publishing is a rename), with the file's final name, so its bytes and
    digest are the ones it will have; the folder itself is not touched."""
    start = time.perf_counter()
    request = workspace.make_request(job.cell)
    folder = staging(workspace.stage.out)
    try:
        outcome = produce(request, job.cell.format, replace(workspace.stage, out=folder), console)
    except BaseException:
        remove(folder)
        raise
    return Done(job, entry_of(outcome), files_of(outcome), time.perf_counter() - start, folder)


def entry_of(outcome: Outcome) -> dict[str, Any]:
    """The manifest entry, its size ratio left for the run to fill in (it needs the fp32 file's size)."""
    return artifact_entry(outcome.artifact, outcome.result) | quantization_entry(outcome, None)


def files_of(outcome: Outcome) -> tuple[Path, ...]:
    if not isinstance(outcome.artifact, Built):
        return ()
    path = outcome.artifact.path
    extras = (recipe_path(path), sensitivity_path(path), *outcome.artifact.companions)
    return tuple(p for p in (path, *extras) if p.exists())


def build_all(jobs: Sequence[Job], workers: int, workspace: Workspace, worker_setup: Callable[[], Workspace],
              logs: Path, console: Console) -> Iterator[Done]:
    """Each job's result as it finishes: in this process when one worker is
    enough, else in a pool of ``workers`` processes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            console.step(f"convert: {job.name}")
            yield build_one(job, workspace, console)
        return
    count = min(workers, len(jobs))
    console.step(f"convert: {len(jobs)} artifacts on {count} worker processes")
    context = multiprocessing.get_context("spawn")  # a forked TensorFlow is not safe
    # concurrent.futures, not multiprocessing.Pool: a Pool replaces a worker the kernel killed and
    # waits forever for its job's result (an OpenPose run hung so, its int8 ONNX worker OOM-killed);
    # an executor breaks and says so.
    executor = ProcessPoolExecutor(count, mp_context=context, initializer=_start_worker,
                                   initargs=(worker_setup, logs))
    futures = {executor.submit(_work, job): job for job in jobs}
    try:
        with console.progress("artifacts", len(jobs)) as advance:
            for future in as_completed(futures):
                try:
                    done = future.result()
                except BrokenProcessPool as error:
                    unfinished = ", ".join(sorted(job.name for f, job in futures.items() if not _succeeded(f)))
                    raise WorkerDiedError(
                        f"a worker process died building artifacts (killed, most often out of memory; its log is in "
                        f"{logs}) with {unfinished} unfinished; rerun with -j 1 to build them one at a time"
                    ) from error
                advance(1)
                yield done
    finally:
        _stop(executor)  # an interrupted run leaves no worker writing behind it


def _succeeded(future: Future[Done]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _stop(executor: ProcessPoolExecutor) -> None:
    """Cancel what has not started and kill what has: shutdown alone would wait for
    the running jobs. Python 3.14's ``terminate_workers`` does this; before it, the
    executor's process table is the only handle on its workers."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


_WORKSPACE: Workspace | None = None


def _start_worker(setup: Callable[[], Workspace], logs: Path) -> None:
    """Silence the worker (TF and converters write to fds 1 and 2; that would
    garble the parent's display), tie its life to the parent's, load the inputs."""
    global _WORKSPACE
    _die_with_parent()
    logs.mkdir(parents=True, exist_ok=True)
    log = os.open(logs / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and terminates the pool
    _WORKSPACE = setup()


def _work(job: Job) -> Done:
    assert _WORKSPACE is not None, "the pool's initializer loads the workspace"
    console = RecordingConsole()
    return replace(build_one(job, _WORKSPACE, console), messages=tuple(console.messages))


def _die_with_parent() -> None:
    """On Linux, a SIGKILLed parent takes its workers with it (PR_SET_PDEATHSIG),
    so no orphan goes on renaming files into the artifacts folder."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the call
            os._exit(1)


def describe(done: Done) -> str:
    status = done.entry["validation"]["status"]
    return f"{done.job.name}: {status} ({done.seconds:.1f}s)"

