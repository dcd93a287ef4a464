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


def write_json(final: Path, document: Any) -> None:
    with atomic_path(final) as temp:
        temp.write_text(json.dumps(document, indent=2, default=str) + "\n")


def remove(path: Path) -> None:
    """Remove a file or directory if it is there."""
    _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def clean_temporaries(folder: Path) -> None:
    """Remove what a killed run left under temporary names."""
    if folder.is_dir():
        for leftover in folder.glob(f"{TEMP_PREFIX}*"):
            _remove(leftover)
