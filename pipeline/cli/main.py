"""The ``posepipe`` command: a thin entry that parses options into settings and
calls one pipeline function. Heavy imports happen inside the commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from posepipe.converters.recipe import CalibrationMethod, IntegerIO, Recipe
from posepipe.models.errors import PosepipeError
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.cli.artifacts import COMMANDS
from posepipe.pipeline.training.distribute import StrategyKind
from posepipe.validators.perf.targets import DEFAULT_TARGETS, KNOWN

FORMATS = [f.value for f in Format]
PRECISIONS = [p.value for p in Precision]


def _quiet_libraries() -> None:
    """TensorFlow's C++ logs and the converters' progress bars would bury ours."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import logging
    import warnings

    for name in ("coremltools", "tensorflow", "absl", "tf2onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _overrides(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint="-o/--option")
        pairs.append((name.strip(), text.strip()))
    return tuple(pairs)


model_argument = click.argument("model", metavar="MODEL")
preset_option = click.option("--preset", type=click.Choice(["default", "tiny"]), default="default",
                             show_default=True, help="Model size: the deployable default, or the tiny test model.")
override_option = click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
                               help="Override a model config field, e.g. -o input_size=192 -o width=0.5.")
data_option = click.option("--data", type=click.Path(path_type=Path), default=None,
                           help="COCO-keypoints folder (annotations/person_keypoints_<split>.json and "
                                "<split>/ images). Default: the synthetic set, made once into the cache.")
cache_option = click.option("--cache", type=click.Path(path_type=Path), default=None,
                            help="Where data and checkpoints are cached. [default: $POSEPIPE_CACHE or .cache/posepipe]")
epochs_option = click.option("--epochs", type=click.IntRange(min=1), default=None,
                             help="Training epochs instead of the model's default schedule.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Seed for data and training.")
LATENCY_OPTIONS = (
    click.option("--targets", "latency_targets", default=",".join(DEFAULT_TARGETS), show_default=True,
                 help=f"Latency targets: measured on this host or estimated on a named device; known: "
                      f"{', '.join(KNOWN)}."),
    click.option("--budget", "budgets", multiple=True, metavar="TARGET=MS",
                 help="A p50 budget in milliseconds for a target, over the model's own (repeatable)."),
    click.option("--budgets-report-only", is_flag=True,
                 help="Record budget breaches in the manifest but do not fail on them."),
    click.option("--device", default=None, metavar="adb[:SERIAL]",
                 help="Also time .tflite files on an attached Android phone (target adb-cpu-4t); skipped with "
                      "the reason when no phone is ready."),
    click.option("--benchmark-model", default=None, metavar="PATH",
                 help="LiteRT's benchmark_model for the phone: a file here to push, or a path on the phone."),
    click.option("--bench-runs", type=click.IntRange(min=1), default=50, show_default=True,
                 help="Timed invokes per artifact and target."),
    click.option("--bench-warmup", type=click.IntRange(min=0), default=1, show_default=True,
                 help="Warm-up invokes after the first, not timed."),
    click.option("--bench-max-secs", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
                 help="Stop the timed invokes of one artifact and target after this long (at least one runs)."),
    click.option("--profile/--no-profile", "profile_ops", default=True, show_default=True,
                 help="Profile every .tflite and .onnx file op by op (top ops in the manifest)."),
)


def latency_options(command: Any) -> Any:
    for option in reversed(LATENCY_OPTIONS):
        command = option(command)
    return command


def _latency(latency_targets: str, budgets: tuple[str, ...], budgets_report_only: bool, device: str | None,
             benchmark_model: str | None, bench_runs: int, bench_warmup: int, bench_max_secs: float,
             profile_ops: bool) -> Any:
    from posepipe.pipeline.run.latency import LatencyOptions
    from posepipe.validators.perf.adb import device_from_option
    from posepipe.validators.perf.latency import BenchSettings

    names = tuple(dict.fromkeys(t.strip() for t in latency_targets.split(",") if t.strip()))
    unknown = [n for n in names if n not in KNOWN]
    if unknown or not names:
        raise click.BadParameter(f"unknown target {', '.join(unknown)!r}; choose from {', '.join(KNOWN)}"
                                 if unknown else "name at least one target", param_hint="--targets")
    return LatencyOptions(
        targets=names, budgets=tuple(_budget(text) for text in budgets),
        settings=BenchSettings(warmup=bench_warmup, runs=bench_runs, max_secs=bench_max_secs),
        enforce=not budgets_report_only,
        device=device_from_option(device, benchmark_model) if device else None, profile=profile_ops)


def _budget(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        milliseconds = float(value)
    except ValueError:
        milliseconds = -1.0
    if not sep or not name.strip() or not milliseconds > 0:
        raise click.BadParameter(f"{text!r} is not TARGET=MS with MS > 0 (e.g. host-cpu-1t=25)",
                                 param_hint="--budget")
    return name.strip(), milliseconds


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="posepipe")
def cli() -> None:
    """posepipe: pose-estimation models to phones, verified.

    Trains or loads a checkpoint, converts it to TFLite, ONNX and Core ML, and
    checks every file against the Keras reference on labelled images before it
    is listed in artifacts/<model>/manifest.json.
    """


@cli.command("list")
@click.option("--names", is_flag=True, help="Only the model names, one a line (for scripts and CI matrices).")
def list_models(names: bool) -> None:
    """Show the model zoo: input size, parameters, MACs, keypoints, outputs, budgets."""
    _quiet_libraries()
    from posepipe import models
    from posepipe.pipeline.engine.console import Console
    from posepipe.validators.perf.macs import count
    from rich.table import Table

    if names:
        click.echo("\n".join(models.names()))
        return
    table = Table(title="posepipe model zoo (default config)")
    for column in ("model", "input", "params", "GMAC", "keypoints", "outputs", "budgets (p50 ms)", "seed", "summary"):
        table.add_column(column)
    for name in models.names():
        spec = models.get(name)
        h, w = spec.default.input_size
        cost = count(spec.build(spec.default))
        budgets = ", ".join(f"{t} {ms:g}" for t, ms in spec.budgets.items()) or "-"
        outputs = ", ".join(f"{o.name}/{o.stride or o.kind}" for o in spec.outputs_for(spec.default))
        keypoints = str(len(spec.keypoints))
        table.add_row(name, f"{h}x{w}", f"{cost.params / 1e6:.2f} M", f"{cost.gmacs:.3f}", keypoints, outputs, budgets,
                      spec.seed, spec.summary)
    Console().out.print(table)


@cli.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--train-images", type=click.IntRange(min=1), default=2400, show_default=True)
@click.option("--val-images", type=click.IntRange(min=1), default=200, show_default=True)
@seed_option
def synth(out: Path, train_images: int, val_images: int, seed: int) -> None:
    """Write the synthetic COCO-keypoints dataset to OUT (train and val splits)."""
    from posepipe.calibration.synthetic import SynthConfig, generate
    from posepipe.pipeline.engine.atomic import atomic_path
    from posepipe.pipeline.engine.console import Console

    console = Console()
    config = SynthConfig(seed=seed, train_images=train_images, val_images=val_images)
    with atomic_path(out) as temp, console.progress("images", train_images + val_images) as advance:
        generate(temp, config, advance)
    console.step(f"wrote {out}")


@cli.command()
@model_argument
@preset_option
@override_option
@data_option
@epochs_option
@seed_option
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Instead of the schedule's.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak learning rate (cosine decay) instead of the schedule's.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for model.keras, training.json and epochs/. [default: artifacts/<model>/checkpoint]")
@click.option("--resume-from", type=click.IntRange(min=1), default=None, metavar="EPOCH",
              help="Continue an earlier training in --out from the end of EPOCH (its epochs/ weights "
                   "and training.json), e.g. the epoch whose val PCK was best, instead of starting afresh.")
@click.option("--resume", "resume_last", is_flag=True,
              help="Continue from the last complete epoch in --out (an interrupted training's <out>.partial/ "
                   "first). An interrupted training of the same settings resumes without it too.")
@click.option("--strategy", type=click.Choice([k.value for k in StrategyKind]), default="default",
              show_default=True, help="tf.distribute strategy: default (one replica), mirrored (every GPU, or "
                                      "the CPU's logical devices), multi-worker (the cluster in TF_CONFIG).")
@click.option("--cpu-replicas", type=click.IntRange(min=1), default=None, metavar="N",
              help="Split the CPU into N logical devices first (--strategy mirrored on a machine with no GPU).")
@cache_option
def train(model: str, preset: str, options: tuple[str, ...], data: Path | None, epochs: int | None,
          seed: int, batch_size: int | None, learning_rate: float | None, out: Path | None,
          resume_from: int | None, resume_last: bool, strategy: str, cpu_replicas: int | None,
          cache: Path | None) -> None:
    """Train MODEL and write a .keras checkpoint plus its training record (JSON).

    Staged schedules (BlazePose: heatmap pre-training, then regression
    fine-tuning) number epochs across stages; --epochs sets each stage's.
    --batch-size is per replica: the global batch is it times the replicas.
    """
    _quiet_libraries()
    from dataclasses import replace

    from posepipe import models
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.checkpoint import train_into
    from posepipe.pipeline.run.data import resolve_data, synth_config
    from posepipe.pipeline.run.orchestrate import default_cache
    from posepipe.pipeline.training.distribute import distribution

    if resume_from is not None and resume_last:
        raise click.BadParameter("give --resume or --resume-from, not both", param_hint="--resume")
    console = Console()
    chosen = distribution(StrategyKind(strategy), cpu_replicas)  # before TensorFlow does anything else
    spec = models.get(model)
    config = spec.config(preset, dict(_overrides(options)))
    changes = {"batch_size": batch_size, "learning_rate": learning_rate}
    schedule = replace(spec.schedule_for(preset), **{k: v for k, v in changes.items() if v is not None})
    schedule = schedule.with_epochs(epochs) if epochs is not None else schedule
    resolved = resolve_data(data, cache or default_cache(), synth_config(spec, schedule, seed), console)
    folder = out or Path("artifacts") / spec.name / "checkpoint"
    train_into(folder, spec, config, schedule, resolved, console, seed, resume_from, resume_last, chosen)


@cli.command("bench-train")
@model_argument
@preset_option
@override_option
@data_option
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True,
              help="Batches timed for each rate (after a warm-up of 3).")
@click.option("--images", type=click.IntRange(min=1), default=256, show_default=True,
              help="Training crops the pipeline draws from (whole batches).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the figures to this JSON file.")
@seed_option
@cache_option
def bench_train_command(model: str, preset: str, options: tuple[str, ...], data: Path | None, steps: int,
                        images: int, json_out: Path | None, seed: int, cache: Path | None) -> None:
    """Time the training input pipeline (images/s of augmentation and target
    encoding) against the model's training steps on this machine."""
    _quiet_libraries()
    from posepipe import models
    from posepipe.pipeline.diagnostics.bench_train import bench_train
    from posepipe.pipeline.engine.atomic import write_json
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.data import resolve_data, synth_config
    from posepipe.pipeline.run.orchestrate import default_cache

    console = Console()
    spec = models.get(model)
    config = spec.config(preset, dict(_overrides(options)))
    schedule = spec.schedule_for(preset)
    resolved = resolve_data(data, cache or default_cache(), synth_config(spec, schedule, seed), console)
    result = bench_train(spec, config, preset, schedule, resolved, steps, images, console, seed)
    for line in result.lines():
        click.echo(line)
    if json_out is not None:
        write_json(json_out, result.to_json())


@cli.command()
@model_argument
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="A .keras checkpoint to convert (loaded in Keras safe mode). Default: train the "
                   "model's short schedule once and reuse it.")
@preset_option
@override_option
@data_option
@click.option("--formats", default=",".join(FORMATS), show_default=True,
              help=f"Comma-separated formats to build: {', '.join(FORMATS)}.")
@click.option("--precisions", default=None, metavar="LIST",
              help=f"Comma-separated precisions to build where a format offers them: {', '.join(PRECISIONS)}; "
                   "or 'all'. [default: fp32,fp16,int8 for TFLite and ONNX; fp32,fp16,w8 for Core ML mlprogram; "
                   "fp32 for coreml-nn]")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=200, show_default=True,
              help="Images the int8 quantizers calibrate on, drawn from the training split.")
@click.option("--calibration-data", type=click.Path(path_type=Path), default=None,
              help="Calibrate on this COCO-format folder (its train split) or plain image folder instead.")
@click.option("--int8-input", type=click.Choice([t.value for t in IntegerIO]), default="int8", show_default=True,
              help="Input type of the full-integer TFLite model (uint8 takes camera pixels as they come).")
@click.option("--int8-output", type=click.Choice([t.value for t in IntegerIO]), default="int8",
              show_default=True, help="Output type of the full-integer TFLite model.")
@click.option("--onnx-calibration", type=click.Choice([m.value for m in CalibrationMethod]), default="percentile",
              show_default=True, help="How ONNX Runtime turns calibration activations into int8 ranges.")
@click.option("--per-channel/--per-tensor", default=True, show_default=True,
              help="ONNX int8 weight scales per output channel or per tensor.")
@click.option("--keep-float", multiple=True, metavar="LAYER",
              help="Keep this Keras layer in float in int8 files (repeat for more); a failed int8 file's "
                   ".sensitivity.json names the worst layers.")
@click.option("--auto-mixed-precision", is_flag=True,
              help="When an int8 file fails its checks, rebuild it with its 1, 2, 4, then 8 most sensitive "
                   "layers in float until it passes.")
@click.option("--val-samples", type=click.IntRange(min=1), default=None,
              help="Labelled val samples to validate on. [default: the schedule's val size]")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runtime threads for validation.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
              help="Artifacts root; files go to OUT/<model>/.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="this machine's cores",
              help="Worker processes converting and validating artifacts side by side (latency is always "
                   "measured one artifact at a time).")
@click.option("--force", is_flag=True,
              help="Redo every conversion, validation, timing and the report even when up to date (the "
                   "cached data, calibration set and checkpoint stay: delete them from --cache to redo those).")
@latency_options
@epochs_option
@seed_option
@cache_option
def run(model: str, checkpoint: Path | None, preset: str, options: tuple[str, ...], data: Path | None,
        formats: str, precisions: str | None, calibration_samples: int, calibration_data: Path | None,
        int8_input: str, int8_output: str, onnx_calibration: str, per_channel: bool, keep_float: tuple[str, ...],
        auto_mixed_precision: bool, val_samples: int | None, threads: int, out: Path, epochs: int | None,
        seed: int, cache: Path | None, jobs: int, force: bool, **latency: Any) -> None:
    """Convert MODEL to every format and verify each file; time each on the latency
    targets against the model's budgets; write the manifest.

    Every stage is keyed by its inputs: a rerun redoes only what changed and says
    what was up to date. Exits 0 only when every executed artifact passed its
    checks and its budgets.
    """
    _quiet_libraries()
    from posepipe.converters import ConversionError
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.errors import ChecksFailedError
    from posepipe.pipeline.run.latency import breaches
    from posepipe.pipeline.run.orchestrate import MANIFEST, RunSettings, default_cache
    from posepipe.pipeline.run.orchestrate import run as run_pipeline
    from posepipe.pipeline.run.summary import print_summary

    settings = RunSettings(
        model=model, preset=preset, overrides=_overrides(options), data=data, checkpoint=checkpoint,
        out=out, cache=cache or default_cache(), formats=_formats(formats), precisions=_precisions(precisions),
        recipe=Recipe(int8_input=IntegerIO(int8_input), int8_output=IntegerIO(int8_output),
                      onnx_calibration=CalibrationMethod(onnx_calibration), per_channel=per_channel,
                      keep_float=keep_float),
        calibration_samples=calibration_samples, calibration_data=calibration_data,
        auto_mixed_precision=auto_mixed_precision, val_samples=val_samples, epochs=epochs, threads=threads,
        seed=seed, latency=_latency(**latency), jobs=jobs, force=force,
    )
    console = Console()
    manifest = run_pipeline(settings, console)
    print_summary(console, manifest)
    where = out / manifest["model"] / MANIFEST
    failed = [a for a in manifest["artifacts"] if a["validation"]["status"] == "failed"]
    for entry in failed:
        console.err.print(f"[red]FAILED[/] {entry['file']}: {'; '.join(entry['validation']['failures'])}")
    if any("bytes" not in a for a in failed):
        raise ConversionError(f"{sum('bytes' not in a for a in failed)} conversion(s) failed; see {where}")
    if failed:
        total = len(manifest["artifacts"])
        raise ChecksFailedError(f"{len(failed)} of {total} artifacts failed their checks; see {where}")
    _judge_budgets(console, breaches(manifest["artifacts"]), settings.latency.enforce, where)
    console.step(f"all executed artifacts passed; manifest: {where}")


@cli.command("validate")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="The .keras checkpoint the artifact was converted from (loaded in Keras safe mode).")
@click.option("--model", default=None, help="Zoo model. [default: from the file name, <model>-<precision>.<ext>]")
@click.option("--precision", type=click.Choice([p.value for p in Precision]), default=None,
              help="The artifact's precision. [default: from the file name]")
@preset_option
@override_option
@data_option
@click.option("--val-samples", type=click.IntRange(min=1), default=None,
              help="Labelled val samples to validate on. [default: the schedule's val size]")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runtime threads for validation.")
@seed_option
@cache_option
def validate_command(artifact: Path, checkpoint: Path, model: str | None, precision: str | None, preset: str,
                     options: tuple[str, ...], data: Path | None, val_samples: int | None, threads: int,
                     seed: int, cache: Path | None) -> None:
    """Validate one existing ARTIFACT file again against the Keras checkpoint.

    Runs the checks `posepipe run` runs (tensors, decoded keypoints, PCK) on the
    val split. Core ML files run in Core ML on macOS and in the reference
    evaluator elsewhere. A manifest beside the file that lists another sha256
    fails it too. Exits 0 only when the artifact passed.
    """
    _quiet_libraries()
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.errors import ChecksFailedError
    from posepipe.pipeline.run.orchestrate import default_cache
    from posepipe.pipeline.run.summary import print_summary
    from posepipe.pipeline.run.validate import ValidateSettings, revalidate

    settings = ValidateSettings(
        artifact=artifact, checkpoint=checkpoint, model=model,
        precision=Precision(precision) if precision else None, preset=preset, overrides=_overrides(options),
        data=data, cache=cache or default_cache(), val_samples=val_samples, threads=threads, seed=seed,
    )
    console = Console()
    document = revalidate(settings, console)
    print_summary(console, document)
    validation = document["artifacts"][0]["validation"]
    if validation["status"] == "failed":
        for failure in validation["failures"]:
            console.err.print(f"[red]FAILED[/] {artifact.name}: {failure}")
        raise ChecksFailedError(f"{artifact.name} failed {len(validation['failures'])} check(s)")
    console.step(f"{artifact.name}: passed ({validation['runtime']})")


@cli.command("bench")
@click.argument("items", nargs=-1, required=True, metavar="MODEL|ARTIFACT...")
@click.option("--out", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
              help="Artifacts root of the run(s) to measure (OUT/<model>/manifest.json).")
@latency_options
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the table, comparisons and profiles to this JSON file (for CI trends).")
def bench_command(items: tuple[str, ...], out: Path, json_out: Path | None, **latency: Any) -> None:
    """Time every artifact of MODEL's last run (or the ARTIFACT files named) on
    each target: load, first inference, p50/p90/mean/std of the timed runs, peak
    memory growth, GMAC/s; estimates for named devices with their basis; budget
    verdicts; speed against fp32 and the Keras reference; per-op hot spots.

    Exits 11 when an artifact breaks a budget, unless --budgets-report-only.
    """
    _quiet_libraries()
    from posepipe.pipeline.diagnostics.bench import bench, print_bench
    from posepipe.pipeline.engine.atomic import write_json
    from posepipe.pipeline.engine.console import Console

    console = Console()
    options = _latency(**latency)
    document = bench(items, out, options, console)
    print_bench(console, document)
    if json_out is not None:
        write_json(json_out, document)
    _judge_budgets(console, document["breaches"], options.enforce, json_out or "the table above")


def _judge_budgets(console: Any, breaches: list[str], enforce: bool, where: Any) -> None:
    """Every breach on its own line; the run fails on them unless report-only."""
    from posepipe.pipeline.errors import BudgetExceededError

    for line in breaches:
        console.err.print(f"[red]OVER BUDGET[/] {line}" if enforce else f"over budget (report only): {line}")
    if breaches and enforce:
        more = f" (and {len(breaches) - 1} more)" if len(breaches) > 1 else ""
        raise BudgetExceededError(f"{breaches[0]}{more}; see {where}")


@cli.command("dark-check")
@click.argument("model", metavar="MODEL", default="simplebaseline")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="The .keras checkpoint whose val PCK to decode three ways. Default: the model's own "
                   "default checkpoint (trained once, as `posepipe run` does).")
@preset_option
@override_option
@data_option
@click.option("--samples", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Synthetic Gaussian heatmaps per noise level.")
@click.option("--noise", "noises", type=click.FloatRange(min=0), multiple=True, default=(0.0, 0.1),
              show_default=True, help="Noise levels (std of added Gaussian noise, peak 1); repeat for more.")
@click.option("--val-samples", type=click.IntRange(min=1), default=None,
              help="Labelled val people for the PCK comparison. [default: the schedule's val size]")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the figures to this JSON file.")
@seed_option
@cache_option
def dark_check_command(model: str, checkpoint: Path | None, preset: str, options: tuple[str, ...],
                       data: Path | None, samples: int, noises: tuple[float, ...], val_samples: int | None,
                       json_out: Path | None, seed: int, cache: Path | None) -> None:
    """DARK against argmax: mean localisation error on synthetic sub-cell Gaussian
    heatmaps at MODEL's heatmap resolution (argmax, argmax + quarter offset, DARK),
    then the checkpoint's val PCK@0.2 under each decoding."""
    _quiet_libraries()
    from posepipe.pipeline.diagnostics.darkcheck import dark_check
    from posepipe.pipeline.engine.atomic import write_json
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.orchestrate import RunSettings, default_cache

    settings = RunSettings(model=model, preset=preset, overrides=_overrides(options), data=data,
                           checkpoint=checkpoint, cache=cache or default_cache(), val_samples=val_samples, seed=seed)
    document = dark_check(settings, samples, noises, Console())
    if json_out is not None:
        write_json(json_out, document)


for _command in COMMANDS:
    cli.add_command(_command)


def _precisions(text: str | None) -> tuple[Precision, ...] | None:
    if text is None:
        return None
    if text.strip() == "all":
        return tuple(Precision)
    chosen = []
    for name in (t.strip() for t in text.split(",") if t.strip()):
        if name not in PRECISIONS:
            raise click.BadParameter(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}",
                                     param_hint="--precisions")
        chosen.append(Precision(name))
    if not chosen:
        raise click.BadParameter("name at least one precision", param_hint="--precisions")
    return tuple(chosen)


def _formats(text: str) -> tuple[Format, ...]:
    chosen = []
    for name in (t.strip() for t in text.split(",") if t.strip()):
        if name not in FORMATS:
            choices = ", ".join(FORMATS)
            raise click.BadParameter(f"unknown format {name!r}; choose from {choices}", param_hint="--formats")
        chosen.append(Format(name))
    if not chosen:
        raise click.BadParameter("no format given", param_hint="--formats")
    return tuple(dict.fromkeys(chosen))


def main(argv: list[str] | None = None) -> Any:
    """Console entry: PosepipeErrors become one line on stderr and their exit code."""
    from posepipe.pipeline.engine.logs import filtered_stderr

    if argv is None:
        _fix_hash_seed()

    with filtered_stderr() as terminal:
        python_stderr, sys.stderr = sys.stderr, terminal
        try:
            _main(argv)
        finally:
            sys.stderr = python_stderr


def _fix_hash_seed() -> None:
    """Run the command with Python's string hashing seeded (PYTHONHASHSEED=0).

    ONNX Runtime's quantizer walks Python sets of tensor names, whose order follows
    the per-process hash seed: the same model, calibration set and settings gave
    int8 .onnx files with their nodes in another order on every run. The seed is
    fixed once at start-up (it cannot change in a running interpreter) by
    re-executing the same command line; pool workers inherit it.
    """
    if os.environ.get("PYTHONHASHSEED") == "0":
        return
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def _main(argv: list[str] | None) -> None:
    from posepipe.pipeline.errors import INTERRUPTED_EXIT_CODE

    try:
        cli.main(args=argv, prog_name="posepipe", standalone_mode=False)
    except PosepipeError as error:
        click.echo(f"posepipe: error: {error}", err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("posepipe: interrupted", err=True)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except KeyboardInterrupt:
        click.echo("posepipe: interrupted", err=True)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    sys.exit(0)
