"""Keypoint sets: names, skeleton, left/right pairs and the OKS constants."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeypointSet:
    """What a model's keypoints mean, for decoders, metrics, flips and drawing.

    ``torso`` names the two diagonals whose length normalises PCK (the first one
    annotated in a sample is used), as LSP's PCK@0.2 does.
    """

    name: str
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    torso: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(self.sigmas) != n:
            raise ValueError(f"{self.name}: {len(self.sigmas)} sigmas for {n} keypoints")
        for a, b in self.skeleton + self.flip_pairs + self.torso:
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(f"{self.name}: edge ({a}, {b}) outside 0..{n - 1}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def flip_index(self) -> tuple[int, ...]:
        """For each keypoint, the index of its mirror image (itself if central)."""
        index = list(range(len(self.names)))
        for a, b in self.flip_pairs:
            index[a], index[b] = b, a
        return tuple(index)


COCO_17 = KeypointSet(
    name="coco-17",
    names=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    skeleton=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
        (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
        (3, 5), (4, 6),
    ),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    torso=((5, 12), (6, 11)),
    # COCO's per-keypoint OKS constants (cocoapi, person_keypoints).
    sigmas=(
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
        0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
    ),
)
