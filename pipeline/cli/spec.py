"""``posepipe spec``: model spec files (models/specfile/), checked before a run,
and ``--spec FILE`` for the commands that take one (``run``, ``validate``, and the
read commands ``report``, ``predict``, ``bench``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from posepipe.pipeline.cli.options import quiet_libraries

spec_option = click.option(
    "--spec", "spec_file", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help="A model from outside the zoo, described by a TOML spec file (docs/byo-model.md); MODEL is then its "
         "name (or left out). Needs --checkpoint: posepipe has no training recipe for it.")


read_spec_option = click.option(
    "--spec", "spec_file", type=click.Path(path_type=Path), default=None, metavar="FILE",
    help="The spec file of the run's model when it comes from outside the zoo (docs/byo-model.md); the file "
         "must name its architecture (model.file).")


def register_spec(spec_file: Path | None) -> None:
    """Make the model of ``spec_file`` known to this process (read commands: report,
    predict, bench), so a run of a spec-file model is read back like a zoo model's."""
    if spec_file is not None:
        load(spec_file, None)


def use_spec(model: str | None, spec_file: Path | None, checkpoint: Path | None) -> str:
    """The model a command works on: MODEL, or the one ``spec_file`` describes,
    registered for this process (its architecture: the spec's file, else the checkpoint)."""
    from posepipe.models.errors import ConfigError
    from posepipe.pipeline.errors import CheckpointError

    if spec_file is None:
        if model is None:
            raise click.UsageError("give MODEL (posepipe list shows them) or --spec FILE")
        return model
    if checkpoint is None:
        raise CheckpointError(f"--spec {spec_file}: --checkpoint is required (posepipe has no training recipe for a "
                              "model from a spec file)")
    spec = load(spec_file, checkpoint)
    if model is not None and model != spec.name:
        raise ConfigError(f"MODEL {model!r} is not the model of --spec {spec_file} ({spec.name!r}); give one of them")
    return spec.name


def load(spec_file: Path, checkpoint: Path | None) -> Any:
    """The spec file's ModelSpec, registered, with its budget targets checked (the
    targets are the latency stage's, which models/ cannot see)."""
    from posepipe.models.registry import add_spec_file
    from posepipe.models.specfile.errors import Problem, SpecFileError
    from posepipe.validators.perf.targets import KNOWN

    spec = add_spec_file(spec_file, checkpoint)
    unknown = [t for t in spec.budgets if t not in KNOWN]
    if unknown:
        raise SpecFileError([Problem(str(spec_file), f"budgets.{t}", f"not a latency target; known: {', '.join(KNOWN)}")
                             for t in unknown])
    return spec


@click.group("spec")
def spec_group() -> None:
    """Model spec files: a model from outside the zoo, described in TOML.

    The docs' "Bring your own model" page has a complete spec file."""


@spec_group.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="Also check the spec against this checkpoint (.keras, .h5 or SavedModel) as `posepipe run` "
                   "loads it: input shape, output names and shapes, every weight.")
def check(file: Path, checkpoint: Path | None) -> None:
    """Say what is wrong with a spec FILE, or summarise it.

    Every problem is one line naming the file, the key and what was expected (exit
    31); a valid spec prints what posepipe understood from it and exits 0."""
    quiet_libraries()
    from posepipe.models.specfile.errors import SpecFileError
    from posepipe.models.specfile.read import read_spec_file

    try:
        document = read_spec_file(file)
        lines = summary(document) + [synthetic_line(document)]
        if document.file is None and checkpoint is None:
            lines.append("architecture: not checked (the spec names no model.file; give --checkpoint a .keras file)")
        else:
            spec = load(file, checkpoint)
            model = spec.build(spec.default)  # the architecture, checked against the spec
            lines.append(f"architecture: {spec.build.path} ({model.count_params():,} parameters), sha256 "
                         f"{spec.default.architecture_sha256[:12]}: input and outputs fit")
    except SpecFileError as error:
        for problem in error.problems:
            click.echo(f"posepipe: error: {problem}", err=True)
        raise SystemExit(error.exit_code) from None
    if checkpoint is not None:
        from posepipe.pipeline.run.checkpoint_formats import read_checkpoint

        loaded = read_checkpoint(checkpoint, spec, spec.default)  # CheckpointError, CheckpointMismatchError
        lines.append(f"checkpoint: {checkpoint} ({loaded.format}): input, outputs and every weight fit")
    click.echo("\n".join(lines))


def summary(document: Any) -> list[str]:
    """What posepipe understood from the file, one fact a line."""
    h, w = document.size
    image = document.input
    outputs = ", ".join(f"{o.name} ({o.kind}{f' /{o.stride}' if o.stride else ''}, {o.activation})"
                        for o in document.outputs)
    changed = sorted(str(p) for p, t in document.tolerances.items() if t != _default_tolerances().get(p))
    budgets = ", ".join(f"{t} {ms:g} ms" for t, ms in document.budgets.items()) or "none (measured, reported)"
    return [
        f"{document.path}: valid",
        f"model: {document.name} ({document.topology}), version {document.version}, licence {document.license}",
        f"input: {image.name} {h}x{w} {image.color}, (pixel - {list(image.mean)}) / {list(image.std)}",
        f"outputs: {outputs}",
        f"keypoints: {document.keypoints.name} ({len(document.keypoints)})",
        f"decoder: {document.decoder.kind}" + "".join(f", {k} {v}" for k, v in document.decoder.settings.items()),
        f"tolerances: the precisions' defaults{', with ' + ', '.join(changed) + ' changed' if changed else ''}",
        f"budgets: {budgets}",
        f"identity: {document.name}, spec sha256 {document.sha256[:12]}",
    ]


def synthetic_line(document: Any) -> str:
    """Whether the synthetic figures can label the spec's keypoint set (else a run needs --data)."""
    from posepipe.calibration.synthetic import projection
    from posepipe.models.errors import ConfigError

    try:
        projection(document.keypoints)
    except ConfigError as error:
        return f"synthetic data: not available ({error}); give --data"
    return f"synthetic data: figures labelled with {document.keypoints.name}"


def _default_tolerances() -> dict[Any, Any]:
    from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES

    return dict(DEFAULT_TOLERANCES)


COMMANDS = (spec_group,)
