"""Gaussian heatmaps: the training targets (encoder) and keypoints from them (decoder).

Coordinates: a keypoint at input pixel ``p`` is centred at heatmap cell ``p / stride``
and decoded back as ``cell * stride``, so encode and decode are exact inverses.

DARK (Zhang et al., CVPR 2020) works both ways: the encoder's ``Centre.UNBIASED`` puts each target
Gaussian at its sub-cell position (``Centre.QUANTISED`` rounds it to a cell, as
SimpleBaseline's original targets do), and the decoder's ``Refinement.DARK`` reads
the sub-cell position back from the predicted Gaussian (``models/codecs/dark.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from posepipe.models.codecs.dark import dark_offsets


class Refinement(StrEnum):
    """Sub-pixel refinement of a heatmap's argmax."""

    NONE = "argmax"
    QUARTER = "quarter"  # a quarter cell towards the higher neighbour (SimpleBaseline)
    DARK = "dark"  # a Newton step on the smoothed log-heatmap (models/codecs/dark.py)


class Centre(StrEnum):
    """Where a target Gaussian is centred."""

    UNBIASED = "unbiased"  # at the keypoint's sub-cell position (DARK's encoding)
    QUANTISED = "quantised"  # at the nearest cell: up to half a cell of built-in error


@dataclass(frozen=True)
class HeatmapEncoder:
    """One Gaussian per annotated keypoint; several people merge by maximum."""

    output: str
    stride: int
    size: tuple[int, int]  # heatmap (height, width)
    sigma: float
    centre: Centre = Centre.UNBIASED

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        h, w = self.size
        ys = np.arange(h, dtype=np.float32)[:, None, None]
        xs = np.arange(w, dtype=np.float32)[None, :, None]
        target = np.zeros((h, w, keypoints.shape[1]), np.float32)
        for person in keypoints:
            cx, cy = person[:, 0] / self.stride, person[:, 1] / self.stride
            if self.centre is Centre.QUANTISED:
                cx, cy = np.floor(cx + 0.5), np.floor(cy + 0.5)
            g = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * self.sigma**2))
            g[..., person[:, 2] <= 0] = 0.0
            np.maximum(target, g, out=target)
        return {self.output: target}


@dataclass(frozen=True)
class HeatmapDecoder:
    """Argmax per keypoint channel, refined.

    The score is the peak value, or for ``logits`` heatmaps (trained with a
    spatial softmax) the peak's softmax probability. DARK smooths with a Gaussian
    of ``sigma`` cells (the training targets'); logits are first turned back into
    likelihoods, ``exp(logits - max)``, which a spatial softmax makes Gaussian.
    """

    output: str
    stride: int
    refine: Refinement = Refinement.QUARTER
    logits: bool = False
    sigma: float = 2.0

    @property
    def name(self) -> str:
        return f"heatmap-{self.refine.value}"

    def decode(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        hm = np.asarray(outputs[self.output], np.float32)  # [H, W, K]
        h, w, k = hm.shape
        flat = hm.reshape(h * w, k).argmax(axis=0)
        y, x = np.divmod(flat, w)
        score = hm[y, x, np.arange(k)]
        if self.logits:
            peak = hm.reshape(h * w, k).max(axis=0)
            score = 1.0 / np.exp(hm.reshape(h * w, k) - peak).sum(axis=0)
        fx, fy = x.astype(np.float32), y.astype(np.float32)
        if self.refine is Refinement.QUARTER:
            fx += 0.25 * _neighbour_sign(hm, y, x, axis=1)
            fy += 0.25 * _neighbour_sign(hm, y, x, axis=0)
        elif self.refine is Refinement.DARK:
            likelihood = np.exp(hm - hm.max(axis=(0, 1))) if self.logits else hm
            dx, dy = dark_offsets(likelihood, y, x, self.sigma)
            fx, fy = fx + dx, fy + dy
        return np.stack([fx * self.stride, fy * self.stride, score], axis=-1)[None]

    def graph(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """``decode`` as a Keras layer on a model's symbolic outputs ({name: [1, H, W, K]}),
        returning {"keypoints": [1, K, 3]}. It keeps this decoder's refinement, so the file
        gives what ``decode`` gives (models/codecs/graph_heatmaps.py says how, and why)."""
        from posepipe.models.codecs.graph_heatmaps import HeatmapKeypoints

        layer = HeatmapKeypoints(self.stride, self.refine.value, logits=self.logits, sigma=self.sigma)
        return {"keypoints": layer(outputs[self.output])}


def _neighbour_sign(hm: np.ndarray, y: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """sign(next - previous) along ``axis`` at each peak; 0 on the border."""
    k = np.arange(hm.shape[2])
    pos = x if axis == 1 else y
    limit = hm.shape[axis] - 1
    inside = (pos > 0) & (pos < limit)
    hi, lo = np.clip(pos + 1, 0, limit), np.clip(pos - 1, 0, limit)
    diff = hm[y, hi, k] - hm[y, lo, k] if axis == 1 else hm[hi, x, k] - hm[lo, x, k]
    return np.where(inside, np.sign(diff), 0.0).astype(np.float32)
