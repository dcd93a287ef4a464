"""``posepipe run``: checkpoint -> data -> convert every format -> validate each
against the Keras reference -> time each -> manifest -> report. One call, one manifest.

Every stage is keyed by its inputs (pipeline/engine/records.py): a rerun does only the
stages whose inputs changed and says which were up to date; ``--force`` redoes all.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from posepipe import models
from posepipe.converters import CONVERTERS
from posepipe.converters.recipe import Recipe
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision, Variant
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.engine.atomic import clean_temporaries, remove
from posepipe.pipeline.engine.console import Console, replay
from posepipe.pipeline.engine.hashing import key, sha256_path
from posepipe.pipeline.engine.keys import LATENCY_SOURCES, REPORT_SOURCES, sources
from posepipe.pipeline.engine.pool import Done, Job, build_all, describe
from posepipe.pipeline.engine.records import StageCache
from posepipe.pipeline.engine.versions import tool_versions
from posepipe.pipeline.errors import ManifestError
from posepipe.pipeline.manifest import MANIFEST, SCHEMA, finite, passed, read_manifest, write_manifest
from posepipe.pipeline.manifest.document import (
    CheckpointRecord,
    ContractRecord,
    DataRecord,
    Disabled,
    InputRecord,
    KeypointsRecord,
    LatencyPlanRecord,
    Manifest,
    ModelOutput,
    ReferenceRecord,
)
from posepipe.pipeline.manifest.records import ArtifactRecord
from posepipe.pipeline.report.page import REPORT, write_report
from posepipe.pipeline.run.checkpoint import (
    RECORD_FILE,
    Checkpoint,
    load_checkpoint,
    trained_checkpoint,
    weights_sha256,
)
from posepipe.pipeline.run.checkpoint_formats import read_checkpoint
from posepipe.pipeline.run.contract import attach as attach_contract
from posepipe.pipeline.run.contract import golden_name, model_contract, write_golden
from posepipe.pipeline.run.convert import artifact_path
from posepipe.pipeline.run.coverage import attach as attach_coverage
from posepipe.pipeline.run.coverage import required, shortfalls
from posepipe.pipeline.run.data import Data, resolve_data, synth_config
from posepipe.pipeline.run.end_to_end import end_to_end
from posepipe.pipeline.run.inputs import Inputs, RunSettings, worker_workspace
from posepipe.pipeline.run.latency import LatencyPlan, artifact_latency, breaches, plan, reference_latency
from posepipe.pipeline.run.matrix import MatrixCell, cells, left_out
from posepipe.pipeline.run.publish import keep_verified, publish
from posepipe.pipeline.run.sources import Source, derived_sources, unbuilt_entry
from posepipe.validators.accuracy.task import HEAD_METRIC_LABEL, TaskMetric
from posepipe.validators.perf.latency import decoder_timing
from posepipe.validators.perf.macs import ModelCost, count


def default_cache() -> Path:
    return Path(os.environ.get("POSEPIPE_CACHE", ".cache/posepipe"))


def run(settings: RunSettings, console: Console) -> dict[str, Any]:
    """Every stage whose record is not up to date, in order: data, checkpoint,
    calibration, reference, each artifact (side by side), each timing, manifest, report."""
    started = time.perf_counter()
    import keras  # noqa: F401  (timed apart: the one start-up cost a rerun cannot avoid)

    imported = time.perf_counter() - started
    spec, config = models.get(settings.model).configured(settings.preset, dict(settings.overrides))
    schedule = spec.schedule_for(settings.preset)
    if settings.epochs is not None:
        schedule = schedule.with_epochs(settings.epochs)
    chosen = cells(settings.formats, settings.precisions, spec.disabled, settings.variants,
                   spec.disabled_files)  # a bad choice fails before any work
    disabled = _left_out(settings, spec, console)
    latency = plan(spec, settings.latency)
    out = settings.out / spec.name
    clean_temporaries(out)
    stages = StageCache(settings.cache / "stages" / spec.name, out, settings.force)
    data = resolve_data(settings.data, settings.cache, synth_config(spec, schedule, settings.seed), console)
    checkpoint, model = checkpoint_for(settings, spec, config, schedule, data, console)
    _check_keep_float(settings.recipe, model, spec)
    inputs = Inputs(settings, spec, config, schedule, data, model, checkpoint,
                    any(t.precision.calibrated for t in chosen), console)

    reference = _reference(inputs, stages, console)
    entries = _artifacts(inputs, chosen, stages, console)
    cost = count(model)
    reference_timing = _latency(entries, inputs, cost, latency, stages, console)
    end_to_end(entries, inputs, stages, _machine(), console)
    attach_coverage(entries, inputs.out)
    contract = model_contract(spec, config)
    write_golden(out, contract)
    attach_contract(entries, contract, spec)
    artifacts = tuple(ArtifactRecord.from_json(e) for e in entries)
    manifest = Manifest(
        schema=SCHEMA, model=spec.name, version=spec.version, license=spec.license, preset=settings.preset,
        config=asdict(config), created=datetime.now(UTC).isoformat(timespec="seconds"),
        checkpoint=CheckpointRecord.of(checkpoint), input=InputRecord.of(spec, config),
        outputs=tuple(ModelOutput.of(o) for o in spec.outputs_for(config)),
        keypoints=KeypointsRecord.of(spec.keypoints), decoder=inputs.decoder,
        data=DataRecord(str(data.root), data.synthetic, reference["split"], reference["samples"]),
        reference=ReferenceRecord(TaskMetric(reference["metric"]), reference["score"], reference_timing,
                                  reference.get("decoder"), pckh=reference.get("pckh")),
        model_stats=cost, latency=LatencyPlanRecord.of(latency),
        passed=passed(artifacts) and not (latency.enforce and breaches(entries))
        and not shortfalls(entries, required(spec)),
        artifacts=artifacts, disabled=tuple(Disabled.from_json(d) for d in disabled),
        reproducible={str(c.format): CONVERTERS[c.format].deterministic for c in chosen}, tools=tool_versions(),
        contract=ContractRecord.from_json(contract),
    )
    document = _manifest(out / MANIFEST, manifest.to_json(), console)
    _report(out / MANIFEST, document, inputs, stages, console)
    console.step(f"stages: {len(stages.fresh)} up to date, {len(stages.redone)} run; "
                 f"{time.perf_counter() - started:.1f}s, of which {imported:.1f}s importing TensorFlow")
    return document


def _reference(inputs: Inputs, stages: StageCache, console: Console) -> dict[str, Any]:
    """The reference's PCK and sample count for the manifest (the outputs
    themselves are computed only when an artifact must be validated)."""
    stage_key = inputs.reference_key()
    found = stages.get("reference", stage_key)
    if found is not None:
        label = TaskMetric(found["metric"]).label
        console.step(f"reference: up to date, {label} {found['score']:.3f} on {found['samples']} val samples")
        return found
    reference, val_set = inputs.validation
    value = {"metric": str(reference.task.metric), "score": reference.score, "samples": len(reference.samples),
             "split": val_set.split, "decoder": decoder_timing(reference.decoder, reference.outputs)}
    if reference.head_score is not None:  # the keypoint set has a head segment
        value["pckh"] = reference.head_score
        console.step(f"reference: {HEAD_METRIC_LABEL} {reference.head_score:.3f}")
    decoding = value["decoder"]
    console.step(f"decoder: {decoding['name']} p50 {decoding['p50_ms']:.2f} ms per image "
                 f"(p90 {decoding['p90_ms']:.2f}), NumPy on this host")
    stages.put("reference", stage_key, value)
    return value


def _artifacts(inputs: Inputs, chosen: tuple[MatrixCell, ...], stages: StageCache,
               console: Console) -> list[dict[str, Any]]:
    """Each artifact's entry: from its record when up to date, else built and
    checked under a staging name, then published with the others only if no
    verified file would be lost (pipeline/run/publish.py); till then the folder
    and its manifest stay as they were. Cells made from another cell's file (an
    .ort from its .onnx) come second, from that file once it passed."""
    out, name = inputs.out, inputs.spec.name
    entries: dict[MatrixCell, dict[str, Any]] = {}
    built = _phase(inputs, [c for c in chosen if c.source is None], {}, stages, entries, console)
    derived = [c for c in chosen if c.source is not None]
    if derived:
        sources = derived_sources(derived, entries, built, out)
        built += _phase(inputs, derived, sources, stages, entries, console)
    logs = inputs.settings.cache / "logs" / name
    keep_verified(built, out, logs, console)  # a failed rebuild of a verified file stops the run here
    ordered = [entries[c] for c in chosen]
    if built or _unlisted(out, name, ordered):
        _invalidate(out)  # from here on the folder changes: no manifest may vouch for it until the end
        for done in built:
            placed = publish(done, out)
            if done.passed:  # a failure is never recorded as done: the next run tries again
                stages.put(f"artifact-{done.job.name}", done.job.key, done.entry, placed)
        _remove_unlisted(out, name, ordered)
    return _size_ratios(ordered)


def _phase(inputs: Inputs, chosen: list[MatrixCell], sources: dict[MatrixCell, Source | str], stages: StageCache,
           entries: dict[MatrixCell, dict[str, Any]], console: Console) -> list[Done]:
    """One round of cells into ``entries``: up to date from their records, the rest
    built. A derived cell whose source did not pass is listed as failed, unbuilt."""
    out, name = inputs.out, inputs.spec.name
    jobs, fresh = [], []
    for cell in chosen:
        file = artifact_path(out, name, cell.format, cell.precision, cell.variant).name
        source = sources.get(cell)
        if isinstance(source, str):
            entries[cell] = unbuilt_entry(out / file, cell, source)
            continue
        job = Job(cell, file, key(inputs.artifact_key(cell), source.sha256) if source else inputs.artifact_key(cell))
        found = stages.get(f"artifact-{file}", job.key)
        if found is None:
            jobs.append(job)
        else:
            entries[cell] = found
            fresh.append(file)
    if fresh:
        console.step(f"artifacts up to date: {', '.join(fresh)}")
    if not jobs:
        return []
    built = _build_derived(inputs, jobs, sources, console) if sources else _build(inputs, jobs, console)
    entries |= {done.job.cell: done.entry for done in built}
    return built


def _build(inputs: Inputs, jobs: list[Job], console: Console) -> list[Done]:
    """Every job converted and validated in its staging folder; on any failure
    (a full disk, a killed worker, ^C) the staging folders go and the folder is
    as it was."""
    setup = partial(worker_workspace, inputs.settings, inputs.checkpoint, inputs.data, inputs.calibrated)
    logs = inputs.settings.cache / "logs" / inputs.spec.name
    built = []
    try:
        for done in build_all(jobs, inputs.settings.jobs, inputs.workspace(), setup, logs, console):
            replay(console, done.messages)
            console.note(describe(done))
            built.append(done)
    except BaseException:
        clean_temporaries(inputs.out)  # the finished ones' staging folders, and a killed worker's half-written file
        raise
    return built


def _build_derived(inputs: Inputs, jobs: list[Job], sources: dict[MatrixCell, Source | str],
                   console: Console) -> list[Done]:
    """In this process (a derived conversion is ONNX Runtime reading a file: no
    TensorFlow, well under a second), each from its source's file."""
    base = inputs.workspace()
    paths = {cell: source.path for cell, source in sources.items() if isinstance(source, Source)}
    workspace = replace(base, make_request=lambda cell: replace(base.make_request(cell), calibration=None,
                                                                 source=paths[cell]))
    logs = inputs.settings.cache / "logs" / inputs.spec.name
    built = []
    try:
        for done in build_all(jobs, 1, workspace, lambda: workspace, logs, console):
            console.note(describe(done))
            built.append(done)
    except BaseException:
        clean_temporaries(inputs.out)
        raise
    return built


def _left_out(settings: RunSettings, spec: ModelSpec, console: Console) -> list[dict[str, str]]:
    """The default paths the model disables, said up front and kept for the manifest."""
    rows = [{"format": str(c.format), "precision": str(c.precision), "reason": why}
            | ({"variant": str(c.variant)} if c.variant is not Variant.TENSOR else {})
            for c, why in left_out(settings.formats, settings.precisions, spec.disabled, settings.variants,
                                   spec.disabled_files)]
    for row in rows:
        label = " ".join(row[k] for k in ("format", "precision", "variant") if k in row)
        console.step(f"matrix: {spec.name} {label} left out by the model: {row['reason']}")
    return rows


def _latency(entries: list[dict[str, Any]], inputs: Inputs, cost: ModelCost, latency: LatencyPlan,
             stages: StageCache, console: Console) -> dict[str, Any]:
    """Time every built artifact into its manifest entry, then the reference;
    one at a time, on the cores nothing else is using. A timing is keyed by the
    file's digest, the plan and this machine."""
    console.step(f"latency: targets {', '.join(t.name for t in latency.targets)}; "
                 f"budgets {', '.join(f'{t}={ms:g} ms' for t, ms in latency.budgets.items()) or 'none'}")
    shape = (1, *inputs.config.input_size, 3)
    feed = (inputs.spec.input.name, shape)
    timed = key(latency.to_json(), cost.to_json(), feed, _machine(), sources(*LATENCY_SOURCES), tool_versions())
    fresh = []
    for entry in entries:
        if "bytes" not in entry:
            continue  # a failed conversion has no file to time
        stage, stage_key = f"latency-{entry['file']}", key(entry["sha256"], entry["precision"], timed)
        found = stages.get(stage, stage_key)
        if found is not None:
            entry["latency"] = found
            fresh.append(entry["file"])
            continue
        console.step(f"latency: {entry['file']}")
        entry["latency"] = artifact_latency(inputs.out / entry["file"], Precision(entry["precision"]), *feed, cost,
                                            latency, console)
        stages.put(stage, stage_key, entry["latency"])
    if fresh:
        console.step(f"latency up to date: {', '.join(fresh)}")
    stage_key = key(inputs.checkpoint.weights_sha256, timed)
    found = stages.get("latency-reference", stage_key)
    if found is None:
        found = reference_latency(inputs.model, *feed, cost, latency.settings)
        stages.put("latency-reference", stage_key, found)
    return found


def _machine() -> dict[str, Any]:
    """What a timing was taken on: another machine's timings are not this one's."""
    return {"node": platform.node(), "machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count()}


def _manifest(path: Path, document: dict[str, Any], console: Console) -> dict[str, Any]:
    """Write the manifest unless the one there says the same (bar its date); one
    that is missing, unreadable or not a valid manifest is simply written over."""
    try:
        old = read_manifest(path)
    except ManifestError:
        old = None
    document = json.loads(json.dumps(finite(document), default=str))  # as it reads back
    if old is not None and {**document, "created": old.get("created")} == old:
        console.step(f"manifest: up to date ({path})")
        return old
    write_manifest(path, document)
    return document


def _report(manifest: Path, document: dict[str, Any], inputs: Inputs, stages: StageCache,
            console: Console) -> None:
    report = manifest.with_name(REPORT)
    stage_key = key(document, sources(*REPORT_SOURCES))
    if stages.get("report", stage_key) is not None:
        console.step(f"report: up to date ({report})")
        return
    write_report(manifest, console, reference=inputs.reference)
    stages.put("report", stage_key, report.name, [manifest, report])


def _invalidate(out: Path) -> None:
    """Take the manifest and report away before the folder changes: a run killed
    from here on leaves no manifest vouching for files it no longer describes."""
    remove(out / MANIFEST)
    remove(out / REPORT)


def checkpoint_for(settings: RunSettings, spec: ModelSpec, config: Any, schedule: Any, data: Data,
                console: Console) -> tuple[Checkpoint, Any]:
    if settings.checkpoint is not None:
        loaded = read_checkpoint(settings.checkpoint, spec, config)  # .keras, .h5 or SavedModel
        record = settings.checkpoint.parent / RECORD_FILE
        console.step(f"checkpoint: {settings.checkpoint} ({loaded.format})")
        return Checkpoint(settings.checkpoint, sha256_path(settings.checkpoint), False,
                          record if record.is_file() else None, weights_sha256(loaded.model),
                          loaded.format), loaded.model
    checkpoint = trained_checkpoint(spec, config, schedule, data, settings.cache, console, settings.seed)
    model = load_checkpoint(checkpoint.path, spec, config)
    return replace(checkpoint, weights_sha256=weights_sha256(model)), model


def _unlisted(out: Path, name: str, entries: list[dict[str, Any]]) -> list[Path]:
    """What ``artifacts/<model>/`` holds beyond what the manifest will list: an
    artifact (or its recipe or sensitivity report) left by an earlier run."""
    listed = {e["file"] for e in entries if "sha256" in e}  # an entry without a digest lists no file
    listed |= {e["quantization"][k] for e in entries if "quantization" in e
               for k in ("recipe", "sensitivity") if e["quantization"].get(k)}
    listed |= {c["file"] for e in entries for c in e.get("companions", ())} | {golden_name(name)}
    return [path for path in out.glob(f"{name}-*") if path.name not in listed]


def _remove_unlisted(out: Path, name: str, entries: list[dict[str, Any]]) -> None:
    for path in _unlisted(out, name, entries):
        remove(path)


def _size_ratios(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each quantized file's size against its format's fp32 file, when both were built."""
    for entry in entries:
        if "quantization" in entry and "bytes" in entry:
            fp32 = _fp32_bytes(entries, Format(entry["format"]), entry.get("variant", Variant.TENSOR))
            entry["quantization"]["size_ratio"] = entry["bytes"] / fp32 if fp32 else None
    return entries


def _check_keep_float(recipe: Recipe, model: Any, spec: ModelSpec) -> None:
    unknown = sorted(set(recipe.keep_float) - {layer.name for layer in model.layers})
    if unknown:
        raise ConfigError(f"--keep-float: {spec.name} has no layer {', '.join(unknown)} "
                          "(a failed int8 artifact's .sensitivity.json lists the layer names)")


def _fp32_bytes(entries: list[dict[str, Any]], fmt: Format, variant: str) -> int | None:
    return next((e.get("bytes") for e in entries if e["format"] == fmt and e["precision"] == Precision.FP32
                 and e.get("variant", Variant.TENSOR) == variant), None)
