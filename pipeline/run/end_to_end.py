"""End-to-end latency of each keypoints file: what an app waits for from the crop's
pixels to keypoints. The file's invoke already holds its in-graph decoder; a
bottom-up model's grouping of the candidate peaks is the app-side remainder, timed
in NumPy on this host on the val crops' real outputs (its cost follows how many
peaks there are, so random pixels would say little). The decoder's share is the
keypoints file's time over the model-only file's of the same format and precision
(the app file: the same pixels in, raw outputs out) plus the remainder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.models.formats import Variant
from posepipe.models.spec import Topology
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import key
from posepipe.pipeline.engine.keys import LATENCY_SOURCES, sources
from posepipe.pipeline.engine.records import StageCache
from posepipe.pipeline.run.inputs import Inputs
from posepipe.validators.perf.latency import decoder_timing
from posepipe.validators.perf.targets import BudgetStatus, judge
from posepipe.validators.runners import runner_for

REMAINDER_SAMPLES = 8  # val crops the app-side grouping is timed on
# A top-down model's keypoints file gives the keypoints: mapping them to the frame is one multiply-add.
NO_REMAINDER = {"step": "none", "images": 0, "p50_ms": 0.0, "p90_ms": 0.0}


def end_to_end(entries: list[dict[str, Any]], inputs: Inputs, stages: StageCache, machine: dict[str, Any],
               console: Console) -> None:
    """``attach`` for a run: the app-side timing of each keypoints file is a stage, kept per
    file digest, decoder and machine like every timing."""
    keys: dict[str, str] = {}
    remainders: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.get("variant") == Variant.KEYPOINTS and "sha256" in entry and "latency" in entry:
            keys[entry["sha256"]] = key(entry["sha256"], inputs.decoder, machine, sources(*LATENCY_SOURCES))
            found = stages.get(f"app-side-{entry['file']}", keys[entry["sha256"]])
            if found is not None:
                remainders[entry["sha256"]] = found
    if not keys:
        return
    fresh = set(remainders)
    console.step("end to end: each keypoints file's invoke plus the app-side remainder")
    attach(entries, inputs.out, inputs.spec.topology, lambda: inputs.reference, inputs.spec.end_to_end_budgets,
           remainders)
    for entry in entries:
        if entry.get("sha256") in keys and entry["sha256"] not in fresh:
            stages.put(f"app-side-{entry['file']}", keys[entry["sha256"]], remainders[entry["sha256"]])


def attach(entries: list[dict[str, Any]], folder: Path, topology: Topology, reference: Callable[[], Any],
           budgets: Mapping[str, float], remainders: dict[str, dict[str, Any]]) -> None:
    """Each built keypoints entry's ``latency.end_to_end``, per measured target; ``remainders``
    (file sha256 -> the app-side timing) holds timings already taken, and takes the new ones;
    ``reference()`` gives the run's reference (val crops and decoder) when one must be taken."""
    for entry in entries:
        if entry.get("variant") != Variant.KEYPOINTS or "latency" not in entry or "sha256" not in entry:
            continue
        remainder = remainders.get(entry["sha256"])
        if remainder is None:
            remainder = NO_REMAINDER if topology is Topology.TOP_DOWN else app_side(folder / entry["file"],
                                                                                      reference())
            remainders[entry["sha256"]] = remainder
        baseline = _model_only(entries, entry)
        entry["latency"]["end_to_end"] = {"app_side": remainder} | {
            "targets": _per_target(entry, baseline, remainder["p50_ms"], budgets)}


def app_side(path: Path, reference: Any) -> dict[str, Any]:
    """What the app still runs after a bottom-up model's file: the grouping of the
    candidates (``decoder.group``), timed per val crop."""
    name, pixels = reference.spec.input.name, reference.samples.pixels[:REMAINDER_SAMPLES]
    with runner_for(path) as runner:
        found = [runner.infer(runner.feed(name, p[None], reference.inputs[i][None])) for i, p in enumerate(pixels)]
    stacked = {key: np.concatenate([f[key] for f in found]) for key in found[0]}
    timing = decoder_timing(reference.decoder, stacked, reference.decoder.group)
    return {"step": f"{reference.decoder.name} grouping of the candidate peaks (NumPy, this host)"} | {
        k: timing[k] for k in ("images", "p50_ms", "p90_ms")}


def _model_only(entries: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any] | None:
    """The same format and precision's app file (else its tensor file): the model without its decoder."""
    for variant in (Variant.APP, Variant.TENSOR):
        for other in entries:
            if (other["format"], other["precision"], other.get("variant", Variant.TENSOR)) == (
                    entry["format"], entry["precision"], variant) and "latency" in other:
                return other
    return None


def _per_target(entry: dict[str, Any], baseline: dict[str, Any] | None, remainder_ms: float,
                budgets: Mapping[str, float]) -> dict[str, Any]:
    block = {}
    for target, result in entry["latency"]["targets"].items():
        if result.get("kind") != "measured" or "figure_ms" not in result:
            continue
        total = result["figure_ms"] + remainder_ms
        figure = {"invoke_ms": result["figure_ms"], "app_side_ms": remainder_ms, "total_ms": total}
        model_only = _figure(baseline, target)
        if model_only is not None:
            decoder = max(result["figure_ms"] - model_only, 0.0) + remainder_ms
            figure |= {"model_only_ms": model_only, "model_only_file": baseline["file"] if baseline else None,
                       "decoder_ms": decoder, "decoder_share": decoder / total if total > 0 else None}
        budget = budgets.get(target)
        block[target] = figure | {"budget_ms": budget, "status": str(judge(total, budget))}
    return block


def _figure(entry: dict[str, Any] | None, target: str) -> float | None:
    result = None if entry is None else entry["latency"]["targets"].get(target)
    return None if result is None or result.get("status") == BudgetStatus.SKIPPED else result.get("figure_ms")
