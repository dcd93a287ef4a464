"""``posepipe validate``: one existing artifact file checked again against a
Keras checkpoint on the val split, after the fact.

A file can change after a run validated it (edited, re-exported, copied from
elsewhere); this re-runs the same comparison ``posepipe run`` does, and, when a
manifest beside the file lists it, says whether it is still the file listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posepipe import models
from posepipe.converters import CONVERTERS
from posepipe.converters.checks import Check, check
from posepipe.models.formats import Format, Precision, Variant
from posepipe.models.spec import Tolerance
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import sha256_path, size_bytes
from posepipe.pipeline.engine.paths import artifact_format
from posepipe.pipeline.errors import ManifestError, UnknownArtifactError
from posepipe.pipeline.manifest import MANIFEST, read_manifest, validation_entry
from posepipe.pipeline.run.checkpoint import load_checkpoint
from posepipe.pipeline.run.data import resolve_data, synth_config
from posepipe.pipeline.run.reference import val_reference
from posepipe.validators.runners import runner_for
from posepipe.validators.validate import Reference, Status, ValidationResult, validate_keypoints, validate_with


@dataclass(frozen=True)
class ValidateSettings:
    artifact: Path
    checkpoint: Path
    model: str | None = None
    precision: Precision | None = None
    preset: str = "default"
    overrides: tuple[tuple[str, str], ...] = ()
    data: Path | None = None
    cache: Path = Path(".cache/posepipe")
    val_samples: int | None = None
    threads: int = 1
    seed: int = 0


@dataclass(frozen=True)
class Identity:
    """What an artifact is, from its name ``<model>-<precision><suffix>`` unless
    the user said otherwise."""

    format: Format
    model: str
    precision: Precision
    variant: Variant = Variant.TENSOR


def identify(path: Path, model: str | None = None, precision: Precision | None = None) -> Identity:
    fmt = artifact_format(path)
    stem, variant = Variant.split_stem(path.name[: -len(fmt.suffix)])
    try:
        named_model, named_precision = Precision.split_stem(stem)
    except ValueError:
        if precision is None:
            raise UnknownArtifactError(
                f"{path.name}: cannot tell its precision from the name; pass --precision"
            ) from None
        named_model, named_precision = stem, precision
    return Identity(fmt, model or named_model, precision or named_precision, variant)


def revalidate(settings: ValidateSettings, console: Console) -> dict[str, Any]:
    """The summary document of one artifact: a manifest with one entry."""
    identity = identify(settings.artifact, settings.model, settings.precision)
    with runner_for(settings.artifact, settings.threads):  # an unloadable file: exit 18 now, not after the reference
        pass
    checked = check(CONVERTERS[identity.format], settings.artifact)  # its format's own checker: refused, not run
    spec, config = models.get(identity.model).configured(settings.preset, dict(settings.overrides))
    schedule = spec.schedule_for(settings.preset)
    model = load_checkpoint(settings.checkpoint, spec, config)
    data = resolve_data(settings.data, settings.cache, synth_config(spec, schedule, settings.seed), console)
    reference, _ = val_reference(model, spec, config, data, settings.val_samples or schedule.val_images, console)
    tolerance = spec.tolerances[identity.precision]  # every spec has one per precision
    result = _validated(settings, checked, reference, tolerance, identity.variant, console)
    sha256 = sha256_path(settings.artifact)
    result = _against_manifest(settings.artifact, sha256, result)
    entry = {"file": settings.artifact.name, "format": str(identity.format), "precision": str(identity.precision),
             "variant": str(identity.variant),
             "bytes": size_bytes(settings.artifact), "sha256": sha256,
             "validation": validation_entry(result) | {"checker": checked.to_json()}}
    return {"model": spec.name, "checkpoint": {"path": str(settings.checkpoint),
                                               "sha256": sha256_path(settings.checkpoint)},
            "reference": {"runtime": "keras", "metric": str(reference.task.metric),
                          str(reference.task.metric): reference.score}, "artifacts": [entry]}


def _validated(settings: ValidateSettings, checked: Check, reference: Reference, tolerance: Tolerance,
               variant: Variant, console: Console) -> ValidationResult:
    """The run's comparison, for a file its format's checker accepted; a refused
    file fails with the checker's message, as ``posepipe run`` lists it."""
    if not checked.passed:
        console.step(f"validate: {settings.artifact.name} refused by {checked.name}")
        return ValidationResult(Status.FAILED, None, failures=(checked.failure,))
    runner = runner_for(settings.artifact, settings.threads)
    console.step(f"validate: {settings.artifact.name} with {runner.runtime}")
    if variant is Variant.KEYPOINTS:
        return validate_keypoints(runner, reference, tolerance)
    return validate_with(runner, reference, tolerance)


def _against_manifest(path: Path, sha256: str, result: ValidationResult) -> ValidationResult:
    """A file that differs from the one its manifest lists fails: the manifest's
    verdict was about other bytes."""
    manifest = path.parent / MANIFEST
    if not manifest.is_file():
        return result
    try:
        listed = {a["file"]: a for a in read_manifest(manifest)["artifacts"]}
    except ManifestError:  # a manifest that cannot be read vouches for nothing: the checks above stand
        return result
    entry = listed.get(path.name)
    if entry is None or entry.get("sha256") in (None, sha256):
        return result
    failure = f"{path.name}: sha256 differs from the one {manifest} lists; the file changed after that run"
    return ValidationResult(Status.FAILED, result.runtime, result.samples, result.outputs, result.task,
                            (*result.failures, failure), result.mean_inference_ms)
