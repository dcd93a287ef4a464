"""Every manifest the test session's runs wrote, checked against the published
schema when the session ends (tests/conftest.py calls :func:`schema_problems`).

Runs in tests write to ``.../artifacts/<model>/manifest.json`` (``--out`` or the
default ``artifacts``), in process or in a subprocess; all of them are found by
that path. A test that plants a broken manifest on purpose writes it under a
root not named ``artifacts`` (``--out planted``), so it is not taken for a run's.
"""

from __future__ import annotations

from pathlib import Path

from posepipe.models.errors import PosepipeError
from posepipe.pipeline.manifest import MANIFEST, read_manifest

RUNS_ROOT = "artifacts"  # the folder a run's --out names, in every test that runs one


def written_manifests(root: Path) -> list[Path]:
    """Every ``artifacts/<model>/manifest.json`` under ``root``."""
    return sorted(p for p in root.rglob(MANIFEST) if p.parent.parent.name == RUNS_ROOT and p.is_file())


def schema_problems(root: Path) -> list[str]:
    """One line per manifest under ``root`` that its schema rejects."""
    problems = []
    for path in written_manifests(root):
        try:
            read_manifest(path)
        except PosepipeError as error:
            problems.append(str(error))
    return problems
