"""``posepipe run``: checkpoint -> data -> convert every format -> validate each
against the Keras reference -> manifest. One call, one manifest."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import models
from calibration.calibset import CalibrationSet
from calibration.preprocess import PADDING
from converters import ConversionRequest
from converters.recipe import Recipe
from models.errors import ConfigError
from models.formats import Format, Precision
from models.spec import ModelSpec
from pipeline.atomic import clean_temporaries, remove
from pipeline.calibrate import DEFAULT_SAMPLES, calibration_set
from pipeline.checkpoint import RECORD_FILE, Checkpoint, load_checkpoint, trained_checkpoint
from pipeline.console import Console
from pipeline.convert import artifact_path
from pipeline.data import Data, resolve_data, synth_config
from pipeline.describe import model_metadata
from pipeline.hashing import sha256_path
from pipeline.latency import LatencyOptions, LatencyPlan, artifact_latency, breaches, plan, reference_latency
from pipeline.manifest import SCHEMA, artifact_entry, passed, quantization_entry, write_manifest
from pipeline.matrix import left_out, targets
from pipeline.produce import Stage, produce
from pipeline.reference import val_reference
from pipeline.report import write_report
from pipeline.versions import tool_versions
from validators.macs import ModelCost, count

MANIFEST = "manifest.json"


def default_cache() -> Path:
    return Path(os.environ.get("POSEPIPE_CACHE", ".cache/posepipe"))


@dataclass(frozen=True)
class RunSettings:
    model: str
    preset: str = "default"
    overrides: tuple[tuple[str, str], ...] = ()
    data: Path | None = None
    checkpoint: Path | None = None
    out: Path = Path("artifacts")
    cache: Path = Path(".cache/posepipe")
    formats: tuple[Format, ...] = tuple(Format)
    precisions: tuple[Precision, ...] | None = None  # None: each format's defaults
    recipe: Recipe = Recipe()
    calibration_samples: int = DEFAULT_SAMPLES
    calibration_data: Path | None = None
    auto_mixed_precision: bool = False
    val_samples: int | None = None
    epochs: int | None = None
    threads: int = 1
    seed: int = 0
    latency: LatencyOptions = LatencyOptions()


def run(settings: RunSettings, console: Console) -> dict[str, Any]:
    spec = models.get(settings.model)
    config = spec.config(settings.preset, dict(settings.overrides))
    schedule = spec.schedule_for(settings.preset)
    if settings.epochs is not None:
        schedule = schedule.with_epochs(settings.epochs)
    chosen = targets(settings.formats, settings.precisions, spec.disabled)  # a bad choice fails before any work
    disabled = _left_out(settings, spec, console)
    latency = plan(spec, settings.latency)
    out = settings.out / spec.name
    clean_temporaries(out)
    data = resolve_data(settings.data, settings.cache, synth_config(schedule, settings.seed), console)
    checkpoint, model = checkpoint_for(settings, spec, config, schedule, data, console)

    reference, val_set = val_reference(model, spec, config, data, settings.val_samples or schedule.val_images,
                                       console)

    _check_keep_float(settings.recipe, model, spec)
    calibration = None
    if any(t.precision.calibrated for t in chosen):
        calibration = calibration_set(spec, config.input_size, data, settings.cache, console,
                                      settings.calibration_samples, settings.calibration_data, settings.seed)
    stage = Stage(out, settings.cache / "logs" / spec.name, reference, settings.threads,
                  settings.auto_mixed_precision, _calibration_json(calibration),
                  model_metadata(spec, config, checkpoint.sha256, reference.decoder.name))
    entries: list[dict[str, Any]] = []
    for target in chosen:
        console.step(f"convert: {artifact_path(out, spec.name, target.format, target.precision).name}")
        request = ConversionRequest(model, spec, config.input_size, target.precision, calibration, settings.recipe)
        outcome = produce(request, target.format, stage, console)
        entries.append(artifact_entry(outcome.artifact, outcome.result)
                       | quantization_entry(outcome, _fp32_bytes(entries, target.format)))
    _remove_unlisted(out, spec, entries)
    cost = count(model)
    reference_timing = _latency(entries, out, model, (spec.input.name, (1, *config.input_size, 3)), cost, latency,
                                console)

    document = {
        "schema": SCHEMA,
        "model": spec.name,
        "version": spec.version,
        "license": spec.license,
        "preset": settings.preset,
        "config": asdict(config),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "checkpoint": checkpoint.to_json(),
        "input": {**asdict(spec.input), "size": list(config.input_size), "crop_padding": PADDING},
        "outputs": [{"name": o.name, "kind": str(o.kind), "stride": o.stride} for o in spec.outputs_for(config)],
        "keypoints": {"names": list(spec.keypoints.names), "skeleton": [list(e) for e in spec.keypoints.skeleton]},
        "decoder": reference.decoder.name,
        "data": {"root": str(data.root), "synthetic": data.synthetic, "val_split": val_set.split,
                 "val_samples": len(reference.samples)},
        "reference": {"runtime": "keras", "pck": reference.pck, "latency": reference_timing},
        "model_stats": cost.to_json(),
        "latency": latency.to_json(),
        "passed": passed(entries) and not (latency.enforce and breaches(entries)),
        "artifacts": entries,
        "disabled": disabled,
        "tools": tool_versions(),
    }
    write_manifest(out / MANIFEST, document)
    write_report(out / MANIFEST, console, reference=reference)
    return document


def _left_out(settings: RunSettings, spec: ModelSpec, console: Console) -> list[dict[str, str]]:
    """The default paths the model disables, said up front and kept for the manifest."""
    rows = [{"format": str(t.format), "precision": str(t.precision), "reason": why}
            for t, why in left_out(settings.formats, settings.precisions, spec.disabled)]
    for row in rows:
        console.step(f"matrix: {spec.name} {row['format']} {row['precision']} left out by the model: {row['reason']}")
    return rows


def _latency(entries: list[dict[str, Any]], out: Path, model: Any, feed: tuple[str, tuple[int, ...]],
             cost: ModelCost, latency: LatencyPlan, console: Console) -> dict[str, Any]:
    """Time every built artifact into its manifest entry, then the reference."""
    console.step(f"latency: targets {', '.join(t.name for t in latency.targets)}; "
                 f"budgets {', '.join(f'{t}={ms:g} ms' for t, ms in latency.budgets.items()) or 'none'}")
    for entry in entries:
        if "bytes" not in entry:
            continue  # a failed conversion has no file to time
        console.step(f"latency: {entry['file']}")
        entry["latency"] = artifact_latency(out / entry["file"], Precision(entry["precision"]), *feed, cost,
                                            latency, console)
    return reference_latency(model, *feed, cost, latency.settings)


def checkpoint_for(settings: RunSettings, spec: ModelSpec, config: Any, schedule: Any, data: Data,
                console: Console) -> tuple[Checkpoint, Any]:
    if settings.checkpoint is not None:
        model = load_checkpoint(settings.checkpoint, spec, config)
        record = settings.checkpoint.parent / RECORD_FILE
        console.step(f"checkpoint: {settings.checkpoint}")
        return Checkpoint(settings.checkpoint, sha256_path(settings.checkpoint), False,
                          record if record.is_file() else None), model
    checkpoint = trained_checkpoint(spec, config, schedule, data, settings.cache, console, settings.seed)
    return checkpoint, load_checkpoint(checkpoint.path, spec, config)


def _remove_unlisted(out: Path, spec: ModelSpec, entries: list[dict[str, Any]]) -> None:
    """``artifacts/<model>/`` holds exactly what the manifest lists: an artifact
    (or its recipe or report) left by an earlier run goes."""
    listed = {e["file"] for e in entries}
    listed |= {e["quantization"][k] for e in entries if "quantization" in e
               for k in ("recipe", "sensitivity") if e["quantization"].get(k)}
    for path in out.glob(f"{spec.name}-*"):
        if path.name not in listed:
            remove(path)


def _check_keep_float(recipe: Recipe, model: Any, spec: ModelSpec) -> None:
    unknown = sorted(set(recipe.keep_float) - {layer.name for layer in model.layers})
    if unknown:
        raise ConfigError(f"--keep-float: {spec.name} has no layer {', '.join(unknown)} "
                          "(a failed int8 artifact's .sensitivity.json lists the layer names)")


def _calibration_json(calibration: CalibrationSet | None) -> dict[str, Any] | None:
    if calibration is None:
        return None
    return {"sha256": calibration.sha256, "samples": len(calibration), "source": calibration.source}


def _fp32_bytes(entries: list[dict[str, Any]], fmt: Format) -> int | None:
    return next((e.get("bytes") for e in entries if e["format"] == fmt and e["precision"] == Precision.FP32), None)
