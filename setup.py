"""The packages, for pyproject.toml's metadata: the mission's top-level folders
installed under one import name, ``posepipe.models`` being ``models/`` and so on,
so nothing generic lands in site-packages (tests/test_packaging.py checks the wheel).
pyproject.toml cannot prefix what ``find`` returns, hence this file."""

from setuptools import find_packages, setup

FOLDERS = ("pipeline", "models", "calibration", "converters", "validators")

packages = find_packages(include=[f"{folder}{tail}" for folder in FOLDERS for tail in ("", ".*")])
setup(packages=["posepipe", *(f"posepipe.{name}" for name in packages)], package_dir={"posepipe": "."})
