"""A pulled index.json is read like user input: whatever a host serves, reading it
and choosing an entry gives either a well-formed entry or a posepipe error, never
a KeyError or TypeError (hypothesis), and an index ``posepipe index`` wrote passes."""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from posepipe.models.errors import PosepipeError
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.delivery.entries import SHA256, TEXT_FIELDS, check_index
from posepipe.pipeline.delivery.pull import FolderSource, PullSettings, checked_files, find_entry
from posepipe.pipeline.errors import SourceError


def _seed_index() -> dict[str, Any]:
    """What ``posepipe index`` writes: a file entry and a package entry with its files."""
    digest = "ab" * 32
    tflite = {"model": "hourglass", "file": "hourglass-fp32.tflite", "path": "hourglass/hourglass-fp32.tflite",
              "format": "tflite", "precision": "fp32", "sha256": digest, "bytes": 10, "passed": True,
              "status": "passed"}
    package = {**tflite, "file": "hourglass-fp32.mlpackage", "path": "hourglass/hourglass-fp32.mlpackage",
               "format": "coreml", "files": [{"path": "Manifest.json", "bytes": 3, "sha256": digest},
                                             {"path": "Data/weight.bin", "bytes": 7, "sha256": digest}]}
    return {"schema": 1, "created": "2026-12-04T00:00:00+00:00", "models": [], "artifacts": [tflite, package]}


def test_the_seed_index_is_well_formed() -> None:
    assert check_index(_seed_index(), "host") == _seed_index()


EDGES = st.sampled_from([None, True, False, 0, -1, 1.5, math.nan, math.inf, 10**30, "", "passed", "failed",
                         "ab" * 32, "AB" * 32, "../x", "/etc/passwd", "a\\b", [], {}, [{}], {"path": "x"}])
VALUES = st.recursive(st.one_of(EDGES, st.text(max_size=6), st.integers()),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                   max_size=3), max_leaves=5)
FIELDS = (*TEXT_FIELDS, "passed", "sha256", "bytes", "files")


@st.composite
def mutated_indexes(draw: st.DrawFn) -> Any:
    """The seed index with one to three changes where a reader can go wrong."""
    index = _seed_index()
    for _ in range(draw(st.integers(1, 3))):
        entries = index.get("artifacts")
        action = draw(st.sampled_from(["field", "field", "field", "delete", "file", "entry", "document"]))
        if action == "document" or not isinstance(entries, list) or not entries:
            index[draw(st.sampled_from(["artifacts", "schema"]))] = draw(VALUES)
            continue
        position = draw(st.integers(0, len(entries) - 1))
        entry = entries[position]
        if action == "entry" or not isinstance(entry, dict):
            entries[position] = draw(VALUES)
        elif action == "delete":
            entry.pop(draw(st.sampled_from(FIELDS)), None)
        elif action == "file" and isinstance(entry.get("files"), list) and entry["files"]:
            item = entry["files"][draw(st.integers(0, len(entry["files"]) - 1))]
            if isinstance(item, dict):
                item[draw(st.sampled_from(["path", "bytes", "sha256"]))] = draw(VALUES)
        else:
            entry[draw(st.sampled_from(FIELDS))] = draw(VALUES)
    return index


def _well_formed(entry: dict[str, Any]) -> None:
    assert all(isinstance(entry[f], str) for f in TEXT_FIELDS)
    assert isinstance(entry["passed"], bool) and entry["passed"] == (entry["status"] == "passed")
    for item in [entry, *entry.get("files", [])]:
        assert SHA256.fullmatch(item["sha256"]) and type(item["bytes"]) is int and item["bytes"] >= 0


@settings(max_examples=300, deadline=None)
@given(index=mutated_indexes(), allow_failed=st.booleans())
def test_any_index_gives_a_well_formed_entry_or_a_posepipe_error(index: Any, allow_failed: bool) -> None:
    document = copy.deepcopy(index)
    try:
        checked = check_index(document, "host")
    except SourceError as error:
        assert "\n" not in str(error) and str(error).startswith("host: index.json")
        return
    for entry in checked["artifacts"]:
        _well_formed(entry)
    for fmt in (Format.TFLITE, Format.COREML):
        settings_ = PullSettings("hourglass", fmt, Precision.FP32, "host", Path("dest"), allow_failed)
        try:
            checked_files(find_entry(checked, settings_))
        except PosepipeError as error:
            assert error.exit_code in (21, 22, 23) and "\n" not in str(error)


@settings(max_examples=100, deadline=None)
@given(raw=st.one_of(st.binary(max_size=60), mutated_indexes().map(lambda i: json.dumps(i).encode())))
def test_any_bytes_served_as_index_json_give_an_index_or_a_source_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "index.json").write_bytes(raw)
        try:
            FolderSource(folder).index()
        except SourceError as error:
            assert "\n" not in str(error)
