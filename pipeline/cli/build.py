"""Building and verifying files: ``run`` converts a model to every format and
verifies each file; ``validate`` checks one existing file again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from posepipe.converters.recipe import CalibrationMethod, IntegerIO, Recipe
from posepipe.models.formats import Precision
from posepipe.pipeline.cli.options import (
    FORMATS,
    PRECISIONS,
    VARIANTS,
    cache_option,
    data_option,
    epochs_option,
    judge_budgets,
    latency_options,
    latency_settings,
    no_wait_option,
    override_option,
    overrides,
    parse_formats,
    parse_precisions,
    parse_variants,
    preset_option,
    quiet_libraries,
    seed_option,
)
from posepipe.pipeline.cli.spec import spec_option, use_spec


@click.command()
@click.argument("model", metavar="[MODEL]", required=False)
@spec_option
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="The checkpoint to convert: a .keras file (loaded in Keras safe mode), a legacy Keras .h5 "
                   "(whole model or weights only) or a TensorFlow SavedModel folder (model.export()); from an .h5 "
                   "or SavedModel only the weights are read, by name, into the model's own architecture. "
                   "Default: train the model's short schedule once and reuse it.")
@preset_option
@override_option
@data_option
@click.option("--formats", default=",".join(FORMATS), show_default=True,
              help=f"Comma-separated formats to build: {', '.join(FORMATS)}.")
@click.option("--variants", default=",".join(VARIANTS), show_default=True, envvar="POSEPIPE_VARIANTS",
              help="Which files to build: tensor (the model's tensors: the normalised image in, raw outputs out), "
                   "app (uint8 RGB pixels in, normalised inside the file; TFLite, ONNX, ORT) and keypoints (pixels "
                   "in, the decoder inside the file: keypoints, or a bottom-up model's candidate peaks). App and "
                   "keypoints files are built at fp32 and int8 unless --precisions names others. Core ML files "
                   "take an image already. Also read from POSEPIPE_VARIANTS.")
@click.option("--precisions", default=None, metavar="LIST",
              help=f"Comma-separated precisions to build where a format offers them: {', '.join(PRECISIONS)}; "
                   "or 'all'. [default: fp32,fp16,int8 for TFLite and ONNX; fp32,fp16,w8 for Core ML mlprogram; "
                   "fp32 for coreml-nn]")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=200, show_default=True,
              help="Images the int8 quantizers calibrate on, drawn from the training split.")
@click.option("--calibration-data", type=click.Path(path_type=Path), default=None,
              help="Calibrate on this dataset's train split (COCO 2017, AI Challenger or COCO-format) or plain "
                   "image folder instead.")
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
@no_wait_option
def run(model: str | None, spec_file: Path | None, checkpoint: Path | None, preset: str, options: tuple[str, ...],
        data: Path | None, formats: str, variants: str, precisions: str | None, calibration_samples: int,
        calibration_data: Path | None, int8_input: str, int8_output: str, onnx_calibration: str, per_channel: bool,
        keep_float: tuple[str, ...],
        auto_mixed_precision: bool, val_samples: int | None, threads: int, out: Path, epochs: int | None,
        seed: int, cache: Path | None, jobs: int, force: bool, no_wait: bool, **latency: Any) -> None:
    """Convert MODEL (or the model of --spec FILE) to every format and verify each
    file; time each on the latency targets against the model's budgets; write the manifest.

    Every stage is keyed by its inputs: a rerun redoes only what changed and says
    what was up to date. Exits 0 only when every executed artifact passed its
    checks and its budgets.

    One writer per folder: a second run on OUT/MODEL waits for the first (or stops,
    with --no-wait). A rebuild replaces a verified file only once it passed; a run
    that fails part-way leaves OUT/MODEL as it was.
    """
    quiet_libraries()
    from posepipe.converters import ConversionError
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.engine.lock import writing
    from posepipe.pipeline.engine.snapshot import kept_on_failure
    from posepipe.pipeline.errors import ChecksFailedError
    from posepipe.pipeline.report.page import REPORT
    from posepipe.pipeline.run.latency import breaches
    from posepipe.pipeline.run.orchestrate import MANIFEST, RunSettings, default_cache
    from posepipe.pipeline.run.orchestrate import run as run_pipeline
    from posepipe.pipeline.run.summary import print_summary
    from posepipe.validators.validate import Status

    model = use_spec(model, spec_file, checkpoint)
    settings = RunSettings(
        model=model, spec_file=spec_file, preset=preset, overrides=overrides(options), data=data,
        checkpoint=checkpoint, out=out, cache=cache or default_cache(), formats=parse_formats(formats),
        variants=parse_variants(variants), precisions=parse_precisions(precisions),
        recipe=Recipe(int8_input=IntegerIO(int8_input), int8_output=IntegerIO(int8_output),
                      onnx_calibration=CalibrationMethod(onnx_calibration), per_channel=per_channel,
                      keep_float=keep_float),
        calibration_samples=calibration_samples, calibration_data=calibration_data,
        auto_mixed_precision=auto_mixed_precision, val_samples=val_samples, epochs=epochs, threads=threads,
        seed=seed, latency=latency_settings(**latency), jobs=jobs, force=force,
    )
    console = Console()
    folder = out / model

    def owned(name: str) -> bool:  # what a run writes into its folder (a checkpoint trained there is not its)
        return name.startswith(f"{model}-") or name in (MANIFEST, REPORT)

    with writing(folder, f"posepipe run {model}", not no_wait, console.step), \
            kept_on_failure(folder, (MANIFEST, REPORT), console.warn, owned):
        manifest = run_pipeline(settings, console)
    print_summary(console, manifest)
    where = out / manifest["model"] / MANIFEST
    failed = [a for a in manifest["artifacts"] if a["validation"]["status"] == Status.FAILED]
    for entry in failed:
        console.err.print(f"[red]FAILED[/] {entry['file']}: {'; '.join(entry['validation']['failures'])}")
    if any("bytes" not in a for a in failed):
        raise ConversionError(f"{sum('bytes' not in a for a in failed)} conversion(s) failed; see {where}")
    if failed:
        total = len(manifest["artifacts"])
        raise ChecksFailedError(f"{len(failed)} of {total} artifacts failed their checks; see {where}")
    judge_budgets(console, breaches(manifest["artifacts"]), settings.latency.enforce, where)
    judge_coverage(console, manifest, where)
    console.step(f"all executed artifacts passed; manifest: {where}")


def judge_coverage(console: Any, manifest: dict[str, Any], where: Path) -> None:
    """The model's coverage demands, judged after everything is written, like budgets
    (always enforced: --budgets-report-only is about milliseconds, not delegation)."""
    from posepipe import models
    from posepipe.pipeline.errors import CoverageNotMetError
    from posepipe.pipeline.run.coverage import required, shortfalls

    lines = shortfalls(manifest["artifacts"], required(models.get(manifest["model"])))
    for line in lines:
        console.err.print(f"[red]NOT DELEGATED[/] {line}")
    if lines:
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise CoverageNotMetError(f"{lines[0]}{more}; see {where}")


@click.command("validate")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="The checkpoint the artifact was converted from: a .keras file, a legacy Keras .h5 (whole "
                   "model or weights only) or a TensorFlow SavedModel folder (read as `posepipe run` reads it).")
@click.option("--model", default=None, help="Zoo model. [default: from the file name, <model>-<precision>.<ext>]")
@spec_option
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
def validate_command(artifact: Path, checkpoint: Path, model: str | None, spec_file: Path | None,
                     precision: str | None, preset: str, options: tuple[str, ...], data: Path | None,
                     val_samples: int | None, threads: int, seed: int, cache: Path | None) -> None:
    """Validate one existing ARTIFACT file again against the Keras checkpoint.

    Runs the checks `posepipe run` runs (tensors, decoded keypoints, PCK) on the
    val split. Core ML files run in Core ML on macOS and in the reference
    evaluator elsewhere. A manifest beside the file that lists another sha256
    fails it too. Exits 0 only when the artifact passed.
    """
    quiet_libraries()
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.errors import ChecksFailedError
    from posepipe.pipeline.run.orchestrate import default_cache
    from posepipe.pipeline.run.summary import print_summary
    from posepipe.pipeline.run.validate import ValidateSettings, revalidate
    from posepipe.validators.validate import Status

    if spec_file is not None:
        model = use_spec(model, spec_file, checkpoint)
    settings = ValidateSettings(
        artifact=artifact, checkpoint=checkpoint, model=model,
        precision=Precision(precision) if precision else None, preset=preset, overrides=overrides(options),
        data=data, cache=cache or default_cache(), val_samples=val_samples, threads=threads, seed=seed,
    )
    console = Console()
    document = revalidate(settings, console)
    print_summary(console, document)
    validation = document["artifacts"][0]["validation"]
    if validation["status"] == Status.FAILED:
        for failure in validation["failures"]:
            console.err.print(f"[red]FAILED[/] {artifact.name}: {failure}")
        raise ChecksFailedError(f"{artifact.name} failed {len(validation['failures'])} check(s)")
    console.step(f"{artifact.name}: passed ({validation['runtime']})")


COMMANDS = (run, validate_command,)
