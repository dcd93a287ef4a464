"""The ``posepipe`` command: a thin entry that parses options into settings and
calls one pipeline function per command (the command modules beside this one).
Heavy imports happen inside the commands; errors become one line and an exit code."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from posepipe.models.errors import PosepipeError
from posepipe.pipeline.cli import build, delivery, diagnostics, training, zoo


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="posepipe")
def cli() -> None:
    """posepipe: pose-estimation models to phones, verified.

    Trains or loads a checkpoint, converts it to TFLite, ONNX and Core ML, and
    checks every file against the Keras reference on labelled images before it
    is listed in artifacts/<model>/manifest.json.
    """


for _module in (zoo, training, build, diagnostics, delivery):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


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
