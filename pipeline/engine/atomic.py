"""Atomic outputs: everything is written under a temporary name beside its final
place and renamed when complete, so a crash never leaves a half-written file
where a finished one is expected."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from posepipe.models.errors import FileSystemError

TEMP_PREFIX = ".tmp-"


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path (file or directory) that becomes ``final`` when the
    block completes; on any error it is removed and ``final`` is left as it was."""
    final.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=final.parent))
    temp = holder / final.name
    try:
        yield temp
        if not temp.exists():
            raise FileNotFoundError(f"nothing was written for {final}")
        replace(temp, final)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def replace(source: Path, final: Path) -> None:
    """Rename ``source`` onto ``final``. A directory (an .mlpackage) cannot replace
    another in one rename, so the old one is moved aside first and removed after."""
    if source.is_dir() and final.exists():
        aside = final.with_name(f"{TEMP_PREFIX}old-{final.name}")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(final, aside)
        os.replace(source, final)
        _remove(aside)
    else:
        os.replace(source, final)


def staging(folder: Path) -> Path:
    """A new empty folder under a temporary name inside ``folder``: where a file is
    built and checked before it may take its final name beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=folder))


def write_json(final: Path, document: Any) -> None:
    text = json.dumps(document, indent=2, default=str) + "\n"
    with atomic_path(final) as temp:
        try:
            temp.write_text(text)
        except OSError as error:  # a full disk names no file: this names the one that was not written
            raise FileSystemError.of(error, final) from None


def remove(path: Path) -> None:
    """Remove a file or directory if it is there."""
    _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def clean_temporaries(folder: Path) -> None:
    """Remove what a killed run left under temporary names. Best effort: a worker
    of a killed run may still be dying and writing into its folder; what is left
    is a temporary, which nothing reads and the next clean-up takes."""
    if folder.is_dir():
        for leftover in folder.glob(f"{TEMP_PREFIX}*"):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
