"""Task metrics: PCK against ground truth and keypoint agreement between two models.

Hand-written because they are a few lines of NumPy; OKS AP, which is not, comes
from pycocotools (``validators/oks.py``).
"""

from __future__ import annotations

import numpy as np

from models.keypoints import KeypointSet


def torso_sizes(ground_truth: np.ndarray, keypoints: KeypointSet) -> np.ndarray:
    """Per sample, the length of the first labelled torso diagonal; NaN if none is."""
    sizes = np.full(len(ground_truth), np.nan, np.float32)
    for a, b in reversed(keypoints.torso):  # the first pair wins
        labelled = (ground_truth[:, a, 2] > 0) & (ground_truth[:, b, 2] > 0)
        length = np.linalg.norm(ground_truth[:, a, :2] - ground_truth[:, b, :2], axis=-1)
        sizes = np.where(labelled & (length > 0), length, sizes)
    return sizes


def pck(predicted: np.ndarray, ground_truth: np.ndarray, norms: np.ndarray, alpha: float = 0.2) -> float:
    """Share of labelled keypoints within ``alpha`` x the sample's norm of the truth.

    ``predicted`` [N, K, >=2] and ``ground_truth`` [N, K, 3] in the same pixels;
    samples whose norm is NaN are left out. NaN when nothing is counted.
    """
    mask = (ground_truth[..., 2] > 0) & np.isfinite(norms)[:, None]
    if not mask.any():
        return float("nan")
    distance = np.linalg.norm(predicted[..., :2] - ground_truth[..., :2], axis=-1)
    return float((distance[mask] <= alpha * norms[:, None].repeat(distance.shape[1], 1)[mask]).mean())


def agreement(a: np.ndarray, b: np.ndarray, radius: float) -> float:
    """Share of keypoints where two decodings ([N, K, >=2]) lie within ``radius``."""
    distance = np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)
    return float((distance <= radius).mean())
