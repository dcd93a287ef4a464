"""A bottom-up keypoints file's candidate peaks (``peaks`` [K, N, 3]: x, y, score
per keypoint, strongest first) against the same peaks found in NumPy on the
reference's outputs (the decoder's ``peaks``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

PEAKS = "peaks"


def peak_agreement(actual: Sequence[Mapping[str, np.ndarray]], expected: Sequence[Mapping[str, np.ndarray]],
                   radius: float, threshold: float) -> float:
    """Share of the expected peaks scoring at least ``threshold`` (what grouping reads)
    that the actual peaks of the same keypoint have within ``radius`` input pixels.
    1.0 when there is nothing to find."""
    found = wanted = 0
    for got, want in zip(actual, expected, strict=True):
        a, e = np.asarray(got[PEAKS], np.float32), np.asarray(want[PEAKS], np.float32)
        for k in range(e.shape[0]):
            strong = e[k][e[k, :, 2] >= threshold]
            if not len(strong):
                continue
            wanted += len(strong)
            distance = np.linalg.norm(strong[:, None, :2] - a[k][None, :, :2], axis=-1)  # [strong, N]
            found += int((distance.min(axis=1) <= radius).sum())
    return found / wanted if wanted else 1.0
