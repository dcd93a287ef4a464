"""Atomic outputs: a failure leaves the old file, or nothing, never a fragment."""

from __future__ import annotations

from pathlib import Path

import pytest

from posepipe.pipeline.engine.atomic import atomic_path, clean_temporaries, write_json


def test_a_failed_write_leaves_the_previous_file(tmp_path: Path) -> None:
    final = tmp_path / "a.tflite"
    final.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(final) as temp:
        temp.write_text("half")
        raise RuntimeError
    assert final.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tflite"]


def test_a_directory_replaces_a_directory(tmp_path: Path) -> None:
    final = tmp_path / "m.mlpackage"
    for text in ("one", "two"):
        with atomic_path(final) as temp:
            temp.mkdir()
            (temp / "weights.bin").write_text(text)
    assert (final / "weights.bin").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlpackage"]


def test_nothing_written_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_path(tmp_path / "x"):
        pass


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / ".tmp-abc").mkdir()
    (tmp_path / ".tmp-old-m.mlpackage").mkdir()
    write_json(tmp_path / "manifest.json", {"inf": 1})
    clean_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
