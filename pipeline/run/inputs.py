"""What the stages of one run read: the user's settings and the run's inputs,
made on first use, in the parent and again in each pool worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from posepipe import models
from posepipe.calibration.calibset import CalibrationSet
from posepipe.calibration.coco import CocoKeypoints
from posepipe.converters import ConversionRequest
from posepipe.converters.metadata import ArtifactMetadata
from posepipe.converters.recipe import Recipe
from posepipe.models.app import variant_model
from posepipe.models.formats import Format, Precision, Variant
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.engine.console import Console, RecordingConsole
from posepipe.pipeline.engine.hashing import key
from posepipe.pipeline.engine.keys import ARTIFACT_SOURCES, REFERENCE_SOURCES, code_key
from posepipe.pipeline.engine.pool import Workspace
from posepipe.pipeline.engine.versions import tool_versions
from posepipe.pipeline.run.calibrate import DEFAULT_SAMPLES, calibration_set
from posepipe.pipeline.run.checkpoint import Checkpoint, load_checkpoint
from posepipe.pipeline.run.contract import model_contract
from posepipe.pipeline.run.data import Data
from posepipe.pipeline.run.describe import model_metadata
from posepipe.pipeline.run.latency import LatencyOptions
from posepipe.pipeline.run.matrix import MatrixCell
from posepipe.pipeline.run.produce import Stage
from posepipe.pipeline.run.reference import val_reference
from posepipe.validators.validate import Reference


@dataclass(frozen=True)
class RunSettings:
    model: str
    spec_file: Path | None = None  # the model's spec file (--spec), registered again in each pool worker
    preset: str = "default"
    overrides: tuple[tuple[str, str], ...] = ()
    data: Path | None = None
    checkpoint: Path | None = None
    out: Path = Path("artifacts")
    cache: Path = Path(".cache/posepipe")
    formats: tuple[Format, ...] = tuple(Format)
    variants: tuple[Variant, ...] = tuple(Variant)  # app and keypoints files where a format builds them
    precisions: tuple[Precision, ...] | None = None  # None: each format's defaults
    recipe: Recipe = Recipe()
    calibration_samples: int = DEFAULT_SAMPLES
    calibration_data: Path | None = None
    auto_mixed_precision: bool = False
    val_samples: int | None = None
    epochs: int | None = None
    threads: int = 1
    seed: int = 0
    latency: LatencyOptions = LatencyOptions()
    jobs: int = 1  # worker processes for the artifact stages
    force: bool = False  # redo every stage, up to date or not


class Inputs:
    """What the stages of one run read. The slow ones (the reference outputs,
    the calibration set) are made on first use: a run whose stages are all up
    to date needs neither."""

    def __init__(self, settings: RunSettings, spec: ModelSpec, config: Any, schedule: Any, data: Data, model: Any,
                 checkpoint: Checkpoint, calibrated: bool, console: Console) -> None:
        self.settings, self.spec, self.config, self.schedule, self.data = settings, spec, config, schedule, data
        self.model, self.checkpoint, self.calibrated, self.console = model, checkpoint, calibrated, console
        self.out = settings.out / spec.name
        self.decoder: str = spec.make_decoder(config).name
        self.val_samples = settings.val_samples or schedule.val_images

    @cached_property
    def validation(self) -> tuple[Reference, CocoKeypoints]:
        return val_reference(self.model, self.spec, self.config, self.data, self.val_samples, self.console)

    @property
    def reference(self) -> Reference:
        return self.validation[0]

    @cached_property
    def calibration(self) -> CalibrationSet | None:
        if not self.calibrated:
            return None
        s = self.settings
        return calibration_set(self.spec, self.config.input_size, self.data, s.cache, self.console,
                               s.calibration_samples, s.calibration_data, s.seed)

    @cached_property
    def metadata(self) -> ArtifactMetadata:
        made = model_metadata(self.spec, self.config, self.checkpoint.weights_sha256, self.decoder)
        return replace(made, contract=model_contract(self.spec, self.config))

    def reference_key(self) -> str:
        return key("reference", self.checkpoint.weights_sha256, self.data.fingerprint, self.val_samples,
                   self.decoder, code_key(self.spec, *REFERENCE_SOURCES), tool_versions())

    def artifact_key(self, cell: MatrixCell) -> str:
        s, fmt, precision = self.settings, cell.format, cell.precision
        calibration = _calibration_json(self.calibration) if precision.calibrated else None
        return key("artifact", self.spec.name, asdict(self.config), str(fmt), str(precision), str(cell.variant),
                   s.recipe.for_artifact(fmt, precision), list(s.recipe.keep_float), s.auto_mixed_precision,
                   calibration, asdict(self.metadata), self.reference_key(), code_key(self.spec, *ARTIFACT_SOURCES),
                   tool_versions())

    def workspace(self) -> Workspace:
        s = self.settings
        stage = Stage(self.out, s.cache / "logs" / self.spec.name, self.reference, s.threads, s.auto_mixed_precision,
                      _calibration_json(self.calibration), self.metadata, self.config)

        def request(cell: MatrixCell) -> ConversionRequest:
            calibration = self.calibration if cell.precision.calibrated else None
            if calibration is not None and cell.variant.takes_pixels:
                calibration = calibration.as_pixels(self.spec.input)
            model = variant_model(self.model, self.spec, self.config, cell.variant)
            return ConversionRequest(model, self.spec, self.config.input_size, cell.precision, calibration,
                                     s.recipe, variant=cell.variant)

        return Workspace(self.model, stage, request)


def worker_workspace(settings: RunSettings, checkpoint: Checkpoint, data: Data, calibrated: bool) -> Workspace:
    """A pool worker's copy of the run's inputs (spawned: nothing is inherited)."""
    if settings.spec_file is not None:
        models.registry.add_spec_file(settings.spec_file, settings.checkpoint)
    spec, config = models.get(settings.model).configured(settings.preset, dict(settings.overrides))
    schedule = spec.schedule_for(settings.preset)
    console = RecordingConsole()
    model = load_checkpoint(checkpoint.path, spec, config)
    return Inputs(settings, spec, config, schedule, data, model, checkpoint, calibrated, console).workspace()


def _calibration_json(calibration: CalibrationSet | None) -> dict[str, Any] | None:
    if calibration is None:
        return None
    return {"sha256": calibration.sha256, "samples": len(calibration), "source": calibration.source}
