"""PoseNet's multi-person targets (encoder) and its greedy multi-pose decoder.

PoseNet (after PersonLab) predicts four maps at one stride: a per-keypoint heatmap (logits,
trained with a sigmoid), short-range offsets from each cell to the keypoint near it, and
mid-range displacements along a tree of 16 edges, forwards (parent -> child) and backwards
(child -> parent). The decoder takes the strongest heatmap peaks as roots and walks the tree
from each: a displacement jumps to the next keypoint roughly, the offsets there snap it back.

Coordinates: cell (row i, col j) sits at input pixel (y=i*stride, x=j*stride), so a keypoint
is always ``cell position + offset`` and encoding then decoding is exact. Every vector is in
input pixels, y before x: channels 0..N-1 hold y and N..2N-1 hold x, as the published TFLite
PoseNet lays them out. NaN in a vector target means unsupervised: the loss masks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter
from scipy.special import expit

from posepipe.models.codecs.candidates import PEAK_CELLS, PEAK_POSES, PEAKS, group_poses, posenet_peaks

HEATMAP, OFFSET, FWD, BWD = "heatmap", "offset", "displacement_fwd", "displacement_bwd"

# (parent, child) over COCO_17 indices; parents come before their children (the decoder's
# backward pass runs the edges in reverse, the forward pass in order).
POSE_CHAIN: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 3), (0, 2), (2, 4), (0, 5), (5, 7), (7, 9), (5, 11), (11, 13), (13, 15),
    (0, 6), (6, 8), (8, 10), (6, 12), (12, 14), (14, 16),
)


def grid_size(input_size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The output grid (height, width) for an input at ``stride``: Keras 'same' padding rounds up."""
    return -(-input_size[0] // stride), -(-input_size[1] // stride)


def _check_tree(edges: tuple[tuple[int, int], ...]) -> None:
    """Every parent already reached, every child new: the two-pass walk then reaches the whole tree."""
    reached = {edges[0][0]} if edges else set()
    for parent, child in edges:
        if parent not in reached or child in reached:
            raise ValueError(f"edges: ({parent}, {child}) breaks a tree in parent-before-child order")
        reached.add(child)


@dataclass(frozen=True)
class PoseNetEncoder:
    """Disks of ``radius`` input pixels around every labelled keypoint: the heatmap is 1 inside,
    the vectors are supervised inside only (they are meaningless far from their keypoint).

    Where two people's disks of one keypoint overlap, each cell belongs to the nearer keypoint,
    so no cell is taught to point at two places. A displacement belongs to the person owning the
    source disk; it is NaN when that person lacks the other end, rather than borrowing another
    person's, which would teach identity swaps.
    """

    stride: int
    size: tuple[int, int]  # output grid (height, width)
    radius: float  # disk radius, input pixels
    edges: tuple[tuple[int, int], ...] = POSE_CHAIN

    def __post_init__(self) -> None:
        _check_tree(self.edges)

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        kp = np.asarray(keypoints, np.float32)
        k = kp.shape[1]
        if kp.shape[0] == 0:  # nobody: one padding person keeps the arg-min below defined
            kp = np.zeros((1, k, 3), np.float32)
        h, w = self.size
        cy = np.arange(h, dtype=np.float32) * self.stride
        cx = np.arange(w, dtype=np.float32) * self.stride
        labelled = kp[..., 2] > 0  # [P, K]
        d2 = (kp[:, None, None, :, 1] - cy[None, :, None, None]) ** 2 + (kp[:, None, None, :, 0]
                                                                         - cx[None, None, :, None]) ** 2
        d2 = np.where(labelled[:, None, None, :], d2, np.inf)  # [P, H, W, K]
        owner = d2.argmin(axis=0)  # [H, W, K]: the person whose keypoint is nearest each cell
        inside = np.take_along_axis(d2, owner[None], axis=0)[0] <= self.radius**2

        def pointing(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
            """In src's disk, keypoint dst of src's owner minus the cell position: [H, W, 2N]."""
            who = owner[..., src]  # [H, W, N]
            valid = inside[..., src] & labelled[who, dst]
            vy = np.where(valid, kp[who, dst, 1] - cy[:, None, None], np.nan)
            vx = np.where(valid, kp[who, dst, 0] - cx[None, :, None], np.nan)
            return np.concatenate([vy, vx], axis=-1).astype(np.float32)

        parents = np.asarray([e[0] for e in self.edges], np.intp)
        children = np.asarray([e[1] for e in self.edges], np.intp)
        every = np.arange(k)
        return {
            HEATMAP: inside.astype(np.float32),
            OFFSET: pointing(every, every),
            FWD: pointing(parents, children),
            BWD: pointing(children, parents),
        }


@dataclass(frozen=True)
class PoseNetDecoder:
    """PoseNet's greedy multi-pose decoding, with its published defaults where it has them.

    ``score_threshold`` 0.5 and ``nms_radius`` 20 px are PoseNet's. ``pose_threshold`` 0.25: a
    pose score is the mean over all K keypoints, so 0.25 asks for about four confident keypoints
    of 17 that no earlier pose already claimed. A lone spurious peak (about 1/17) or a duplicate
    of a found person (its keypoints suppressed) falls below it; a half-visible person passes.
    """

    stride: int
    edges: tuple[tuple[int, int], ...] = POSE_CHAIN
    score_threshold: float = 0.5  # minimum root score, after the sigmoid
    pose_threshold: float = 0.25  # minimum pose score to keep a pose
    nms_radius: float = 20.0  # input pixels
    max_poses: int = 10
    local_max_radius: int = 1  # cells
    refine_steps: int = 2  # offset look-ups after each displacement
    candidates: int = 10  # the in-graph part's roots per keypoint (graph, peaks, group)

    def __post_init__(self) -> None:
        _check_tree(self.edges)

    @property
    def peak_threshold(self) -> float:
        """The score below which no candidate matters to grouping: a root's minimum."""
        return self.score_threshold

    @property
    def name(self) -> str:
        return "posenet-multipose"

    def decode(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        scores, offsets, fwd, bwd, limit = self._maps(outputs)
        k = scores.shape[2]

        # Candidates: local maxima above threshold, strongest first (stable: ties in raster order).
        size = 2 * self.local_max_radius + 1
        peaks = scores == maximum_filter(scores, size=(size, size, 1), mode="constant", cval=0.0)
        iy, ix, ik = np.nonzero(peaks & (scores >= self.score_threshold))
        order = np.argsort(-scores[iy, ix, ik], kind="stable")
        iy, ix, ik = iy[order], ix[order], ik[order]
        roots = np.clip(np.stack([iy, ix], -1) * self.stride + offsets[iy, ix, :, ik], 0.0, limit)  # [N, (y, x)]
        alive = np.ones(len(roots), bool)

        poses: list[np.ndarray] = []  # every decoded pose [K, (y, x, score)], kept or not: all suppress
        kept: list[tuple[float, int]] = []
        r2 = self.nms_radius**2
        while len(kept) < self.max_poses and alive.any():
            c = int(np.argmax(alive))  # the strongest candidate not yet within nms_radius of a pose
            pose = self._walk(int(ik[c]), roots[c], float(scores[iy[c], ix[c], ik[c]]), scores, offsets, fwd, bwd,
                              limit)
            # PoseNet skips a root near the same keypoint of an earlier pose; the poses only grow,
            # so dropping every such candidate now is the same and keeps the loop per pose.
            alive &= ((roots - pose[ik, :2]) ** 2).sum(-1) > r2
            alive[c] = False
            fresh = np.ones(k, bool)
            if poses:  # a keypoint an earlier pose already claims adds nothing to this pose's score
                fresh = (((np.stack(poses)[..., :2] - pose[:, :2]) ** 2).sum(-1) > r2).all(axis=0)
            score = float(pose[fresh, 2].sum() / k)
            poses.append(pose)
            if score >= self.pose_threshold:
                kept.append((score, len(poses) - 1))

        kept.sort(key=lambda item: -item[0])  # stable: equal scores keep decoding order
        out = np.zeros((len(kept), k, 3), np.float32)
        for row, (_, index) in enumerate(kept):
            out[row] = poses[index][:, [1, 0, 2]]  # (y, x, score) -> (x, y, score)
        return out

    def _maps(self, outputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """Scores [H, W, K], offsets [H, W, (y, x), K], displacements [H, W, (y, x), E] both ways, and
        the positions' upper limit (y, x): they stay within the grid's h*stride x w*stride pixels."""
        scores = expit(np.asarray(outputs[HEATMAP], np.float32))
        h, w, k = scores.shape
        e = len(self.edges)
        offsets = np.asarray(outputs[OFFSET], np.float32).reshape(h, w, 2, k)
        if outputs[FWD].shape[-1] != 2 * e or outputs[BWD].shape[-1] != 2 * e:
            raise ValueError(f"displacements: {outputs[FWD].shape[-1]} and {outputs[BWD].shape[-1]} channels, "
                             f"expected {2 * e} for {e} edges")
        fwd = np.asarray(outputs[FWD], np.float32).reshape(h, w, 2, e)
        bwd = np.asarray(outputs[BWD], np.float32).reshape(h, w, 2, e)
        return scores, offsets, fwd, bwd, np.asarray([h * self.stride - 1, w * self.stride - 1], np.float32)

    def graph(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Candidates and every candidate's walk as graph ops on a batch-1 model's outputs
        (models/codecs/graph_peaks.py): ``peaks`` [1, K, N, 3] (x, y, score), ``peak_cells``
        [1, K, N] and ``peak_poses`` [1, K, N, K, 3] (models/codecs/candidates.py)."""
        from posepipe.models.codecs.graph_peaks import DecodePoseNetPeaks

        layer = DecodePoseNetPeaks(self.stride, self.edges, self.candidates, self.local_max_radius,
                                   self.refine_steps, name="decode_posenet_peaks")
        found = layer([outputs[HEATMAP], outputs[OFFSET], outputs[FWD], outputs[BWD]])
        return dict(zip((PEAKS, PEAK_CELLS, PEAK_POSES), found, strict=True))

    def peaks(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What ``graph`` computes, in NumPy on one image's outputs (no batch axis): the candidates
        (by logit, as the graph compares them), and ``_walk`` from each."""
        scores, offsets, fwd, bwd, limit = self._maps(outputs)
        table, cells = posenet_peaks(outputs[HEATMAP], offsets, self.stride, self.candidates, self.local_max_radius)
        k, n = cells.shape
        poses = np.zeros((k, n, k, 3), np.float32)
        for root, index in zip(*np.nonzero(cells >= 0), strict=True):
            at = table[root, index, [1, 0]]
            pose = self._walk(int(root), at, float(table[root, index, 2]), scores, offsets, fwd, bwd, limit)
            poses[root, index] = pose[:, [1, 0, 2]]
        return {PEAKS: table, PEAK_CELLS: cells, PEAK_POSES: poses}

    def group(self, found: Mapping[str, np.ndarray]) -> np.ndarray:
        """People [P, K, 3] (x, y, score) from one image's tables (``peaks``): ``decode``'s greedy
        part, each root's pose looked up in ``peak_poses``. ``decode``'s people when its roots
        (local maxima at least ``score_threshold``) are among each keypoint's ``candidates``."""
        return group_poses(self, found)

    def _cell(self, yx: np.ndarray, limit: np.ndarray) -> tuple[int, int]:
        """The cell nearest a position, clamped to the grid."""
        i, j = np.minimum(np.maximum(np.floor(yx / self.stride + 0.5), 0), limit // self.stride).astype(int)
        return int(i), int(j)

    def _walk(self, root: int, at: np.ndarray, score: float, scores: np.ndarray, offsets: np.ndarray,
              fwd: np.ndarray, bwd: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """One pose from a root: up the tree to the nose with BWD, then down every limb with FWD.

        Keypoints the edges never reach keep score 0.
        """
        pose = np.zeros((scores.shape[2], 3), np.float32)
        pose[root] = at[0], at[1], score
        done = np.zeros(scores.shape[2], bool)
        done[root] = True
        steps = [(e, c, p, bwd) for e, (p, c) in reversed(list(enumerate(self.edges)))]
        steps += [(e, p, c, fwd) for e, (p, c) in enumerate(self.edges)]
        for edge, source, target, displacement in steps:
            if not done[source] or done[target]:
                continue
            i, j = self._cell(pose[source, :2], limit)
            point = np.clip(pose[source, :2] + displacement[i, j, :, edge], 0.0, limit)  # a jump along the limb...
            for _ in range(self.refine_steps):  # ...then snapped to the keypoint by the offsets there
                i, j = self._cell(point, limit)
                point = np.clip(np.asarray([i, j], np.float32) * self.stride + offsets[i, j, :, target], 0.0, limit)
            i, j = self._cell(point, limit)
            pose[target] = point[0], point[1], scores[i, j, target]
            done[target] = True
        return pose
