"""Shared fixtures: one tiny synthetic dataset and one tiny checkpoint per model
for the whole session (keras-hub's pattern: tiny models, one harness)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ["CI"] = "true"  # plain console lines, no live progress, in every test
# Runs build tensor files only unless a test asks for app or keypoints files (--variants): those
# are tested on their own (tests/pipeline/test_variants.py), not rebuilt by every test that runs.
os.environ["POSEPIPE_VARIANTS"] = "tensor"

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.harness import TinyZoo, invoke, shared_once
from tests.support.manifests import schema_problems


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every xdist worker of this session shares (each worker's own
    base temp is a child of it); the base temp itself when not distributed."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every manifest this session's runs wrote must match the published schema
    (tests/support/manifests.py); checked once, by the process that ran the session."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if hasattr(session.config, "workerinput") or factory is None:
        return  # an xdist worker: the controller checks once every worker is done
    problems = schema_problems(factory.getbasetemp())
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        terminal.write_line("")
    for problem in problems:
        terminal.write_line(f"manifest against schema.json: {problem}", red=True)
    if problems and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> TinyZoo:
    return TinyZoo(session_root(tmp_path_factory) / "zoo")


@pytest.fixture(scope="session")
def tiny_data(zoo: TinyZoo) -> Path:
    return zoo.data


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, with the cache outside it (artifacts/ must start empty)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_run(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny fp32 run of every format, shared by the tests that read what a run
    leaves (metadata, inspect, report, index, pull); the folder holding artifacts/."""
    def make(root: Path) -> None:
        result = invoke(_NoCapture(), *zoo.run_args("hourglass"), "--profile",  # type: ignore[arg-type]
                        "--out", str(root / "artifacts"))
        assert result.code == 0, result.err

    return shared_once(session_root(tmp_path_factory) / "tiny-run", make)


class _NoCapture:
    """``invoke`` without pytest's capture (a session fixture cannot take capfd)."""

    def readouterr(self) -> SimpleNamespace:
        return SimpleNamespace(out="", err="(see the captured stderr)")
