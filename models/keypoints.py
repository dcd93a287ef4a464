"""Keypoint sets: names, skeleton, left/right pairs, the OKS constants where a set
has them and the lengths that normalise PCK and PCKh.

A set is data, so a model, a dataset and the synthetic generator agree on it by
name: ``keypoint_set("aic-14")`` (or ``"aic14"``). The built-in sets follow their
datasets' standard orders; a spec file can define another ``KeypointSet``.
"""

from __future__ import annotations

from dataclasses import dataclass

from posepipe.models.errors import ConfigError


@dataclass(frozen=True)
class KeypointSet:
    """What a model's keypoints mean, for decoders, metrics, flips and drawing.

    ``torso`` names the two diagonals whose length normalises PCK (the first one
    annotated in a sample is used), as LSP's PCK@0.2 does. ``head`` is the segment
    whose length normalises PCKh; MPII's own PCKh uses 0.6 x the diagonal of a
    labelled head box, which keypoints alone do not carry, so like many
    re-implementations posepipe uses the head_top-neck distance (None: no PCKh).
    ``sigmas`` are the per-keypoint OKS constants (None: the dataset defines none,
    so OKS AP is not available and the task metric falls back to PCK/PCKh).
    """

    name: str
    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    torso: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None = None
    head: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        n = len(self.names)
        if len(set(self.names)) != n:
            raise ValueError(f"{self.name}: repeated keypoint names")
        if self.sigmas is not None and len(self.sigmas) != n:
            raise ValueError(f"{self.name}: {len(self.sigmas)} sigmas for {n} keypoints")
        for a, b in self.skeleton + self.flip_pairs + self.torso + ((self.head,) if self.head else ()):
            if not (0 <= a < n and 0 <= b < n):
                raise ValueError(f"{self.name}: edge ({a}, {b}) outside 0..{n - 1}")

    def __len__(self) -> int:
        return len(self.names)

    def labels(self, names: list[str] | tuple[str, ...]) -> bool:
        """Whether a dataset's keypoint ``names`` (a COCO category's ``keypoints``) are
        this set's, in its order; spelling is free (``r_ankle`` is ``right_ankle``)."""
        return [canonical(n) for n in names] == [canonical(n) for n in self.names]

    def called(self, name: str) -> bool:
        """Whether ``name`` names this set (the dash and case are free: "AIC14" is "aic-14")."""
        return _spelling(name) == _spelling(self.name)

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

# AI Challenger keypoints (the challenge's keypoint_eval.py, ai_challenger_keypoint
# annotations; mmpose configs/_base_/datasets/aic.py has the same order).
AIC_14 = KeypointSet(
    name="aic-14",
    names=(
        "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
        "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "head_top", "neck",
    ),
    skeleton=(
        (0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11),
        (12, 13), (13, 0), (13, 3), (0, 6), (3, 9), (6, 9),
    ),
    flip_pairs=((0, 3), (1, 4), (2, 5), (6, 9), (7, 10), (8, 11)),
    torso=((0, 9), (3, 6)),
    # The challenge's OKS constants: keypoint_eval.py's delta is 2 x these, as
    # cocoapi's variance is (2 sigma)^2 (mmpose aic.py lists them as sigmas).
    sigmas=(
        0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
        0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173,
    ),
    head=(12, 13),
)

# MPII Human Pose joint ids 0..15 (the dataset's annotation description; mmpose
# configs/_base_/datasets/mpii.py). MPII defines no OKS constants: its metric is PCKh.
MPII_16 = KeypointSet(
    name="mpii-16",
    names=(
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
    ),
    skeleton=(
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
        (10, 11), (11, 12), (12, 7), (7, 13), (13, 14), (14, 15),
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    torso=((12, 3), (13, 2)),
    head=(8, 9),
)

# Leeds Sports Pose joints (the dataset's README: joints.mat in this order). No OKS
# constants: LSP's metric is PCK (PCKh with the neck-head_top segment here).
LSP_14 = KeypointSet(
    name="lsp-14",
    names=(
        "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow",
        "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top",
    ),
    skeleton=(
        (0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11),
        (12, 13), (12, 8), (12, 9), (8, 2), (9, 3), (2, 3),
    ),
    flip_pairs=((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    torso=((8, 3), (9, 2)),
    head=(12, 13),
)

KEYPOINT_SETS: dict[str, KeypointSet] = {s.name: s for s in (COCO_17, AIC_14, MPII_16, LSP_14)}


def keypoint_set(name: str) -> KeypointSet:
    """The built-in set called ``name``; the dash is optional ("aic14" is "aic-14")."""
    for keypoints in KEYPOINT_SETS.values():
        if keypoints.called(name):
            return keypoints
    raise ConfigError(f"unknown keypoint set {name!r}; known sets: {', '.join(KEYPOINT_SETS)}")


def find_set(names: list[str] | tuple[str, ...]) -> KeypointSet | None:
    """The built-in set whose keypoints ``names`` are (``KeypointSet.labels``), if any."""
    return next((s for s in KEYPOINT_SETS.values() if s.labels(names)), None)


_SIDES = {"r": "right", "l": "left"}


def canonical(name: str) -> str:
    """A keypoint's name in one spelling: lower case, MPII's and LSP's ``r_``/``l_``
    prefixes spelt out (``r_ankle`` is ``right_ankle``), spaces as underscores."""
    side, sep, part = name.strip().lower().replace(" ", "_").partition("_")
    return f"{_SIDES[side]}_{part}" if sep and side in _SIDES else f"{side}{sep}{part}"


def _spelling(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")
