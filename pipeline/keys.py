"""The code part of stage keys: which sources a stage runs, so that editing one
model's module retrains that model only, and editing a converter rebuilds
artifacts but does not retrain."""

from __future__ import annotations

import sys
from pathlib import Path

import models
from models.spec import ModelSpec
from pipeline.data import PACKAGE_ROOT
from pipeline.hashing import key, source_digest

# What trains a checkpoint (the model's own code is added per model).
TRAINING_SOURCES = ("calibration", "pipeline/train.py", "pipeline/input_pipeline.py", "pipeline/distribute.py",
                    "pipeline/precise_bn.py")
# What produces an artifact and its verdict (the model's own code is added per model).
ARTIFACT_SOURCES = ("converters", "validators", "calibration", "pipeline/convert.py", "pipeline/produce.py",
                    "pipeline/describe.py", "pipeline/manifest.py")
# The reference record's fields are written by pipeline/run.py.
REFERENCE_SOURCES = ("validators", "calibration", "pipeline/reference.py", "pipeline/run.py")
LATENCY_SOURCES = ("validators", "pipeline/latency.py")
REPORT_SOURCES = ("pipeline/report.py", "pipeline/report_chart.py", "pipeline/overlay.py", "validators")


def model_sources(spec: ModelSpec) -> str:
    """models/ without the other zoo models' modules: the shared blocks, losses,
    decoders and the spec machinery, plus this model's module."""
    others = {_module_file(models.get(name)) for name in models.names() if name != spec.name}
    return source_digest(*(p for p in sorted((PACKAGE_ROOT / "models").glob("*.py")) if p not in others))


def sources(*parts: str) -> str:
    return source_digest(*(PACKAGE_ROOT / p for p in parts))


def code_key(spec: ModelSpec, *parts: str) -> str:
    return key(model_sources(spec), sources(*parts))


def _module_file(spec: ModelSpec) -> Path:
    return Path(sys.modules[spec.build.__module__].__file__ or "").resolve()
