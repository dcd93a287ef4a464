"""The manifest: ``artifacts/<model>/manifest.json``, what a run made and proved."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from posepipe.models.formats import Precision
from posepipe.pipeline.engine.atomic import write_json
from posepipe.pipeline.run.convert import Built, Failed
from posepipe.pipeline.run.produce import Outcome, recipe_path
from posepipe.validators.accuracy.task import TaskMetric
from posepipe.validators.validate import Status, ValidationResult

MANIFEST = "manifest.json"  # in each model's artifacts folder

SCHEMA = 1


def artifact_entry(artifact: Built | Failed, result: ValidationResult | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "file": artifact.path.name,
        "format": str(artifact.format),
        "precision": str(artifact.precision),
    }
    if isinstance(artifact, Failed):
        entry["validation"] = {"status": str(Status.FAILED), "failures": [f"conversion failed: {artifact.error}"]}
        return entry
    entry |= {
        "bytes": artifact.bytes,
        "sha256": artifact.sha256,
        "inputs": [t.to_json() for t in artifact.signature.inputs],
        "outputs": [t.to_json() for t in artifact.signature.outputs],
    }
    entry["validation"] = validation_entry(result) if result else {"status": "not-validated"}
    return entry


def quantization_entry(outcome: Outcome, fp32_bytes: int | None) -> dict[str, Any]:
    """What a quantized file is and how it was made: the recipe (saved beside it),
    its calibration set, what stayed float, its size against the fp32 file."""
    artifact = outcome.artifact
    if artifact.precision is Precision.FP32 or isinstance(artifact, Failed):
        return {}
    entry: dict[str, Any] = {
        "precision": str(artifact.precision),
        "recipe": recipe_path(artifact.path).name,
        "calibration": outcome.recipe.get("calibration"),
        "method": {k: v for k, v in outcome.recipe.items() if k not in ("format", "precision", "calibration")},
        "keep_float": list(outcome.keep_float),
        "size_ratio": artifact.bytes / fp32_bytes if fp32_bytes else None,
        "sensitivity": outcome.sensitivity.name if outcome.sensitivity else None,
        "sensitive_layers": list(outcome.sensitive_layers),
    }
    return {"quantization": entry}


def validation_entry(result: ValidationResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": str(result.status), "runtime": result.runtime}
    if result.status is Status.NOT_EXECUTED:
        entry["reason"] = result.reason
        return entry
    entry |= {
        "samples": result.samples,
        "outputs": [
            {"name": c.name, "shape": list(c.shape), "max_abs": c.max_abs, "mean_abs": c.mean_abs,
             "cosine": c.cosine, "worst_sample": c.worst_sample, "snr_db": c.snr_db, "passed": c.passed}
            for c in result.outputs
        ],
        "task": result.task.to_json() if result.task else None,
        "mean_inference_ms": result.mean_inference_ms,
        "failures": list(result.failures),
    }
    return entry


def passed(entries: list[dict[str, Any]]) -> bool:
    """True when no check failed; not-executed artifacts neither pass nor fail."""
    return all(e["validation"]["status"] in ("passed", "not-executed") for e in entries)


def write_manifest(path: Path, document: dict[str, Any]) -> None:
    write_json(path, finite(document))


def finite(value: Any) -> Any:
    """JSON has no infinity or NaN: write them as strings a reader can parse back."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def task_metric(manifest: dict[str, Any]) -> TaskMetric:
    """What the manifest's task scores measure: PCK@0.2 (top-down) or OKS AP (bottom-up)."""
    return TaskMetric(manifest["reference"].get("metric", TaskMetric.PCK))


def score_cell(task: dict[str, Any]) -> str:
    """An artifact's task score and its delta from the reference in points, or "-"."""
    if not task:
        return "-"
    metric = task.get("metric", TaskMetric.PCK)
    return f"{task[metric]:.3f} ({task[f'{metric}_delta']:+.2f})"


def agreement_cell(task: dict[str, Any]) -> str:
    """Keypoint agreement, and for a bottom-up model the people both decodings found, or "-"."""
    if not task:
        return "-"
    people = f" ({100 * task['people_agreement']:.1f}% people)" if "people_agreement" in task else ""
    return f"{100 * task['agreement']:.1f}%{people}"
