"""DARK: distribution-aware decoding of heatmaps (Zhang et al., "Distribution-Aware
Coordinate Representation for Human Pose Estimation", CVPR 2020).

A heatmap cell is ``stride`` input pixels wide, so an argmax is off by up to half a
cell, and the quarter-cell step towards the higher neighbour only halves that. A
network trained on Gaussian targets predicts (close to) a Gaussian, whose logarithm
is a quadratic: one Newton step on the log-heatmap from the argmax lands on the
Gaussian's centre. DARK first smooths the heatmap with a Gaussian kernel (a
predicted heatmap has several small bumps; smoothing a Gaussian keeps its centre),
then takes the log and the step ``-H^-1 g`` from finite differences.

Pure NumPy, vectorised over keypoint channels: it runs in the decoder after every
runtime, not in the graph.
"""

from __future__ import annotations

import numpy as np

FLOOR = 1e-10  # log of a smoothed heatmap: no log(0)
MAX_STEP = 1.0  # cells; a longer step means a flat or saddle-shaped peak, not a Gaussian


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian of radius ceil(3 sigma)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(taps**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def blur(heatmaps: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian smoothing of [H, W, K] heatmaps.

    Outside the map counts as zero likelihood: replicating or mirroring the border
    instead invents mass there and drags peaks near the border outwards (measured:
    3x the error for peaks within two cells of the edge).
    """
    kernel = gaussian_kernel(sigma)
    radius = len(kernel) // 2
    out = heatmaps.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0)] * 3
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad)
        size = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + size), axis=axis) for i, w in enumerate(kernel))
    return out


def dark_offsets(heatmaps: np.ndarray, y: np.ndarray, x: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Sub-cell offsets (dx, dy) of each channel's peak from its argmax (``y``, ``x``).

    ``heatmaps`` [H, W, K] must be non-negative likelihoods (for logits, pass
    ``exp(logits - max)``). Where the smoothed log-heatmap is not a maximum (its
    Hessian is not negative definite) the offset is 0: the argmax stands.
    """
    log = np.log(np.maximum(blur(heatmaps, sigma), FLOOR))
    log = np.pad(log, ((1, 1), (1, 1), (0, 0)), mode="edge")
    k = np.arange(heatmaps.shape[2])
    cy, cx = y + 1, x + 1

    def at(dy: int, dx: int) -> np.ndarray:
        return log[cy + dy, cx + dx, k]

    centre = at(0, 0)
    gx, gy = 0.5 * (at(0, 1) - at(0, -1)), 0.5 * (at(1, 0) - at(-1, 0))
    hxx, hyy = at(0, 1) - 2 * centre + at(0, -1), at(1, 0) - 2 * centre + at(-1, 0)
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    maximum = (hxx < 0) & (det > 0)
    safe = np.where(maximum, det, 1.0)
    dx = np.where(maximum, -(hyy * gx - hxy * gy) / safe, 0.0)
    dy = np.where(maximum, -(hxx * gy - hxy * gx) / safe, 0.0)
    return np.clip(dx, -MAX_STEP, MAX_STEP).astype(np.float32), np.clip(dy, -MAX_STEP, MAX_STEP).astype(np.float32)
