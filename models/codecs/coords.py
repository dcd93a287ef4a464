"""Regressed keypoints: a ``coords`` output [K, 2] of (x, y) as fractions of the
input's width and height, and a ``visibility`` output [K] of probabilities.

Fractions rather than pixels keep the regression targets in [0, 1] whatever the
input size, so one initialisation and one learning rate suit every config.
Position and visibility are separate outputs, each with its own range: packed
in one tensor, an unbounded visibility logit set the int8 scale of the
coordinates beside it (measured: a 0.16 scale step, 20 input pixels at 128).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CoordinateEncoder:
    """Targets: ``coords`` [K, 3] = (x / width, y / height, COCO flag 0/1/2) and
    ``visibility`` [K] = the flag. The flag tells each loss which keypoints are
    labelled (> 0) and which are visible (2)."""

    coords: str
    visibility: str
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
        return {self.coords: target.astype(np.float32), self.visibility: person[:, 2].copy()}


@dataclass(frozen=True)
class CoordinateDecoder:
    """Keypoints in input pixels; the score is the visibility probability."""

    coords: str
    visibility: str
    input_size: tuple[int, int]  # (height, width)

    @property
    def name(self) -> str:
        return "coords-regression"

    def decode(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        xy = np.asarray(outputs[self.coords], np.float32).reshape(-1, 2)
        score = np.asarray(outputs[self.visibility], np.float32).reshape(-1)
        h, w = self.input_size
        return np.stack([xy[:, 0] * w, xy[:, 1] * h, score], axis=-1)[None]

    def graph(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """``decode`` as a Keras layer on a model's symbolic outputs ({coords: [1, K, 2],
        visibility: [1, K]}), returning {"keypoints": [1, K, 3]}."""
        from posepipe.models.codecs.graph_heatmaps import CoordinateKeypoints

        layer = CoordinateKeypoints(self.input_size)
        return {"keypoints": layer([outputs[self.coords], outputs[self.visibility]])}
