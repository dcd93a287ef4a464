"""Data and checkpoints: ``synth`` writes the synthetic set, ``train`` a checkpoint,
``bench-train`` times the training input pipeline."""

from __future__ import annotations

from pathlib import Path

import click

from posepipe.pipeline.cli.options import (
    cache_option,
    data_option,
    epochs_option,
    model_argument,
    no_wait_option,
    override_option,
    overrides,
    preset_option,
    quiet_libraries,
    seed_option,
)
from posepipe.pipeline.training.distribute import StrategyKind

SYNTH_MARKER = ".posepipe-synth"  # in a folder ``synth`` wrote: the files it wrote there


@click.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--train-images", type=click.IntRange(min=1), default=2400, show_default=True,
              help="Images in the train split (what training and calibration draw from).")
@click.option("--val-images", type=click.IntRange(min=1), default=200, show_default=True,
              help="Images in the val split (what validation scores on).")
@seed_option
@click.option("--keypoints", default="coco-17", show_default=True, metavar="SET",
              help="The keypoint set the labels follow: coco-17, aic-14, mpii-16 or lsp-14 (the dash is "
                   "optional); the same seed draws the same figures whatever the set.")
@click.option("--force", is_flag=True,
              help="Write into OUT even when it holds files synth did not make; those files are kept, only the "
                   "set's own names are replaced.")
@no_wait_option
def synth(out: Path, train_images: int, val_images: int, seed: int, keypoints: str, force: bool,
          no_wait: bool) -> None:
    """Write the synthetic COCO-keypoints dataset to OUT (train and val splits).

    OUT may be new, empty, or a set synth wrote before (its .posepipe-synth file
    lists what it wrote: those files are replaced, anything else in OUT stays). A
    folder with other contents is refused unless --force."""
    from posepipe.calibration.synthetic import SynthConfig, generate
    from posepipe.models.keypoints import keypoint_set
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.engine.lock import writing
    from posepipe.pipeline.engine.owned import filled, foreign

    console = Console()
    config = SynthConfig(seed=seed, train_images=train_images, val_images=val_images,
                         keypoints=keypoint_set(keypoints))
    with writing(out, "posepipe synth", not no_wait, console.step):
        if out.exists() and not out.is_dir():
            raise click.BadParameter(f"{out} is a file, not a folder", param_hint="OUT")
        if foreign(out, SYNTH_MARKER) and not force:
            raise click.BadParameter(f"{out} is not empty and was not made by posepipe synth (no {SYNTH_MARKER} "
                                     "in it); choose a new or empty folder, or pass --force to write the set into "
                                     "it (its other files are kept)", param_hint="OUT")
        with filled(out, SYNTH_MARKER, "posepipe synth") as temp, \
                console.progress("images", train_images + val_images) as advance:
            generate(temp, config, advance)
    console.step(f"wrote {out}")


@click.command()
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
    quiet_libraries()
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
    spec, config = models.get(model).configured(preset, dict(overrides(options)))
    changes = {"batch_size": batch_size, "learning_rate": learning_rate}
    schedule = replace(spec.schedule_for(preset), **{k: v for k, v in changes.items() if v is not None})
    schedule = schedule.with_epochs(epochs) if epochs is not None else schedule
    resolved = resolve_data(data, cache or default_cache(), synth_config(spec, schedule, seed), console)
    folder = out or Path("artifacts") / spec.name / "checkpoint"
    train_into(folder, spec, config, schedule, resolved, console, seed, resume_from, resume_last, chosen)


@click.command("bench-train")
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
    quiet_libraries()
    from posepipe import models
    from posepipe.pipeline.diagnostics.bench_train import bench_train
    from posepipe.pipeline.engine.atomic import write_json
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.data import resolve_data, synth_config
    from posepipe.pipeline.run.orchestrate import default_cache

    console = Console()
    spec, config = models.get(model).configured(preset, dict(overrides(options)))
    schedule = spec.schedule_for(preset)
    resolved = resolve_data(data, cache or default_cache(), synth_config(spec, schedule, seed), console)
    result = bench_train(spec, config, preset, schedule, resolved, steps, images, console, seed)
    for line in result.lines():
        click.echo(line)
    if json_out is not None:
        write_json(json_out, result.to_json())


COMMANDS = (synth, train, bench_train_command,)
