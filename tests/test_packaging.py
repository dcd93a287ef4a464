"""What ``pip install posepipe`` puts into site-packages: one name, ``posepipe``.

The repository keeps the mission's folders at its top (``models/``, ``pipeline/``,
...); setup.py installs them under ``posepipe.``. A wheel holding a generic top-level
name (``models``, ``pipeline``) would collide with a user's own modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "models", "calibration", "converters", "validators")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the tree (building in place would write build/
    into the checkout other tests are reading)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("posepipe-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_holds_only_posepipe(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"posepipe"}, sorted(tops)
    # every package of the tree is there under posepipe/, with the manifest's schema
    for package in PACKAGES:
        for init in (ROOT / package).rglob("__init__.py"):
            assert f"posepipe/{init.relative_to(ROOT).as_posix()}" in names, init
    assert "posepipe/pipeline/manifest/schema.json" in names
    assert not [n for n in names if n.startswith("posepipe/tests/") or n.startswith("posepipe/scripts/")]


def test_the_console_script_is_posepipes_main(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "posepipe = posepipe.pipeline.cli.main:main" in wheel.read(entry_points).decode()
