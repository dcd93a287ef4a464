"""The manifest: ``artifacts/<model>/manifest.json``, what a run made and proved.

Built from typed records (records.py: one artifact; document.py: the whole
document), published as a JSON Schema (schema.json, package data) and read back
only through :func:`read_manifest`, which checks it against that schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from posepipe.models.formats import Precision
from posepipe.pipeline.engine.atomic import write_json
from posepipe.pipeline.engine.hashing import sha256_path, size_bytes
from posepipe.pipeline.manifest.document import Manifest
from posepipe.pipeline.manifest.read import read_manifest, schema
from posepipe.pipeline.manifest.records import (
    ArtifactRecord,
    BuiltFile,
    Checked,
    Companion,
    NotBuilt,
    NotExecuted,
    NotValidated,
    OutputCheck,
    QuantizationRecord,
    Validation,
)
from posepipe.pipeline.manifest.values import finite
from posepipe.pipeline.run.convert import Built, Failed
from posepipe.pipeline.run.produce import Outcome, recipe_path
from posepipe.validators.accuracy.task import TaskMetric
from posepipe.validators.validate import Status, ValidationResult

MANIFEST = "manifest.json"  # in each model's artifacts folder

SCHEMA = 1  # schema.json's "schema" const: bumped when a key is removed or changes meaning

__all__ = [
    "MANIFEST", "SCHEMA", "ArtifactRecord", "Manifest", "agreement_cell", "artifact_entry", "artifact_record",
    "finite", "passed", "quantization_entry", "read_manifest", "schema", "score_cell", "task_metric",
    "validation_entry", "validation_record", "write_manifest",
]


def artifact_record(artifact: Built | Failed, result: ValidationResult | None) -> ArtifactRecord:
    if isinstance(artifact, Failed):
        return ArtifactRecord(artifact.path.name, artifact.format, artifact.precision,
                              NotBuilt((f"conversion failed: {artifact.error}",)), checker=artifact.checker,
                              variant=artifact.variant)
    built = BuiltFile(artifact.bytes, artifact.sha256, artifact.signature.inputs, artifact.signature.outputs)
    validation = validation_record(result) if result else NotValidated()
    companions = tuple(Companion(p.name, size_bytes(p), sha256_path(p)) for p in artifact.companions)
    return ArtifactRecord(artifact.path.name, artifact.format, artifact.precision, validation, built,
                          checker=artifact.checker, companions=companions, variant=artifact.variant)


def artifact_entry(artifact: Built | Failed, result: ValidationResult | None) -> dict[str, Any]:
    return artifact_record(artifact, result).to_json()


def quantization_record(outcome: Outcome, fp32_bytes: int | None) -> QuantizationRecord | None:
    """What a quantized file is and how it was made: the recipe (saved beside it),
    its calibration set, what stayed float, its size against the fp32 file."""
    artifact = outcome.artifact
    if artifact.precision is Precision.FP32 or isinstance(artifact, Failed):
        return None
    return QuantizationRecord(
        precision=artifact.precision,
        recipe=recipe_path(artifact.path).name,
        calibration=outcome.recipe.get("calibration"),
        method={k: v for k, v in outcome.recipe.items() if k not in ("format", "precision", "calibration")},
        keep_float=tuple(outcome.keep_float),
        size_ratio=artifact.bytes / fp32_bytes if fp32_bytes else None,
        sensitivity=outcome.sensitivity.name if outcome.sensitivity else None,
        sensitive_layers=tuple(outcome.sensitive_layers),
    )


def quantization_entry(outcome: Outcome, fp32_bytes: int | None) -> dict[str, Any]:
    """``{"quantization": ...}`` to merge into a quantized file's entry; ``{}`` for the others."""
    record = quantization_record(outcome, fp32_bytes)
    return {} if record is None else {"quantization": record.to_json()}


def validation_record(result: ValidationResult) -> Validation:
    if result.status is Status.NOT_EXECUTED:
        return NotExecuted(result.runtime, result.reason)
    return Checked(result.status, result.runtime, result.samples, tuple(OutputCheck.of(c) for c in result.outputs),
                   result.task, result.mean_inference_ms, tuple(result.failures))


def validation_entry(result: ValidationResult) -> dict[str, Any]:
    return validation_record(result).to_json()


def passed(artifacts: Iterable[ArtifactRecord]) -> bool:
    """True when no check failed; not-executed artifacts neither pass nor fail."""
    return all(a.status in (Status.PASSED, Status.NOT_EXECUTED) for a in artifacts)


def write_manifest(path: Path, document: dict[str, Any]) -> None:
    write_json(path, finite(document))


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
    people += f" ({100 * task['peak_agreement']:.1f}% peaks)" if "peak_agreement" in task else ""
    return f"{100 * task['agreement']:.1f}%{people}"
