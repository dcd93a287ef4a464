"""One artifact from request to verdict: convert, validate against the reference,
and for an int8 file that fails, say where its error grows (the sensitivity
report) and, when asked, keep the worst layers in float until it passes.

Everything here is written into ``Stage.out``, which for a run is the artifact's
staging folder (pipeline/engine/pool.py): the recipe and sensitivity report land
beside the file they describe, and move into place with it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.converters.base import Debuggable
from posepipe.converters.metadata import ArtifactMetadata
from posepipe.converters.sensitivity import Sensitivity
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.engine.atomic import remove, write_json
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.logs import captured
from posepipe.pipeline.run.convert import Built, Failed, build
from posepipe.pipeline.run.describe import variant_metadata
from posepipe.validators.validate import Reference, Status, ValidationResult, validate

PROBE_SAMPLES = 8  # val inputs the sensitivity debuggers run (ONNX's keeps every activation)
MIXED_STEPS = (1, 2, 4, 8)  # how many of the worst layers --auto-mixed-precision tries in float


@dataclass(frozen=True)
class Outcome:
    artifact: Built | Failed
    result: ValidationResult | None
    recipe: dict[str, Any]
    keep_float: tuple[str, ...] = ()
    sensitivity: Path | None = None
    sensitive_layers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stage:
    """What every artifact of a run shares."""

    out: Path  # where files are written: the run's folder, replaced by each stage's staging folder
    logs: Path
    reference: Reference
    threads: int
    auto_mixed_precision: bool
    calibration: dict[str, Any] | None  # sha256, samples, source of the set int8 files were calibrated on
    metadata: ArtifactMetadata | None = None  # embedded in every file, completed per artifact
    config: Any = None  # the model's config: what an app or keypoints file's outputs are depends on it

    def metadata_of(self, request: ConversionRequest) -> ArtifactMetadata | None:
        """The document ``request``'s file embeds: the tensor file's, or its variant's."""
        if self.metadata is None:
            return None
        return variant_metadata(self.metadata, request.spec, self.config, request.model, request.variant)


def produce(request: ConversionRequest, fmt: Format, stage: Stage, console: Console) -> Outcome:
    outcome = _attempt(request, fmt, stage)
    if not _failed_int8(outcome):
        return _finish(outcome)
    report = _sensitivity(request, fmt, outcome, stage, console)
    if report is None:
        return _finish(outcome)
    path, sensitivity = report
    outcome = replace(outcome, sensitivity=path, sensitive_layers=sensitivity.worst(5))
    if stage.auto_mixed_precision:
        outcome = _mixed(request, fmt, stage, sensitivity, outcome, console)
    return _finish(outcome)


def recipe_path(artifact: Path) -> Path:
    return artifact.with_name(f"{artifact.name}.recipe.json")


def sensitivity_path(artifact: Path) -> Path:
    return artifact.with_name(f"{artifact.name}.sensitivity.json")


def _attempt(request: ConversionRequest, fmt: Format, stage: Stage) -> Outcome:
    artifact = build(request, fmt, stage.out, stage.logs, stage.metadata_of(request))
    result = None
    if isinstance(artifact, Built):
        tolerance = request.spec.tolerances[request.precision]
        result = validate(artifact.path, stage.reference, tolerance, stage.threads, request.variant)
    recipe = request.recipe.for_artifact(fmt, request.precision)
    if request.precision.calibrated:
        recipe["calibration"] = stage.calibration
    return Outcome(artifact, result, recipe, request.recipe.keep_float if "keep_float" in recipe else ())


def _failed_int8(outcome: Outcome) -> bool:
    return (outcome.artifact.precision is Precision.INT8 and outcome.result is not None
            and outcome.result.status is Status.FAILED and isinstance(CONVERTERS[outcome.artifact.format], Debuggable))


def _sensitivity(request: ConversionRequest, fmt: Format, outcome: Outcome, stage: Stage,
                 console: Console) -> tuple[Path, Sensitivity] | None:
    """The per-layer report beside the artifact; a debugger crash is noted, not fatal."""
    console.step(f"sensitivity: {outcome.artifact.path.name} failed; measuring error per layer")
    name = stage.reference.spec.input.name
    fed = stage.reference.samples.pixels if request.variant.takes_pixels else stage.reference.inputs
    probe = [{name: x[None]} for x in fed[:PROBE_SAMPLES]]
    converter = CONVERTERS[fmt]
    assert isinstance(converter, Debuggable)  # _failed_int8 checked it
    try:
        with captured(stage.logs / f"{outcome.artifact.path.name}.sensitivity.log"):
            sensitivity = converter.sensitivity(request, probe)
    except Exception as error:  # the debuggers are experimental APIs
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the system's (a full disk): the run stops, as for a conversion
        console.warn(f"no sensitivity report for {outcome.artifact.path.name}: {type(error).__name__}: {error}")
        return None
    path = sensitivity_path(outcome.artifact.path)
    write_json(path, {"artifact": outcome.artifact.path.name, "probe_samples": len(probe), **sensitivity.to_json()})
    console.note(f"most sensitive: {', '.join(sensitivity.worst(5))} ({path.name})")
    return path, sensitivity


def _mixed(request: ConversionRequest, fmt: Format, stage: Stage, sensitivity: Sensitivity, failed: Outcome,
           console: Console) -> Outcome:
    """Rebuild with 1, 2, 4, 8 of the worst layers in float; the first that passes
    stays. If none does, the last attempt stays, failed, with what it kept."""
    outcome = failed
    for count in MIXED_STEPS:
        keep = tuple(dict.fromkeys((*request.recipe.keep_float, *sensitivity.worst(count))))
        console.step(f"auto mixed precision: {failed.artifact.path.name} with {', '.join(keep)} in float")
        attempt = replace(request, recipe=replace(request.recipe, keep_float=keep))
        outcome = replace(_attempt(attempt, fmt, stage), sensitivity=failed.sensitivity,
                          sensitive_layers=failed.sensitive_layers)
        if outcome.result is not None and outcome.result.status is Status.PASSED:
            break
    return outcome


def _finish(outcome: Outcome) -> Outcome:
    """Write (or clear) the recipe beside the file: fp32 files have none."""
    path = recipe_path(outcome.artifact.path)
    if outcome.artifact.precision is Precision.FP32 or isinstance(outcome.artifact, Failed):
        remove(path)
    else:
        write_json(path, outcome.recipe)
    if outcome.sensitivity is None:
        remove(sensitivity_path(outcome.artifact.path))
    return outcome
