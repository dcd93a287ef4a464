"""Task metrics: PCK against ground truth and keypoint agreement between two models.

Hand-written because they are a few lines of NumPy; OKS AP, which is not, comes
from pycocotools (``validators/accuracy/oks.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posepipe.models.keypoints import KeypointSet


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


@dataclass(frozen=True)
class Agreement:
    """Two decodings compared on two questions: did they find the same people, and
    did they put the people both found in the same place."""

    keypoints: float  # share of the paired people's keypoints within the radius
    people: float | None = None  # share of people found by both; None when the input is the person (a crop)


def pose_agreement(a: list[np.ndarray], b: list[np.ndarray], radius: float) -> Agreement:
    """Per image, poses ([P, K, >=2] each side) are paired one to one by the least
    total mean keypoint distance (scipy's Hungarian solver).

    ``people`` is the pairs over the larger pose count; ``keypoints`` is the paired
    poses' keypoints within ``radius``. They are two shares, not one, because a pose
    left without a partner is a detection decision (a root score or a pose score on
    one side of a threshold), not a placement: counted as K disagreeing keypoints
    it weighed a borderline person 17 times and hid where two decodings differed.
    Each is 1.0 when there is nothing to count.
    """
    from scipy.optimize import linear_sum_assignment

    agreeing = placed = paired = found = 0
    for left, right in zip(a, b, strict=True):
        found += max(len(left), len(right))
        if not len(left) or not len(right):
            continue
        distance = np.linalg.norm(left[:, None, :, :2] - right[None, :, :, :2], axis=-1)  # [Pa, Pb, K]
        rows, cols = linear_sum_assignment(distance.mean(axis=-1))
        paired += len(rows)
        placed += distance[rows, cols].size
        agreeing += int((distance[rows, cols] <= radius).sum())
    return Agreement(agreeing / placed if placed else 1.0, paired / found if found else 1.0)
