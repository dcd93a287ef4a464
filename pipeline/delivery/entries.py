"""A pulled ``index.json`` read like user input: it comes from a host, so every
entry's fields are checked for type before any is trusted, and a malformed one
is a SourceError (exit 20) naming the entry and the field, never a KeyError.

Path safety (``..``, absolute paths) is a separate refusal with its own exit
code (pull.py); this module only says whether an entry is well-formed.
"""

from __future__ import annotations

import re
from typing import Any

from posepipe.pipeline.delivery.index import INDEX, SCHEMA
from posepipe.pipeline.errors import SourceError

SHA256 = re.compile(r"[0-9a-f]{64}")
TEXT_FIELDS = ("model", "file", "path", "format", "precision", "status")


def check_index(document: Any, source: str) -> dict[str, Any]:
    """``document`` if it is an index posepipe can pull from; SourceError otherwise."""
    if not isinstance(document, dict) or not isinstance(document.get("artifacts"), list):
        raise SourceError(f"{source}: {INDEX} has no list of artifacts")
    schema = document.get("schema", SCHEMA)
    if schema != SCHEMA or isinstance(schema, bool):
        raise SourceError(f"{source}: {INDEX} has schema {schema!r}; this posepipe reads schema {SCHEMA}")
    for index, entry in enumerate(document["artifacts"]):
        check_entry(entry, f"{source}: {INDEX} artifacts[{index}]")
    return document


def check_entry(entry: Any, where: str) -> None:
    """Every field pull reads, of the type it needs: SourceError naming the field."""
    if not isinstance(entry, dict):
        raise SourceError(f"{where} is {_kind(entry)}, not an object")
    named = f"{where} ({entry['file']})" if isinstance(entry.get("file"), str) else where
    for field in TEXT_FIELDS:
        if not isinstance(entry.get(field), str):
            raise SourceError(f"{named}: '{field}' {_problem(entry, field, 'a string')}")
    if not isinstance(entry.get("passed"), bool):
        raise SourceError(f"{named}: 'passed' {_problem(entry, 'passed', 'true or false')}; "
                          "whether the file passed validation must be listed")
    if entry["passed"] != (entry["status"] == "passed"):
        raise SourceError(f"{named}: 'passed' is {str(entry['passed']).lower()} but 'status' is "
                          f"{entry['status']!r}; the index contradicts itself")
    _check_digest(entry, named)
    if "files" in entry:
        files = entry["files"]
        if not isinstance(files, list) or not files:
            raise SourceError(f"{named}: 'files' {_problem(entry, 'files', 'a non-empty list')}")
        for index, item in enumerate(files):
            if not isinstance(item, dict):
                raise SourceError(f"{named}: files[{index}] is {_kind(item)}, not an object")
            if not isinstance(item.get("path"), str):
                raise SourceError(f"{named}: files[{index}].path {_problem(item, 'path', 'a string')}")
            _check_digest(item, f"{named}: files[{index}]")
    if "companions" in entry:
        _check_companions(entry["companions"], named)


def _check_companions(companions: Any, named: str) -> None:
    if not isinstance(companions, list):
        raise SourceError(f"{named}: 'companions' is {_kind(companions)}, not a list")
    for index, item in enumerate(companions):
        where = f"{named}: companions[{index}]"
        if not isinstance(item, dict):
            raise SourceError(f"{where} is {_kind(item)}, not an object")
        for field in ("file", "path"):
            if not isinstance(item.get(field), str):
                raise SourceError(f"{where}.{field} {_problem(item, field, 'a string')}")
        _check_digest(item, where)


def _check_digest(entry: dict[str, Any], where: str) -> None:
    sha256, size = entry.get("sha256"), entry.get("bytes")
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        raise SourceError(f"{where}: 'sha256' {_problem(entry, 'sha256', '64 lowercase hex digits')}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise SourceError(f"{where}: 'bytes' {_problem(entry, 'bytes', 'a whole number of bytes')}")


def _problem(entry: dict[str, Any], field: str, wanted: str) -> str:
    if field not in entry:
        return f"is missing (expected {wanted})"
    value = entry[field]
    shown = repr(value) if len(repr(value)) <= 40 else _kind(value)
    return f"is {shown}, not {wanted}"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
