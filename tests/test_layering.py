"""Imports flow one way (pipeline -> validators, converters -> calibration ->
models), and converters and validators never name a model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import models

ROOT = Path(__file__).resolve().parent.parent
MAY_IMPORT = {
    "models": {"models"},
    "calibration": {"calibration", "models"},
    "converters": {"converters", "calibration", "models"},
    "validators": {"validators", "calibration", "models"},
    "pipeline": {"pipeline", "validators", "converters", "calibration", "models"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_flow_one_way(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        wrong = imported_packages(path) - MAY_IMPORT[package]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


@pytest.mark.parametrize("package", ["converters", "validators"])
def test_converters_and_validators_never_name_a_model(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        text = path.read_text().lower()
        for name in models.names():
            assert name not in text, f"{path.relative_to(ROOT)} names the model {name!r}"
