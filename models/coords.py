"""Regressed keypoints: a ``coords`` output [K, 3] of (x, y, visibility logit),
x and y as fractions of the input's width and height.

Fractions rather than pixels keep the regression targets in [0, 1] whatever the
input size, so one initialisation and one learning rate suit every config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CoordinateEncoder:
    """Target [K, 3]: (x / width, y / height, COCO visibility flag 0/1/2). The flag
    tells the loss which keypoints are labelled (> 0) and which are visible (2)."""

    output: str
    input_size: tuple[int, int]  # (height, width)

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        if len(keypoints) != 1:
            raise ValueError(f"coordinate regression is single-person; got {len(keypoints)} people")
        h, w = self.input_size
        person = keypoints[0].astype(np.float32)
        labelled = person[:, 2] > 0
        target = np.stack([
            np.where(labelled, person[:, 0] / w, 0.0),
            np.where(labelled, person[:, 1] / h, 0.0),
            person[:, 2],
        ], axis=-1)
        return {self.output: target.astype(np.float32)}


@dataclass(frozen=True)
class CoordinateDecoder:
    """Keypoints in input pixels; the score is the visibility probability."""

    output: str
    input_size: tuple[int, int]  # (height, width)

    @property
    def name(self) -> str:
        return "coords-regression"

    def decode(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        coords = np.asarray(outputs[self.output], np.float32)  # [K, 3]
        h, w = self.input_size
        score = 1.0 / (1.0 + np.exp(-coords[:, 2]))
        return np.stack([coords[:, 0] * w, coords[:, 1] * h, score], axis=-1)[None]
