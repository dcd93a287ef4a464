"""Task metrics: PCK and PCKh against ground truth and keypoint agreement between two models.

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


def head_sizes(ground_truth: np.ndarray, keypoints: KeypointSet) -> np.ndarray:
    """Per sample, the length of the set's head segment (head_top to neck) when both
    ends are labelled; NaN otherwise, and everywhere for a set without one.

    MPII's PCKh normalises by 0.6 x the diagonal of a labelled head box; keypoint
    files carry no head box, so, like most re-implementations that score from
    keypoints alone, the head_top-neck (MPII: upper_neck-head_top) distance is used.
    """
    sizes = np.full(len(ground_truth), np.nan, np.float32)
    if keypoints.head is None:
        return sizes
    a, b = keypoints.head
    labelled = (ground_truth[:, a, 2] > 0) & (ground_truth[:, b, 2] > 0)
    length = np.linalg.norm(ground_truth[:, a, :2] - ground_truth[:, b, :2], axis=-1)
    return np.where(labelled & (length > 0), length, sizes).astype(np.float32)


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


def pckh(predicted: np.ndarray, ground_truth: np.ndarray, keypoints: KeypointSet, alpha: float = 0.5) -> float:
    """PCKh@``alpha``: PCK normalised by the head segment (``head_sizes``); NaN when the
    set has no head segment or no sample has both of its ends labelled."""
    return pck(predicted, ground_truth, head_sizes(ground_truth, keypoints), alpha)


def matched(predicted: list[np.ndarray], people: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every labelled person (``people`` [N, P, K, 3], unlabelled rows all zero) beside
    the prediction paired with it: ``(poses [M, K, 2], truth [M, K, 3])`` over all images.

    Per image, predictions ([P_i, K, >=2]) and people are paired one to one by the least
    mean distance over the person's labelled keypoints (scipy's Hungarian solver); a
    person left without a prediction gets NaN, which no PCK counts as near, so a missed
    person costs its keypoints as a bottom-up PCK should."""
    from scipy.optimize import linear_sum_assignment

    found, truth = [], []
    for poses, persons in zip(predicted, people, strict=True):
        persons = persons[(persons[..., 2] > 0).any(axis=-1)]
        paired = np.full((len(persons), persons.shape[1], 2), np.nan, np.float32)
        if len(persons) and len(poses):
            labelled = persons[:, None, :, 2] > 0  # [G, 1, K]
            distance = np.linalg.norm(persons[:, None, :, :2] - poses[None, :, :, :2], axis=-1)  # [G, P, K]
            cost = np.where(labelled, distance, 0).sum(-1) / labelled.sum(-1)
            rows, cols = linear_sum_assignment(cost)
            paired[rows] = poses[cols, :, :2]
        found.append(paired)
        truth.append(persons)
    k = people.shape[-2]
    return (np.concatenate(found) if found else np.zeros((0, k, 2), np.float32),
            np.concatenate(truth) if truth else np.zeros((0, k, 3), np.float32))


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
