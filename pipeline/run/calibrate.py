"""The calibration stage: the set every quantizer measures activations on.

By default it is drawn from the run's own training split (never val) and cached
under a key of the data and the settings; ``--calibration-data`` takes a dataset
(COCO 2017, COCO-format or AI Challenger: its train split) or a plain folder of
images instead. Its sha256 (of the preprocessed tensors) goes into every quantized
artifact's recipe and manifest entry.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from posepipe.calibration.calibset import RECOMMENDED_SAMPLES, CalibrationSet, from_coco, from_folder
from posepipe.calibration.layouts import find_layout
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.engine.atomic import atomic_path
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import key
from posepipe.pipeline.engine.keys import sources
from posepipe.pipeline.run.data import Data

DEFAULT_SAMPLES = 200


def calibration_set(spec: ModelSpec, input_size: tuple[int, int], data: Data, cache: Path, console: Console,
                    samples: int = DEFAULT_SAMPLES, source: Path | None = None, seed: int = 0) -> CalibrationSet:
    if source is not None:
        calibration = _from_source(spec, input_size, source, samples, seed)
    else:
        calibration = _from_training_split(spec, input_size, data, cache, samples, seed)
    console.step(f"calibration: {len(calibration)} samples from {calibration.source}, "
                 f"sha256 {calibration.sha256[:12]}")
    if len(calibration) < RECOMMENDED_SAMPLES:
        console.warn(f"the calibration set has {len(calibration)} samples, fewer than the {RECOMMENDED_SAMPLES} "
                     "recommended: int8 ranges measured on so few may not hold on real images")
    return calibration


def _from_source(spec: ModelSpec, size: tuple[int, int], source: Path, samples: int, seed: int) -> CalibrationSet:
    if (source / "annotations").is_dir() or find_layout(source) is not None:  # COCO (2017) or AI Challenger
        return from_coco(source, spec.keypoints, size, spec.input, samples, seed, spec.topology)
    return from_folder(source, size, spec.input, samples, seed)


def _from_training_split(spec: ModelSpec, size: tuple[int, int], data: Data, cache: Path, samples: int,
                         seed: int) -> CalibrationSet:
    """Made once per data, input and sample count; read back from the cache."""
    code = sources("calibration")  # preprocessing is an input too
    name = key(data.fingerprint, list(size), asdict(spec.input), samples, seed, code)[:12]
    path = cache / "calibration" / f"{spec.name}-{name}.npy"
    source = f"{data.root} (train split)"
    if path.is_file():
        return CalibrationSet.load(path, spec.input.name, source)
    calibration = from_coco(data.root, spec.keypoints, size, spec.input, samples, seed, spec.topology)
    with atomic_path(path) as temp:
        calibration.save(temp)
    return calibration
