"""The root of posepipe's typed errors.

It lives in the bottom layer so every package can raise errors the CLI knows how
to print: one line, and an exit code of the error's own. Each package defines
its errors next to the code that raises them; ``pipeline.errors`` lists them all.
"""

from __future__ import annotations

import os
from pathlib import Path


class PosepipeError(Exception):
    """An error a user can act on. ``str(error)`` is the one line the CLI prints."""

    exit_code: int = 1


class UnknownModelError(PosepipeError):
    """A model name that is not in the zoo."""

    exit_code = 3

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown model {name!r}; known models: {', '.join(known)}")


class ConfigError(PosepipeError):
    """A model configuration override that does not fit the model's config."""

    exit_code = 12



class FileSystemError(PosepipeError):
    """A file or folder posepipe must read or write and cannot: a path under a
    regular file, no permission, a full disk. The message names the path and the
    operating system's reason, which is what the user has to fix."""

    exit_code = 28

    @classmethod
    def of(cls, error: OSError, path: object = None) -> FileSystemError:
        """The one line for ``error``; ``path`` names the file when the error does
        not (a full disk is reported on write, where Python knows no file name)."""
        return cls(describe_os_error(error, path))


def describe_os_error(error: OSError, path: object = None) -> str:
    """``<path>: <reason>`` (``<path> -> <other path>`` for a rename), the reason
    being the system's text for the error number (``No space left on device``)."""
    where = error.filename if error.filename is not None else path
    if where is not None and error.filename2 is not None:
        where = f"{where} -> {error.filename2}"
    reason = os.strerror(error.errno) if error.errno else (error.strerror or str(error) or type(error).__name__)
    if isinstance(error, NotADirectoryError | FileExistsError) and _is_file(error.filename):
        reason = f"{reason}: a file is where a folder is needed"
    elif isinstance(error, NotADirectoryError):
        reason = f"{reason}: a file is in the way of a folder on this path"
    return f"{where}: {reason}" if where is not None else reason


def _is_file(name: object) -> bool:
    return isinstance(name, str | bytes) and Path(os.fsdecode(name)).is_file()
