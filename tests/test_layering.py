"""Imports flow one way (pipeline -> validators, converters -> calibration ->
models), every import goes through the ``posepipe`` name, no two files import each
other (directly or round a longer loop), and converters and validators never name a
model."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from posepipe import models

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "calibration", "converters", "validators", "pipeline")
MAY_IMPORT = {
    "models": {"models"},
    "calibration": {"calibration", "models"},
    "converters": {"converters", "calibration", "models"},
    "validators": {"validators", "calibration", "models"},
    "pipeline": {"pipeline", "validators", "converters", "calibration", "models"},
}


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("posepipe", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def imported_modules(path: Path, known: frozenset[str] = frozenset()) -> set[str]:
    """Every posepipe module ``path`` imports, at any depth of the file (imports
    inside functions count: they are how a cycle hides). ``from package import
    submodule`` imports the submodule, when ``known`` lists it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in known else node.module)
    return {name for name in names if name == "posepipe" or name.startswith("posepipe.")}


def module_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in sources()}
    known = frozenset(files)
    return {name: {m for m in imported_modules(path, known) if m in files and m != name}
            for name, path in files.items()}


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        wrong = {m.split(".")[1] for m in imported_modules(path) if "." in m} - MAY_IMPORT[package]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_every_import_goes_through_posepipe() -> None:
    for path in [*sources(), *(ROOT / "tests").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            tops = ({a.name.split(".")[0] for a in node.names} if isinstance(node, ast.Import)
                    else {node.module.split(".")[0]} if isinstance(node, ast.ImportFrom) and node.module
                    and node.level == 0 else set())
            assert not tops & set(PACKAGES), f"{path.relative_to(ROOT)}:{node.lineno} imports {tops} outside posepipe"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """The first import loop a depth-first walk closes, as the modules round it."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def walk(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (loop := walk(dep, [*path, dep])):
                return loop
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (loop := walk(name, [name])):
            return loop
    return None


def test_no_import_cycle_between_files() -> None:
    loop = find_cycle(module_graph())
    assert loop is None, "import cycle: " + " -> ".join(loop or [])


def test_the_cycle_check_sees_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("package", ["converters", "validators"])
def test_converters_and_validators_never_name_a_model(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        text = path.read_text().lower()
        for name in models.names():
            assert name not in text, f"{path.relative_to(ROOT)} names the model {name!r}"
