"""The benchmark harness: one artifact (or the Keras reference) in its runtime on
this host, measured the way LiteRT's ``benchmark_model`` does it: load, a first
inference, warm-up, then timed runs until ``runs`` are done or ``max_secs`` has
passed (at least one). A measurement, never a test assertion: wall time on a
shared machine is a figure, not a verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.validators.perf.memory import PeakMemory
from posepipe.validators.runners import Runner, runner_for


@dataclass(frozen=True)
class BenchSettings:
    """benchmark_model's defaults, apart from a shorter time cap for pipeline runs."""

    warmup: int = 1
    runs: int = 50
    max_secs: float = 20.0

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.runs < 1 or not self.max_secs > 0:
            raise ValueError(f"bench settings need warmup >= 0, runs >= 1, max_secs > 0: {self}")


@dataclass(frozen=True)
class Timing:
    runtime: str
    threads: int
    load_ms: float
    first_ms: float
    p50_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    runs: int
    peak_memory_mb: float | None  # resident-set growth from before load to the peak; None where unmeasured

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def measure(path: Path, input_name: str, shape: tuple[int, ...], threads: int = 1,
            settings: BenchSettings = BenchSettings()) -> Timing:
    """An artifact file in the runtime of its format."""
    return time_runner(lambda: runner_for(path, threads), {input_name: seeded_input(shape)}, threads, settings)


def time_runner(make: Callable[[], Runner], feed: dict[str, np.ndarray], threads: int,
                settings: BenchSettings) -> Timing:
    with PeakMemory() as memory:
        start = time.perf_counter()
        runner = make()
        with runner:  # activate(): the session or interpreter is built here
            load = time.perf_counter() - start
            times = _timed(runner, _as_fed(runner, feed), settings)
    first, steady = 1000.0 * times[0], 1000.0 * np.asarray(times[1:])
    return Timing(runner.runtime, threads, 1000.0 * load, first, float(np.median(steady)),
                  float(np.percentile(steady, 90)), float(steady.mean()), float(steady.std()), len(steady),
                  memory.growth_mb)


def _timed(runner: Runner, feed: dict[str, np.ndarray], settings: BenchSettings) -> list[float]:
    """[first, timed...]: warm-up invokes are run and dropped."""
    runner.infer(feed)
    for _ in range(settings.warmup):
        runner.infer(feed)
    first = runner.inference_times[0]
    runner.inference_times.clear()
    deadline = time.perf_counter() + settings.max_secs
    while len(runner.inference_times) < settings.runs:
        runner.infer(feed)
        if time.perf_counter() > deadline:
            break
    return [first, *runner.inference_times]


def _as_fed(runner: Runner, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An image input (Core ML) takes pixels: the same fixed input as uint8 pixels."""
    return {name: seeded_pixels(value.shape) if name in runner.pixel_inputs else value for name, value in feed.items()}


def seeded_pixels(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


def seeded_input(shape: tuple[int, ...]) -> np.ndarray:
    """The one fixed input every timing feeds, so figures compare across runs."""
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def decoder_timing(decoder: Any, outputs: dict[str, np.ndarray], step: Callable[[Any], Any] | None = None,
                   ) -> dict[str, Any]:
    """The decoder alone (post-processing, NumPy on this host) over every sample of
    ``outputs`` (stacked [N, ...]): p50 and p90 milliseconds per image. Reported
    beside the model's own time: for a bottom-up model the grouping can cost as
    much as the network, and no converter speeds it up. ``step``: the part of the
    decoder to time (a keypoints file's app-side grouping), else ``decoder.decode``."""
    count = len(next(iter(outputs.values())))
    times = []
    for i in range(count):
        sample = {name: value[i] for name, value in outputs.items()}
        start = time.perf_counter()
        (step or decoder.decode)(sample)
        times.append(1000.0 * (time.perf_counter() - start))
    return {"name": decoder.name, "images": count, "p50_ms": float(np.percentile(times, 50)),
            "p90_ms": float(np.percentile(times, 90))}
