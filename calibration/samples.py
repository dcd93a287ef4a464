"""Labelled samples in memory: preprocessed pixels beside their ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from posepipe.calibration.coco import CocoKeypoints, read_image
from posepipe.calibration.preprocess import CropTransform, person_crop, whole_image
from posepipe.models.spec import Topology


@dataclass(frozen=True)
class SampleSet:
    """Model inputs of one split. ``pixels`` stay uint8 until a consumer normalises
    them with the model's InputSpec, so a set costs a quarter of its float size.

    Top-down: one person's crop per sample, ``keypoints`` [N, K, 3]. Bottom-up:
    one whole image per sample and its people, ``keypoints`` [N, P, K, 3] with P
    the most people in an image and missing people as rows of zeros (area 0)."""

    pixels: np.ndarray  # [N, H, W, 3] uint8
    transforms: tuple[CropTransform, ...]
    keypoints: np.ndarray  # [N, K, 3] or [N, P, K, 3]: ground truth in image pixels
    bboxes: np.ndarray  # [N, 4] or [N, P, 4]: x, y, w, h
    areas: np.ndarray  # [N] or [N, P]
    image_ids: np.ndarray  # [N]

    def __len__(self) -> int:
        return len(self.pixels)

    def input_keypoints(self) -> np.ndarray:
        """Ground truth in input pixels, visibility kept ([N, K, 3])."""
        out = np.stack([t.to_input(k) for t, k in zip(self.transforms, self.keypoints, strict=True)])
        out[self.keypoints[..., 2] <= 0] = 0.0
        return out


def load_samples(dataset: CocoKeypoints, topology: Topology, size: tuple[int, int], limit: int | None = None,
                 progress: Callable[[int], None] | None = None) -> SampleSet:
    """The samples a model of ``topology`` sees: people's crops, or whole images."""
    load = load_top_down if topology is Topology.TOP_DOWN else load_bottom_up
    return load(dataset, size, limit, progress)


def load_top_down(dataset: CocoKeypoints, size: tuple[int, int], limit: int | None = None,
                  progress: Callable[[int], None] | None = None) -> SampleSet:
    """One crop per labelled person, in file order (so the first N are always the same N)."""
    samples = dataset.top_down(limit)
    pixels, transforms = [], []
    cache: dict[int, np.ndarray] = {}
    for image, person in samples:
        if image.id not in cache:
            cache = {image.id: read_image(image.path)}  # people of one image are adjacent
        crop, window = person_crop(cache[image.id], person.bbox, size)
        pixels.append(crop)
        transforms.append(window)
        if progress:
            progress(1)
    return SampleSet(
        pixels=np.stack(pixels),
        transforms=tuple(transforms),
        keypoints=np.stack([p.keypoints for _, p in samples]),
        bboxes=np.asarray([p.bbox for _, p in samples], np.float32),
        areas=np.asarray([p.area for _, p in samples], np.float32),
        image_ids=np.asarray([p.image_id for _, p in samples]),
    )


def load_bottom_up(dataset: CocoKeypoints, size: tuple[int, int], limit: int | None = None,
                   progress: Callable[[int], None] | None = None) -> SampleSet:
    """The first ``limit`` whole images, letterboxed into the input, with all their people."""
    samples = dataset.bottom_up(limit)
    k = dataset.people[0].keypoints.shape[0] if dataset.people else 0
    most = max((len(people) for _, people in samples), default=0) or 1
    keypoints = np.zeros((len(samples), most, k, 3), np.float32)
    bboxes = np.zeros((len(samples), most, 4), np.float32)
    areas = np.zeros((len(samples), most), np.float32)
    pixels, transforms = [], []
    for i, (image, people) in enumerate(samples):
        picture, window = whole_image(read_image(image.path), size)
        pixels.append(picture)
        transforms.append(window)
        for j, person in enumerate(people):
            keypoints[i, j], bboxes[i, j], areas[i, j] = person.keypoints, person.bbox, person.area
        if progress:
            progress(1)
    return SampleSet(np.stack(pixels), tuple(transforms), keypoints, bboxes, areas,
                     np.asarray([image.id for image, _ in samples]))
