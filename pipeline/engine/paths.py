"""Output folders checked before any work: a path that cannot become a folder
(a regular file at it or above it, a folder without write permission) fails at
once with the option that named it, not after minutes of training or conversion.

What the operating system refuses later anyway (a full disk, a permission that
root bypasses here but a mount enforces) still reaches the CLI as a
FileSystemError naming the path; this only moves the certain failures first.
"""

from __future__ import annotations

import os
from pathlib import Path

from posepipe.models.errors import FileSystemError
from posepipe.models.formats import Format
from posepipe.pipeline.errors import ArtifactNotFoundError, UnknownArtifactError


def require_folder(path: Path, option: str) -> None:
    """``path`` is a folder, or can be made one, by this user; FileSystemError otherwise."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise FileSystemError(f"{option} {path}: {where}, not a folder")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise FileSystemError(f"{option} {path}: {existing} is not writable ({os.strerror(13)})")


def artifact_format(path: Path) -> Format:
    """The format of an existing artifact file, by its suffix."""
    if not path.exists():
        raise ArtifactNotFoundError(f"{path}: artifact not found")
    try:
        return Format.from_path(str(path))
    except ValueError as error:
        raise UnknownArtifactError(str(error)) from None
