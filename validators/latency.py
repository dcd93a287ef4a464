"""Host latency of one artifact in its runtime: warm-up invokes, then the median
(and 90th percentile) of timed ones, on a fixed seeded input. A benchmark, never
a test assertion: wall time on a shared machine is a measurement, not a verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from validators.runners import runner_for


@dataclass(frozen=True)
class Latency:
    runtime: str
    median_ms: float
    p90_ms: float
    runs: int
    measured: bool  # False for a reference evaluator: its time says nothing about a phone


def measure(path: Path, input_name: str, shape: tuple[int, ...], runs: int = 50, warmup: int = 5,
            threads: int = 1) -> Latency:
    runner = runner_for(path, threads)
    feed = {input_name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    if runner.runtime.endswith("-reference"):
        runs, warmup = 1, 0
    with runner:
        for _ in range(warmup):
            runner.infer(feed)
        runner.inference_times.clear()
        for _ in range(runs):
            runner.infer(feed)
    times = 1000.0 * np.asarray(runner.inference_times)
    return Latency(runner.runtime, float(np.median(times)), float(np.percentile(times, 90)), runs,
                   not runner.runtime.endswith("-reference"))
