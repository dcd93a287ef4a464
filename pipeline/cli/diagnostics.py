"""Measurements beside a run: ``bench`` times its files on every target,
``dark-check`` measures DARK decoding against argmax."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from posepipe.pipeline.cli.options import (
    cache_option,
    data_option,
    judge_budgets,
    latency_options,
    latency_settings,
    override_option,
    overrides,
    preset_option,
    quiet_libraries,
    seed_option,
)
from posepipe.pipeline.cli.spec import read_spec_option, register_spec


@click.command("bench")
@click.argument("items", nargs=-1, required=True, metavar="MODEL|ARTIFACT...")
@click.option("--out", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
              help="Artifacts root of the run(s) to measure (OUT/<model>/manifest.json).")
@latency_options
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the table, comparisons and profiles to this JSON file (for CI trends).")
@read_spec_option
def bench_command(items: tuple[str, ...], out: Path, json_out: Path | None, spec_file: Path | None,
                  **latency: Any) -> None:
    """Time every artifact of MODEL's last run (or the ARTIFACT files named) on
    each target: load, first inference, p50/p90/mean/std of the timed runs, peak
    memory growth, GMAC/s; estimates for named devices with their basis; budget
    verdicts; speed against fp32 and the Keras reference; per-op hot spots.

    Exits 11 when an artifact breaks a budget, unless --budgets-report-only.
    """
    quiet_libraries()
    from posepipe.pipeline.diagnostics.bench import bench, print_bench
    from posepipe.pipeline.engine.atomic import write_json
    from posepipe.pipeline.engine.console import Console

    register_spec(spec_file)
    console = Console()
    options = latency_settings(**latency)
    document = bench(items, out, options, console)
    print_bench(console, document)
    if json_out is not None:
        write_json(json_out, document)
    judge_budgets(console, document["breaches"], options.enforce, json_out or "the table above")


@click.command("dark-check")
@click.argument("model", metavar="MODEL", default="simplebaseline")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="The checkpoint (.keras, .h5 or SavedModel folder) whose val PCK to decode three ways. "
                   "Default: the model's own default checkpoint (trained once, as `posepipe run` does).")
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
    quiet_libraries()
    from posepipe.pipeline.diagnostics.darkcheck import dark_check
    from posepipe.pipeline.engine.atomic import write_json
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.orchestrate import RunSettings, default_cache

    settings = RunSettings(model=model, preset=preset, overrides=overrides(options), data=data,
                           checkpoint=checkpoint, cache=cache or default_cache(), val_samples=val_samples, seed=seed)
    document = dark_check(settings, samples, noises, Console())
    if json_out is not None:
        write_json(json_out, document)


COMMANDS = (bench_command, dark_check_command,)
