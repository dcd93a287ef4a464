"""``posepipe run``: checkpoint -> data -> convert every format -> validate each
against the Keras reference -> manifest. One call, one manifest."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import models
from calibration.coco import CocoKeypoints
from calibration.preprocess import PADDING
from calibration.samples import load_top_down
from converters import ConversionRequest
from models.formats import Format, Precision
from models.spec import ModelSpec
from pipeline.atomic import clean_temporaries, remove
from pipeline.checkpoint import RECORD_FILE, Checkpoint, load_checkpoint, trained_checkpoint
from pipeline.console import Console
from pipeline.convert import Built, artifact_path, build
from pipeline.data import Data, resolve_data, synth_config
from pipeline.hashing import sha256_path
from pipeline.manifest import SCHEMA, artifact_entry, passed, write_manifest
from pipeline.versions import tool_versions
from validators.validate import Reference, validate

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
    val_samples: int | None = None
    epochs: int | None = None
    threads: int = 1
    seed: int = 0


def run(settings: RunSettings, console: Console) -> dict[str, Any]:
    spec = models.get(settings.model)
    config = spec.config(settings.preset, dict(settings.overrides))
    schedule = spec.schedule_for(settings.preset)
    if settings.epochs is not None:
        schedule = replace(schedule, epochs=settings.epochs)
    out = settings.out / spec.name
    clean_temporaries(out)
    data = resolve_data(settings.data, settings.cache, synth_config(schedule, settings.seed), console)
    checkpoint, model = _checkpoint(settings, spec, config, schedule, data, console)

    val_set = CocoKeypoints.load(data.root, "val", len(spec.keypoints))
    val = load_top_down(val_set, config.input_size, settings.val_samples or schedule.val_images)
    decoder = spec.make_decoder(config)
    reference = Reference.compute(model, spec, decoder, val)
    console.step(f"reference: keras, PCK@0.2 {reference.pck:.3f} on {len(val)} val samples")

    entries = []
    for fmt in settings.formats:
        precision = Precision.FP32
        console.step(f"convert: {artifact_path(out, spec.name, fmt, precision).name}")
        artifact = build(ConversionRequest(model, spec, config.input_size, precision), fmt, out,
                         settings.cache / "logs" / spec.name)
        result = None
        if isinstance(artifact, Built):
            result = validate(artifact.path, reference, spec.tolerances[precision], settings.threads)
        entries.append(artifact_entry(artifact, result))
    _remove_unlisted(out, spec, entries)

    document = {
        "schema": SCHEMA,
        "model": spec.name,
        "preset": settings.preset,
        "config": asdict(config),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "checkpoint": checkpoint.to_json(),
        "input": {**asdict(spec.input), "size": list(config.input_size), "crop_padding": PADDING},
        "outputs": [{"name": o.name, "kind": str(o.kind), "stride": o.stride} for o in spec.outputs],
        "keypoints": {"names": list(spec.keypoints.names), "skeleton": [list(e) for e in spec.keypoints.skeleton]},
        "decoder": decoder.name,
        "data": {"root": str(data.root), "synthetic": data.synthetic, "val_split": val_set.split,
                 "val_samples": len(val)},
        "reference": {"runtime": "keras", "pck": reference.pck},
        "passed": passed(entries),
        "artifacts": entries,
        "tools": tool_versions(),
    }
    write_manifest(out / MANIFEST, document)
    return document


def _checkpoint(settings: RunSettings, spec: ModelSpec, config: Any, schedule: Any, data: Data,
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
    left by an earlier run (another checkpoint, another format list) goes."""
    listed = {e["file"] for e in entries}
    for fmt in Format:
        for path in out.glob(f"{spec.name}-*{fmt.suffix}"):
            if path.name not in listed:
                remove(path)
