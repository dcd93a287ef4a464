"""The ``posepipe`` command: a thin entry that parses options into settings and
calls one pipeline function per command (the command modules beside this one).
Heavy imports happen inside the commands; errors become one line and an exit code."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from posepipe.models.errors import FileSystemError, PosepipeError
from posepipe.pipeline.cli import build, delivery, diagnostics, spec, training, zoo

DEBUG_VARIABLE = "POSEPIPE_DEBUG"


@dataclass
class Debug:
    """Whether an error's traceback is printed too: set by ``--traceback`` while
    the options are parsed, read when the error arrives (after click's context is gone)."""

    traceback: bool = False


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="posepipe")
@click.option("--traceback", "show_traceback", is_flag=True,
              help=f"On an error, print its traceback before the one-line message (for a bug report); "
                   f"{DEBUG_VARIABLE}=1 does the same.")
@click.pass_obj
def cli(debug: Debug | None, show_traceback: bool) -> None:
    """posepipe: pose-estimation models to phones, verified.

    Trains or loads a checkpoint, converts it to TFLite, ONNX and Core ML, and
    checks every file against the Keras reference on labelled images before it
    is listed in artifacts/<model>/manifest.json.

    Every error a user can fix is one line on stderr, `posepipe: error: ...`, with
    an exit code of its own (docs/reference/exit-codes.md); anything else is a
    bug and shows its traceback.
    """
    if debug is not None and show_traceback:
        debug.traceback = True


for _module in (zoo, training, build, diagnostics, delivery, spec):
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
    """Run the command; a user's error becomes one line and its exit code.

    Typed errors (PosepipeError) and file-system errors (any OSError that reached
    here: a path under a regular file, no permission, a full disk) are the user's
    to fix and print as one line naming the path and the reason. Every other
    exception is a bug and keeps its traceback."""
    from posepipe.pipeline.errors import INTERRUPTED_EXIT_CODE

    debug = Debug(traceback=os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"))
    try:
        cli.main(args=argv, prog_name="posepipe", standalone_mode=False, obj=debug)
    except PosepipeError as error:
        _fail(error, debug)
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
    except OSError as error:
        _fail(FileSystemError.of(error), debug)
    sys.exit(0)


def _fail(error: PosepipeError, debug: Debug) -> NoReturn:
    """Print ``error`` as one line (a library's multi-line text joined with "; ")
    and exit with its code; with --traceback or POSEPIPE_DEBUG=1 the traceback first."""
    if debug.traceback:
        traceback.print_exc()
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    click.echo(f"posepipe: error: {'; '.join(lines) or type(error).__name__}", err=True)
    sys.exit(error.exit_code)
