"""Labelled samples in memory: preprocessed pixels beside their ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from calibration.coco import CocoKeypoints, read_image
from calibration.preprocess import CropTransform, person_crop


@dataclass(frozen=True)
class SampleSet:
    """Crops of one split. ``pixels`` stay uint8 until a consumer normalises them
    with the model's InputSpec, so a set costs a quarter of its float size."""

    pixels: np.ndarray  # [N, H, W, 3] uint8
    transforms: tuple[CropTransform, ...]
    keypoints: np.ndarray  # [N, K, 3] ground truth in image pixels
    bboxes: np.ndarray  # [N, 4] x, y, w, h
    areas: np.ndarray  # [N]
    image_ids: np.ndarray  # [N]

    def __len__(self) -> int:
        return len(self.pixels)

    def input_keypoints(self) -> np.ndarray:
        """Ground truth in input pixels, visibility kept ([N, K, 3])."""
        out = np.stack([t.to_input(k) for t, k in zip(self.transforms, self.keypoints, strict=True)])
        out[self.keypoints[..., 2] <= 0] = 0.0
        return out


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
