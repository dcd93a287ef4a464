"""The latency stage: every executed artifact timed on each host target (and a
phone over adb when one is given), estimated on the named devices, profiled op by
op, and judged against the model's budgets. The manifest records, per artifact
and target, the figure, whether it was measured or estimated, the budget and the
verdict; a breach fails the run unless budgets are report-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.engine.console import Console
from posepipe.validators.perf.adb import AdbTarget, AdbUnavailable
from posepipe.validators.perf.latency import BenchSettings, Timing, measure, seeded_input, time_runner
from posepipe.validators.perf.macs import ModelCost
from posepipe.validators.perf.profile import profile
from posepipe.validators.perf.targets import (
    DEFAULT_TARGETS,
    BudgetStatus,
    DeviceEstimate,
    HostTarget,
    Target,
    judge,
    resolve,
)
from posepipe.validators.runners import KerasRunner, NotExecutableError, runner_for

PROFILE_TOP = 10


@dataclass(frozen=True)
class LatencyPlan:
    targets: tuple[Target | AdbTarget, ...]
    budgets: Mapping[str, float]
    settings: BenchSettings = BenchSettings()
    enforce: bool = True  # False: --budgets-report-only
    profile: bool = True
    skipped: Mapping[str, str] = field(default_factory=dict)  # target -> why it was not measured

    def to_json(self) -> dict[str, Any]:
        return {"settings": asdict(self.settings), "budgets": dict(self.budgets), "enforced": self.enforce,
                "targets": [_describe(t) for t in self.targets],
                "skipped_targets": dict(self.skipped)}


@dataclass(frozen=True)
class LatencyOptions:
    """What the user chose: targets, budget overrides, the harness's settings."""

    targets: tuple[str, ...] = DEFAULT_TARGETS
    budgets: tuple[tuple[str, float], ...] = ()  # --budget TARGET=MS, over the model's own
    settings: BenchSettings = BenchSettings()
    enforce: bool = True  # False: --budgets-report-only
    device: AdbTarget | None = None
    profile: bool = True


def plan(spec: ModelSpec, options: LatencyOptions) -> LatencyPlan:
    """The model's budgets with the user's overrides, for the chosen targets."""
    targets: list[Target | AdbTarget] = list(resolve(options.targets))
    skipped: dict[str, str] = {}
    if options.device is not None:
        try:
            options.device.check()
            targets.append(options.device)
        except AdbUnavailable as reason:
            skipped[options.device.name] = str(reason)
    overrides = dict(options.budgets)
    known = [t.name for t in targets] + list(skipped)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(f"--budget {', '.join(unknown)}: not a target of this run; targets: {', '.join(known)}")
    return LatencyPlan(tuple(targets), {**spec.budgets, **overrides}, options.settings, options.enforce,
                       options.profile, skipped)


def artifact_latency(path: Path, precision: Precision, input_name: str, shape: tuple[int, ...],
                     cost: ModelCost, latency: LatencyPlan, console: Console) -> dict[str, Any]:
    """The manifest's ``latency`` block of one artifact."""
    fmt = Format.from_path(str(path))
    results: dict[str, Any] = {}
    for target in latency.targets:
        budget = latency.budgets.get(target.name)
        if isinstance(target, HostTarget):
            results[target.name] = _host(path, input_name, shape, target, cost, latency.settings, budget)
        elif isinstance(target, DeviceEstimate):
            results[target.name] = _estimate(target, cost, fmt, precision, budget)
        else:
            results[target.name] = _phone(target, path, fmt, cost, latency.settings, budget, console)
    for name, reason in latency.skipped.items():
        results[name] = _skipped(reason, latency.budgets.get(name))
    block: dict[str, Any] = {"targets": results}
    if latency.profile and fmt in (Format.TFLITE, Format.ONNX, Format.ORT):
        block["profile"] = profile(path, threads=1).to_json(PROFILE_TOP)
    return block


def reference_latency(model: Any, input_name: str, shape: tuple[int, ...], cost: ModelCost,
                      settings: BenchSettings) -> dict[str, Any]:
    """The Keras model itself, one image per call, TensorFlow's own threading: the
    denominator of each artifact's speed-up."""
    feed = {input_name: seeded_input(shape)}
    timing = time_runner(lambda: KerasRunner(model), feed, 0, settings)
    return _timed(timing, cost, None) | {"threads": "tensorflow-default"}


def breaches(entries: list[dict[str, Any]]) -> list[str]:
    """One line per artifact and target over budget (a keypoints file's end-to-end time too)."""
    lines = _end_to_end_breaches(entries)
    for entry in entries:
        for name, result in (entry.get("latency") or {}).get("targets", {}).items():
            if result["status"] == BudgetStatus.FAIL:
                lines.append(f"{entry['file']} on {name}: {result['statistic']} {result['figure_ms']:.2f} ms "
                             f"({result['kind']}) over its budget of {result['budget_ms']:g} ms")
    return lines


def _host(path: Path, input_name: str, shape: tuple[int, ...], target: HostTarget, cost: ModelCost,
          settings: BenchSettings, budget: float | None) -> dict[str, Any]:
    try:
        runtime = runner_for(path, target.threads).runtime
    except NotExecutableError as error:
        return _skipped(str(error), budget)
    if runtime.endswith("-reference"):
        return _skipped(f"{runtime}: posepipe's reference evaluator, not a device runtime; its time says "
                        "nothing about a phone", budget)
    return _timed(measure(path, input_name, shape, target.threads, settings), cost, budget)


def _timed(timing: Timing, cost: ModelCost, budget: float | None) -> dict[str, Any]:
    return {"kind": "measured", **timing.to_json(), "statistic": "p50", "figure_ms": timing.p50_ms,
            "gmacs_per_s": cost.gmacs_per_s(timing.p50_ms), "budget_ms": budget,
            "status": str(judge(timing.p50_ms, budget))}


def _estimate(target: DeviceEstimate, cost: ModelCost, fmt: Format, precision: Precision,
              budget: float | None) -> dict[str, Any]:
    figure = target.estimate_ms(cost.macs, fmt, precision)
    if figure is None:
        return _skipped(f"no published basis for {fmt} {precision} on {target.source}", budget, "estimated")
    # The published figures are LiteRT CPU figures, and no delegate (GPU, NNAPI, Core ML) figure has a
    # published basis here: every estimate says it is a CPU one, delegated or not (see ``coverage``).
    return {"kind": "estimated", "threads": target.threads, "statistic": "estimate", "figure_ms": figure,
            "runs_on": "cpu", "basis": target.basis(precision), "budget_ms": budget,
            "status": str(judge(figure, budget))}


def _phone(target: AdbTarget, path: Path, fmt: Format, cost: ModelCost, settings: BenchSettings,
           budget: float | None, console: Console) -> dict[str, Any]:
    if fmt is not Format.TFLITE:
        return _skipped(f"benchmark_model runs .tflite files only, not {fmt}", budget)
    try:
        timing = target.measure(path, settings)
    except AdbUnavailable as reason:
        console.warn(f"{path.name} on {target.name}: {reason}")
        return _skipped(str(reason), budget)
    return {"kind": "measured", "threads": target.threads, **asdict(timing), "statistic": "mean",
            "figure_ms": timing.mean_ms, "gmacs_per_s": cost.gmacs_per_s(timing.mean_ms), "budget_ms": budget,
            "status": str(judge(timing.mean_ms, budget))}


def _skipped(reason: str, budget: float | None, kind: str = "measured") -> dict[str, Any]:
    return {"kind": kind, "status": str(BudgetStatus.SKIPPED), "reason": reason, "budget_ms": budget}


def _describe(target: Target | AdbTarget) -> dict[str, Any]:
    described: dict[str, Any] = {"name": target.name, "kind": str(target.kind), "threads": target.threads}
    if isinstance(target, DeviceEstimate):
        described["gmacs_per_s"] = target.gmacs_per_s
        described["source"] = target.source
    if isinstance(target, AdbTarget):
        described["serial"] = target.serial
    return described


def _end_to_end_breaches(entries: list[dict[str, Any]]) -> list[str]:
    """One line per keypoints file and target whose whole path (pipeline/run/end_to_end.py) is over its budget."""
    return [f"{entry['file']} on {target}: end to end {figure['total_ms']:.2f} ms over its budget of "
            f"{figure['budget_ms']:g} ms"
            for entry in entries
            for target, figure in (((entry.get("latency") or {}).get("end_to_end") or {}).get("targets") or {}).items()
            if figure["status"] == BudgetStatus.FAIL]
