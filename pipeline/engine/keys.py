"""The code part of stage keys: which source folders a stage runs, so that editing
one model's module retrains that model only, and editing a converter rebuilds
artifacts but does not retrain. Keys digest whole folders: code moved into a new
file keeps invalidating what it produces."""

from __future__ import annotations

import sys
from pathlib import Path

from posepipe import models
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.engine.hashing import key, source_digest

# The repository root: the folders below are named from it.
SOURCE_ROOT = Path(__file__).resolve().parents[2]

# What trains a checkpoint (the model's own code is added per model).
TRAINING_SOURCES = ("calibration", "pipeline/training")
# What produces an artifact and its verdict (the model's own code is added per model).
ARTIFACT_SOURCES = ("converters", "validators", "calibration", "pipeline/run", "pipeline/manifest")
# The reference record's fields are written by the run's orchestration.
REFERENCE_SOURCES = ("validators", "calibration", "pipeline/run")
LATENCY_SOURCES = ("validators", "pipeline/run")
REPORT_SOURCES = ("pipeline/report", "validators")


def model_sources(spec: ModelSpec) -> str:
    """models/ without the other zoo models' modules: the backbones, codecs, policy
    and the spec machinery, plus this model's module (a plug-in's lives outside models/)."""
    others = {_module_file(models.get(name)) for name in models.names() if name != spec.name}
    own = sorted(p for p in (SOURCE_ROOT / "models").rglob("*.py") if p not in others)
    module = _module_file(spec)
    return source_digest(*own, *([module] if module not in own and module.is_file() else []))


def sources(*parts: str) -> str:
    return source_digest(*(SOURCE_ROOT / p for p in parts))


def code_key(spec: ModelSpec, *parts: str) -> str:
    return key(model_sources(spec), sources(*parts))


def _module_file(spec: ModelSpec) -> Path:
    return Path(sys.modules[spec.build.__module__].__file__ or "").resolve()
