"""What several commands share: the options, their parsing into settings, the
library log silencing, and how budget breaches end a command."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import click

from posepipe.models.formats import Format, Precision, Variant
from posepipe.validators.perf.targets import DEFAULT_TARGETS, KNOWN

FORMATS = [f.value for f in Format]
PRECISIONS = [p.value for p in Precision]


def quiet_libraries() -> None:
    """TensorFlow's C++ logs and the converters' progress bars would bury ours."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import logging
    import warnings

    for name in ("coremltools", "tensorflow", "absl", "tf2onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def overrides(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
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
                               help="Override a model config field, e.g. -o input_size=192 -o width=0.5; "
                                    "-o keypoints=SET trains on another keypoint set (aic-14, mpii-16, lsp-14).")
data_option = click.option("--data", type=click.Path(path_type=Path), default=None,
                           help="Dataset folder as it unzips: COCO 2017, AI Challenger keypoints 2017, or COCO-format "
                                "with train/val splits (docs/datasets.md). Default: the synthetic set, made once into "
                                "the cache.")
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


def latency_settings(latency_targets: str, budgets: tuple[str, ...], budgets_report_only: bool, device: str | None,
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


def judge_budgets(console: Any, breaches: list[str], enforce: bool, where: Any) -> None:
    """Every breach on its own line; the run fails on them unless report-only."""
    from posepipe.pipeline.errors import BudgetExceededError

    for line in breaches:
        console.err.print(f"[red]OVER BUDGET[/] {line}" if enforce else f"over budget (report only): {line}")
    if breaches and enforce:
        more = f" (and {len(breaches) - 1} more)" if len(breaches) > 1 else ""
        raise BudgetExceededError(f"{breaches[0]}{more}; see {where}")


def parse_precisions(text: str | None) -> tuple[Precision, ...] | None:
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


def parse_formats(text: str) -> tuple[Format, ...]:
    return _choices(text, Format, "format", "--formats")


VARIANTS = tuple(v.value for v in Variant)
Choice = TypeVar("Choice", bound=StrEnum)


def parse_variants(text: str) -> tuple[Variant, ...]:
    return _choices(text, Variant, "variant", "--variants")


def _choices(text: str, kind: type[Choice], noun: str, option: str) -> tuple[Choice, ...]:
    """Comma-separated values of ``kind``, each once, in the order given."""
    names = tuple(v.value for v in kind)
    chosen = []
    for name in (t.strip() for t in text.split(",") if t.strip()):
        if name not in names:
            raise click.BadParameter(f"unknown {noun} {name!r}; choose from {', '.join(names)}", param_hint=option)
        chosen.append(kind(name))
    if not chosen:
        raise click.BadParameter(f"no {noun} given", param_hint=option)
    return tuple(dict.fromkeys(chosen))


out_option = click.option("--out", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
                          help="Artifacts root (OUT/<model>/manifest.json).")
no_wait_option = click.option(
    "--no-wait", is_flag=True,
    help="When another posepipe command is writing the same folder, stop at once (exit 27) instead of waiting "
         "for it to finish; the message says which process holds it.")
