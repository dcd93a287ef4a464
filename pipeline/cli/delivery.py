"""The commands for the people who use the artifacts: ``inspect`` a file,
``report`` a run, ``index`` the artifacts tree, ``pull`` a verified file from
it and ``predict`` poses with one."""

from __future__ import annotations

import json
from pathlib import Path

import click

from posepipe.models.formats import Format, Precision
from posepipe.pipeline.cli.options import no_wait_option, out_option, quiet_libraries
from posepipe.pipeline.cli.spec import read_spec_option, register_spec


@click.command("inspect")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
def inspect_command(file: Path, as_json: bool) -> None:
    """Print the signature and embedded metadata of FILE (.tflite, .onnx, .ort,
    .mlpackage or .mlmodel): keypoints, skeleton, input normalisation and
    quantization, outputs, decoder, model, weights sha256, licence."""
    from posepipe.pipeline.delivery.inspect import inspect_artifact, render

    info = inspect_artifact(file)
    click.echo(json.dumps(info, indent=2) if as_json else "\n".join(render(info)))


@click.command("report")
@click.argument("model", metavar="MODEL")
@out_option
@click.option("--samples", type=click.IntRange(min=1, max=12), default=3, show_default=True,
              help="Val images drawn with each artifact's decoded skeleton.")
@no_wait_option
@read_spec_option
def report_command(model: str, out: Path, samples: int, no_wait: bool, spec_file: Path | None) -> None:
    """Write OUT/MODEL/report.html again from the run's manifest and files: the
    artifacts table, skeleton overlays and the size/latency/accuracy chart.
    Waits while a run writes OUT/MODEL (or stops, with --no-wait)."""
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.engine.lock import writing
    from posepipe.pipeline.report.page import write_report

    quiet_libraries()
    register_spec(spec_file)
    console = Console()
    with writing(out / model, f"posepipe report {model}", not no_wait, console.step):
        path = write_report(out / model / "manifest.json", console, samples)
    console.step(f"wrote {path}")


@click.command("index")
@out_option
@no_wait_option
def index_command(out: Path, no_wait: bool) -> None:
    """Write OUT/index.json: every model's artifacts with sha256, bytes and
    whether they passed (what `posepipe pull` reads). Waits while a run writes
    any OUT/MODEL (or stops, with --no-wait), so no run's files change under it."""
    from posepipe.pipeline.delivery.index import INDEX, write_index
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.engine.lock import writing_all

    console = Console()
    folders = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")] if out.is_dir() else []
    with writing_all([out / INDEX, *folders], "posepipe index", not no_wait, console.step):
        document = write_index(out)
    console.step(f"wrote {out / INDEX}: {len(document['artifacts'])} artifacts of {len(document['models'])} model(s)")


@click.command("pull")
@click.argument("model", metavar="MODEL")
@click.option("--format", "fmt", type=click.Choice([f.value for f in Format]), required=True,
              help="The artifact's format, as the index lists it.")
@click.option("--precision", type=click.Choice([p.value for p in Precision]), required=True,
              help="The artifact's precision, as the index lists it.")
@click.option("--from", "source", required=True, metavar="URL_OR_DIR",
              help="http(s) URL or folder of an artifacts tree with index.json at its root.")
@click.option("--to", "dest", type=click.Path(path_type=Path), required=True, metavar="DIR",
              help="Folder the file goes into (created if needed).")
@click.option("--allow-failed", is_flag=True, help="Take an artifact that failed validation.")
@no_wait_option
def pull_command(model: str, fmt: str, precision: str, source: str, dest: Path, allow_failed: bool,
                 no_wait: bool) -> None:
    """Fetch MODEL's FORMAT/PRECISION artifact into DIR, verified: its sha256
    must match the index before it appears, paths may not leave the artifacts
    root, and a failed artifact is refused unless --allow-failed."""
    from posepipe.pipeline.delivery.pull import PullSettings, pull
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.engine.lock import writing

    console = Console()
    with writing(dest, f"posepipe pull {model}", not no_wait, console.step):
        pull(PullSettings(model, Format(fmt), Precision(precision), source, dest, allow_failed), console)


@click.command("predict")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="IMAGE...")
@click.option("--out", type=click.Path(path_type=Path), default=Path("predictions"), show_default=True,
              help="Folder for the <image stem>_keypoints.json files (created if needed).")
@read_spec_option
def predict_command(artifact: Path, images: tuple[Path, ...], out: Path, spec_file: Path | None) -> None:
    """Run ARTIFACT (.tflite, .onnx, .ort, .mlpackage or .mlmodel) in its own runtime on
    each IMAGE and write OUT/<image stem>_keypoints.json in OpenPose's JSON output
    format: "people", each with "pose_keypoints_2d" as x, y, score in image pixels,
    in the order of the model's keypoint set, named in "keypoint_set" and
    "keypoint_names" (COCO-17 unless it was trained on another; not OpenPose's 18
    or 25; a missing keypoint is 0, 0, 0).

    The manifest.json of the run beside ARTIFACT must list it with the same sha256;
    it gives the model and its config. Each image is letterboxed whole into the
    input; a top-down model treats the whole image as one person's crop, so it
    reports exactly one person per image. Prints one line per image: the image,
    the people found and the file written. Nothing is written unless every image
    was predicted.
    """
    quiet_libraries()
    from posepipe.pipeline.delivery.predict import output_paths, predict
    from posepipe.pipeline.engine.console import Console

    register_spec(spec_file)
    try:
        output_paths(images, out)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="IMAGE...") from None
    predict(artifact, list(images), out, Console())


COMMANDS = (inspect_command, report_command, index_command, pull_command, predict_command)
