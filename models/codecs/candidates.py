"""Bottom-up candidates in NumPy: what the in-graph peak extraction (models/codecs/graph_peaks.py)
computes, as the reference it is validated against, and PoseNet's grouping on them (the part of
decoding an app runs on a keypoints file's small arrays).

A candidate table is per keypoint, strongest first: ``PEAKS`` [K, N, 3] (x, y in input pixels,
score after the output's activation). Entries past a channel's last local maximum are all zeros.
PoseNet adds ``PEAK_CELLS`` [K, N] (each candidate's cell, row * W + col, -1 past the last: the
decoder's order among equal scores) and ``PEAK_POSES`` [K, N, K, 3], the pose (x, y, score)
its decoder's walk finds from each candidate as the root: a walk depends on its root and the
maps only, so the graph runs them all and the app keeps the greedy part (``group_poses``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter
from scipy.special import expit

PEAKS = "peaks"
PEAK_CELLS = "peak_cells"
PEAK_POSES = "peak_poses"


def top_cells(logits: np.ndarray, is_peak: np.ndarray, candidates: int) -> np.ndarray:
    """Per channel of [H, W, K], the flat cell indices (row * W + col) of the ``candidates``
    strongest peaks by logit, ties in raster order (as TopK orders them); -1 past the last."""
    h, w, k = logits.shape
    n = min(candidates, h * w)
    cells = np.full((k, n), -1, np.int64)
    for j in range(k):
        flat = np.flatnonzero(is_peak[..., j].ravel())
        chosen = flat[np.argsort(-logits[..., j].ravel()[flat], kind="stable")][:n]
        cells[j, :len(chosen)] = chosen
    return cells


def posenet_peaks(heatmap: np.ndarray, offsets: np.ndarray, stride: int, candidates: int,
                  radius: int) -> tuple[np.ndarray, np.ndarray]:
    """PoseNet's candidates from one image's heatmap logits [H, W, K] and offsets [H, W, (y, x), K]:
    maxima of the logits in a (2 radius + 1)^2 window, each at its cell plus the offset there,
    clipped as the decoder's roots. (``PEAKS`` [K, N, 3], ``PEAK_CELLS`` [K, N] int32)."""
    logits = np.asarray(heatmap, np.float32)
    h, w, k = logits.shape
    size = 2 * radius + 1
    is_peak = logits == maximum_filter(logits, size=(size, size, 1), mode="constant", cval=-np.inf)
    cells = top_cells(logits, is_peak, candidates)
    valid = cells >= 0
    row, col = np.divmod(np.maximum(cells, 0), w)  # [K, N]
    keypoint = np.arange(k)[:, None]
    limit = np.asarray([h * stride - 1, w * stride - 1], np.float32)  # (y, x)
    yx = np.clip(np.stack([row, col], -1).astype(np.float32) * stride + offsets[row, col, :, keypoint], 0.0, limit)
    table = np.concatenate([yx[..., ::-1], expit(logits[row, col, keypoint])[..., None]], -1)
    return np.where(valid[..., None], table, 0.0).astype(np.float32), np.where(valid, cells, -1).astype(np.int32)


def group_poses(decoder: Any, found: Mapping[str, np.ndarray]) -> np.ndarray:
    """PoseNetDecoder.decode's greedy part on the tables: roots are the candidates scoring at least
    ``score_threshold``, strongest first (equal scores in raster order of their cells, then by
    keypoint, as decode orders them); each root's pose is looked up, not walked. People [P, K, 3]
    as (x, y, score)."""
    peaks = np.asarray(found[PEAKS], np.float32)
    cells = np.asarray(found[PEAK_CELLS], np.int64)
    walked = np.asarray(found[PEAK_POSES], np.float32)
    k = peaks.shape[0]
    score = peaks[..., 2]
    ik, iz = np.nonzero((cells >= 0) & (score >= decoder.score_threshold))
    order = np.lexsort((ik, cells[ik, iz], -score[ik, iz]))
    ik, iz = ik[order], iz[order]
    roots = peaks[ik, iz, :2]
    alive = np.ones(len(roots), bool)
    poses: list[np.ndarray] = []
    kept: list[tuple[float, int]] = []
    r2 = decoder.nms_radius**2
    while len(kept) < decoder.max_poses and alive.any():
        c = int(np.argmax(alive))
        pose = walked[ik[c], iz[c]]
        alive &= ((roots - pose[ik, :2]) ** 2).sum(-1) > r2
        alive[c] = False
        fresh = np.ones(k, bool)
        if poses:
            fresh = (((np.stack(poses)[..., :2] - pose[:, :2]) ** 2).sum(-1) > r2).all(axis=0)
        pose_score = float(pose[fresh, 2].sum() / k)
        poses.append(pose)
        if pose_score >= decoder.pose_threshold:
            kept.append((pose_score, len(poses) - 1))
    kept.sort(key=lambda item: -item[0])
    return np.asarray([poses[i] for _, i in kept], np.float32).reshape(len(kept), k, 3)
