"""Calibration sets: the images quantizers measure activation ranges on.

Drawn deterministically from the training split (never the val split that the
artifacts are judged on), preprocessed exactly as the model's inputs by the one
preprocessing path, and identified by the sha256 of the resulting tensor bytes.
TFLite's representative dataset, ONNX Runtime's CalibrationDataReader and Core
ML's sample data are all adapters over one ``Iterable[dict[str, np.ndarray]]``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posepipe.calibration.coco import CocoKeypoints, read_image
from posepipe.calibration.errors import DatasetNotFoundError, EmptyDatasetError
from posepipe.calibration.preprocess import person_crop, whole_image
from posepipe.models.keypoints import KeypointSet
from posepipe.models.spec import InputSpec, Topology

RECOMMENDED_SAMPLES = 100  # below this, activation ranges are guesses (ultralytics warns under 300)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class CalibrationSet:
    input_name: str
    inputs: np.ndarray  # [N, H, W, 3] float32, normalised as the model expects (uint8 pixels: ``as_pixels``)
    source: str

    def __post_init__(self) -> None:
        if len(self.inputs) == 0:
            raise EmptyDatasetError(f"{self.source}: the calibration set has no image")

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for x in self.inputs:
            yield {self.input_name: x[None]}

    def as_pixels(self, spec: InputSpec) -> CalibrationSet:
        """The same images as the uint8 pixels they were normalised from: what an app
        file (which normalises inside its graph) is calibrated on."""
        return CalibrationSet(self.input_name, spec.pixels(self.inputs), self.source)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.inputs).tobytes()).hexdigest()

    def save(self, path: Path) -> None:
        np.save(path, self.inputs, allow_pickle=False)

    @classmethod
    def load(cls, path: Path, input_name: str, source: str) -> CalibrationSet:
        return cls(input_name, np.load(path, allow_pickle=False), source)


def from_coco(root: Path, keypoints: KeypointSet | int, size: tuple[int, int], spec: InputSpec,
              samples: int, seed: int = 0, topology: Topology = Topology.TOP_DOWN) -> CalibrationSet:
    """``samples`` labelled people of the train split (whole images for a bottom-up
    model), chosen by a seeded shuffle so the set spreads over the whole split
    rather than its first images."""
    split = CocoKeypoints.load(root, "train", keypoints)
    if topology is Topology.TOP_DOWN:
        people = split.top_down()
        pick = [(image, person.bbox) for image, person in people]
    else:
        pick = [(image, None) for image, _ in split.bottom_up()]
    order = np.random.default_rng(seed).permutation(len(pick))[:samples]
    crops = []
    for i in sorted(order):
        image, bbox = pick[i]
        pixels = read_image(image.path)
        crops.append(whole_image(pixels, size)[0] if bbox is None else person_crop(pixels, bbox, size)[0])
    return CalibrationSet(spec.name, spec.normalise(np.stack(crops)), f"{root} (train split)")


def from_folder(folder: Path, size: tuple[int, int], spec: InputSpec, samples: int, seed: int = 0) -> CalibrationSet:
    """A plain folder of images, each taken whole (letterboxed): for top-down models
    the images should already be person crops."""
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: calibration folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EmptyDatasetError(f"{folder}: no {', '.join(IMAGE_SUFFIXES)} image to calibrate on")
    order = np.random.default_rng(seed).permutation(len(files))[:samples]
    crops = [whole_image(read_image(files[i]), size)[0] for i in sorted(order)]
    return CalibrationSet(spec.name, spec.normalise(np.stack(crops)), f"{folder} (image folder)")
