"""Content hashes: artifact digests and the keys that name cached stage outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def sha256_path(path: Path) -> str:
    """The sha256 of a file, or of a directory's files (relative names and bytes,
    in sorted order): an .mlpackage is a directory."""
    digest = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(child.relative_to(path).as_posix().encode() + b"\0")
            _update(digest, child)
    else:
        _update(digest, path)
    return digest.hexdigest()


def size_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def key(*parts: Any) -> str:
    """A stable digest of JSON-able parts (dataclasses via ``default=str``)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def source_digest(*paths: Path) -> str:
    """The digest of the Python sources in ``paths`` (files, or folders searched
    recursively): code is an input of a stage too."""
    digest = hashlib.sha256()
    for root in paths:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            name = path.relative_to(root).as_posix() if root.is_dir() else path.name
            digest.update(name.encode() + b"\0")
            _update(digest, path)
    return digest.hexdigest()


def _update(digest: Any, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
