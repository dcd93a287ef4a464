"""OpenPose's part affinity fields (Cao et al., "Realtime Multi-Person 2D Pose
Estimation using Part Affinity Fields", CVPR 2017): training targets (encoder), people
from a bottom-up model's outputs (decoder), and OpenPose's JSON output format.

A bottom-up model sees every person at once, so a heatmap peak alone cannot say whose
elbow it is. A PAF is a 2-channel map per limb holding the unit vector from the limb's
first keypoint to its second on the cells the limb covers; the decoder scores each
candidate pair of peaks by the field's agreement along the segment joining them and
joins the best pairs into people.

Coordinates: a keypoint at input pixel ``p`` lives at cell ``p / stride`` (as in
models/codecs/heatmaps.py); maps are [H, W, C] for one image, no batch axis. Limb ``l`` of
``limbs`` uses PAF channels ``2l`` (x) and ``2l + 1`` (y). Pure NumPy/SciPy,
vectorised: the decoder runs after every runtime, not in the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter

from posepipe.models.codecs.heatmaps import HeatmapEncoder
from posepipe.models.keypoints import COCO_17

HEATMAPS, PAFS = "heatmaps", "pafs"
PEAKS = "peaks"  # the in-graph part's candidate table (models/codecs/candidates.py)
LIMBS: tuple[tuple[int, int], ...] = COCO_17.skeleton  # 19 limbs (a, b): the PAF points a -> b

EPS = 1e-6  # shortest limb, in cells: shorter has no direction
OPENPOSE_VERSION = 1.3

# maximum_filter footprints over [H, W, K]: the 8 neighbours, and the 4 before a cell in
# raster order (up-left, up, up-right, left).
_NEIGHBOURS = np.ones((3, 3, 1), bool)
_NEIGHBOURS[1, 1, 0] = False
_EARLIER = np.zeros((3, 3, 1), bool)
_EARLIER[0, :, 0] = _EARLIER[1, 0, 0] = True


@dataclass(frozen=True)
class PafEncoder:
    """Confidence maps and PAFs of every labelled person, as OpenPose trains on them.

    HEATMAPS [H, W, K]: a Gaussian of ``sigma`` cells per labelled keypoint, merged over
    people by maximum, so targets stay in [0, 1] and two close people keep two peaks.
    PAFS [H, W, 2L]: on the cells within ``limb_width`` cells of a limb's segment the
    unit vector a -> b, averaged over the people whose limb covers the cell (summing
    would grow the field where people overlap); 0 elsewhere. Only limbs with both ends
    labelled (visibility > 0); all-zero padding rows add nothing.

    "Within ``limb_width`` of the segment" is the distance to its nearest point, so the
    field also reaches ``limb_width`` past each end (a capsule, not the paper's
    rectangle between the ends). The decoder samples the line integral at the peaks
    themselves, and an end's nearest cell lies behind the end for about half of all
    sub-cell positions: with the rectangle, a short limb (eye-ear: 1-2 cells) lost 3-5
    of its 10 samples and failed the 80% inlier test (measured on these targets).
    OpenPose's own data layer likewise covers the limb's bounding box grown by the width.
    """

    stride: int
    size: tuple[int, int]  # output grid (height, width)
    sigma: float  # confidence-map Gaussian, in cells
    limb_width: float  # PAF half-width, in cells
    limbs: tuple[tuple[int, int], ...] = LIMBS

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        kp = np.asarray(keypoints, np.float32)  # [P, K, 3]
        heatmaps = HeatmapEncoder(HEATMAPS, self.stride, self.size, self.sigma).encode(kp)[HEATMAPS]
        h, w = self.size
        ends = np.asarray(self.limbs, np.int64).reshape(-1, 2)
        a, b = kp[:, ends[:, 0], :2] / self.stride, kp[:, ends[:, 1], :2] / self.stride  # [P, L, 2] cells
        length = np.linalg.norm(b - a, axis=-1)  # [P, L]
        unit = (b - a) / np.maximum(length, EPS)[..., None]
        labelled = (kp[:, ends[:, 0], 2] > 0) & (kp[:, ends[:, 1], 2] > 0) & (length > EPS)
        ys, xs = np.mgrid[:h, :w].astype(np.float32)
        dx, dy = xs[..., None, None] - a[..., 0], ys[..., None, None] - a[..., 1]  # [H, W, P, L]
        along = np.clip(dx * unit[..., 0] + dy * unit[..., 1], 0, length)  # the segment's nearest point
        distance = np.hypot(dx - along * unit[..., 0], dy - along * unit[..., 1])
        covers = labelled & (distance <= self.limb_width)
        total = np.einsum("hwpl,plc->hwlc", covers.astype(np.float32), unit)  # [H, W, L, 2]
        field = total / np.maximum(covers.sum(axis=2), 1)[..., None]
        return {HEATMAPS: heatmaps, PAFS: field.reshape(h, w, 2 * len(ends)).astype(np.float32)}


@dataclass(frozen=True)
class PafDecoder:
    """People from confidence maps and PAFs, grouped as OpenPose does.

    1. Peaks: local maxima of each keypoint's confidence (sigmoid of HEATMAPS when
       ``logits``; found on its log, where a saturated sigmoid still has a slope) above
       ``peak_threshold``; of a plateau of equal cells only those with no equal
       neighbour earlier in raster order count, so a flat top is one peak, not two
       that different limbs could pick (splitting the person). ``sub_pixel``: each
       peak moves to the vertex of a parabola through the log-confidence at it and its
       two neighbours, per axis (at most half a cell): exact for a Gaussian target,
       whose log is a quadratic (DARK's argument, models/codecs/dark.py). The quarter step or
       a centroid (OpenPose's) would leave a bias. A peak's score is its confidence.
    2. Limbs: every (a-peak, b-peak) pair is scored by the line integral of the limb's
       PAF: ``samples`` evenly spaced points from a to b (ends included), the nearest
       cell's vector dotted with the pair's unit vector, averaged, plus OpenPose's
       distance prior ``min(0.5 * H / length - 1, 0)`` (a limb longer than half the
       map is penalised). A pair is a candidate when at least ``min_inliers`` of its
       samples exceed ``min_paf`` and its score is positive.
    3. Matching: greedy by score per limb, each peak used once per limb, as OpenPose
       does (a Hungarian assignment maximises the sum, which can trade the best
       connection for two mediocre ones; greedy keeps the most certain first).
    4. People: limbs in order; a connection whose ends belong to no person starts one;
       one that touches a person fills that person's empty slot (never replaces a
       keypoint: OpenPose's demo overwrites, which lets a later, weaker limb steal
       it); one that links two people with no keypoint type in common merges them.
    5. A person's score is OpenPose's: the sum of its keypoints' peak scores and its
       connections' scores, divided by its keypoint count (so up to about 2, not a
       true mean). People with fewer than ``min_parts`` keypoints or a score below
       ``min_person_score`` are dropped; the rest are sorted by score, best first.

    Returns [P, K, 3] float32 (x, y, peak score) in input pixels, missing keypoints
    (0, 0, 0); (0, K, 3) when nobody is found.
    """

    stride: int
    limbs: tuple[tuple[int, int], ...] = LIMBS
    logits: bool = True  # HEATMAPS are logits (trained with sigmoid cross-entropy): sigmoid first
    peak_threshold: float = 0.1  # OpenPose's thre1
    samples: int = 10  # points along the line integral (OpenPose's mid_num)
    min_paf: float = 0.05  # a sample counts if PAF . unit exceeds it (OpenPose's thre2)
    min_inliers: float = 0.8  # share of samples that must count
    min_parts: int = 3
    min_person_score: float = 0.2
    sub_pixel: bool = True
    candidates: int = 10  # the in-graph part's peaks per keypoint (graph, peaks, group)

    @property
    def name(self) -> str:
        return "paf-grouping"

    def decode(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        raw = np.asarray(outputs[HEATMAPS], np.float32)
        pafs = np.asarray(outputs[PAFS], np.float32)
        if pafs.shape[2] != 2 * len(self.limbs):
            raise ValueError(f"{PAFS}: {pafs.shape[2]} channels for {len(self.limbs)} limbs (want x, y per limb)")
        # log(sigmoid(z)) = -softplus(-z), computed without overflow.
        log_conf = -np.logaddexp(0.0, -raw) if self.logits else np.log(np.maximum(raw, 1e-12))
        conf = np.exp(log_conf) if self.logits else raw
        xy, score, part = self._peaks(conf, log_conf, self.peak_threshold)
        return self._people(xy, score, part, pafs, conf.shape[2])

    def graph(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Candidates as graph ops on a batch-1 model's outputs (models/codecs/graph_peaks.py):
        ``peaks`` [1, K, N, 3] (x, y in input pixels, score), and the PAFs as they are."""
        from posepipe.models.codecs.graph_peaks import DecodePafPeaks

        layer = DecodePafPeaks(self.stride, self.candidates, self.logits, self.sub_pixel, name="decode_paf_peaks")
        return {PEAKS: layer(outputs[HEATMAPS]), PAFS: outputs[PAFS]}

    def peaks(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """What ``graph`` computes, in NumPy on one image's outputs (no batch axis): step 1's
        peaks without the threshold, the ``candidates`` strongest of each keypoint by logit
        (ties in raster order), zeros past a keypoint's last."""
        raw = np.asarray(outputs[HEATMAPS], np.float32)
        log_conf = -np.logaddexp(0.0, -raw) if self.logits else np.log(np.maximum(raw, 1e-12))
        conf = np.exp(log_conf) if self.logits else raw
        h, w, k = raw.shape
        n = min(self.candidates, h * w)
        xy, score, part = self._peaks(conf, log_conf, -np.inf, (raw, n))
        table = np.zeros((k, n, 3), np.float32)
        rank = np.arange(len(part)) - np.searchsorted(part, part)
        table[part, rank] = np.column_stack([xy * self.stride, score])
        return {PEAKS: table, PAFS: np.asarray(outputs[PAFS], np.float32)}

    def group(self, found: Mapping[str, np.ndarray]) -> np.ndarray:
        """People [P, K, 3] from one image's candidates and PAFs: steps 2 to 5 on the candidates
        above ``peak_threshold``. The same people as ``decode`` when every keypoint's peaks above
        the threshold fit in ``candidates``."""
        table = np.asarray(found[PEAKS], np.float32)
        part, index = np.nonzero(table[..., 2] > max(self.peak_threshold, 0.0))
        xy = table[part, index, :2] / self.stride
        cells = np.floor(xy + 0.5)  # raster order within a keypoint, as decode's peaks come
        order = np.lexsort((cells[:, 0], cells[:, 1], part))
        return self._people(xy[order], table[part, index, 2][order], part[order], np.asarray(found[PAFS], np.float32),
                            table.shape[0])

    def _people(self, xy: np.ndarray, score: np.ndarray, part: np.ndarray, pafs: np.ndarray, k: int) -> np.ndarray:
        """Steps 2 to 5 on peaks (xy in cells, score, keypoint), grouped by keypoint."""
        people, totals = [], []
        for limb, (a, b) in enumerate(self.limbs):
            ids_a, ids_b = np.flatnonzero(part == a), np.flatnonzero(part == b)
            if not len(ids_a) or not len(ids_b):
                continue
            field = pafs[..., 2 * limb : 2 * limb + 2]
            for i, j, s in self._connect(field, xy[ids_a], xy[ids_b]):
                _join(people, totals, (a, int(ids_a[i])), (b, int(ids_b[j])), s, score, k)
        members = np.asarray(people, np.int64).reshape(-1, k)
        count = (members >= 0).sum(axis=1)
        person_score = np.asarray(totals, np.float64) / np.maximum(count, 1)
        keep = np.flatnonzero((count >= self.min_parts) & (person_score >= self.min_person_score))
        members = members[keep[np.argsort(-person_score[keep], kind="stable")]]
        poses = np.zeros((len(members), k, 3), np.float32)
        found = members >= 0
        ids = members[found]
        poses[found] = np.column_stack([xy[ids] * self.stride, score[ids]])
        return poses

    def _peaks(self, conf: np.ndarray, log_conf: np.ndarray, threshold: float,
               strongest: tuple[np.ndarray, int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Peaks above ``threshold`` as (xy [N, 2] in cells, score [N], keypoint [N]), grouped by
        keypoint in raster order; with ``strongest`` (logits, n), each keypoint's n strongest by
        logit instead, strongest first (ties in raster order, as TopK)."""
        # Maxima of the log: a sigmoid saturates to exactly 1.0 in float32 above logits of
        # about 17, which would make flat tops of a confident model's peaks.
        neighbours = maximum_filter(log_conf, footprint=_NEIGHBOURS, mode="constant", cval=-np.inf)
        earlier = maximum_filter(log_conf, footprint=_EARLIER, mode="constant", cval=-np.inf)
        is_peak = (conf > threshold) & (log_conf >= neighbours) & (log_conf > earlier)
        part, y, x = np.nonzero(is_peak.transpose(2, 0, 1))
        if strongest is not None:
            logits, n = strongest
            order = np.lexsort((-logits[y, x, part], part))  # stable: raster order among equals
            part, y, x = part[order], y[order], x[order]
            rank = np.arange(len(part)) - np.searchsorted(part, part)
            part, y, x = part[rank < n], y[rank < n], x[rank < n]
        xy = np.column_stack([x, y]).astype(np.float32)
        if self.sub_pixel:
            xy[:, 0] += _vertex(log_conf, y, x, part, axis=1)
            xy[:, 1] += _vertex(log_conf, y, x, part, axis=0)
        return xy, conf[y, x, part], part

    def _connect(self, field: np.ndarray, xy_a: np.ndarray, xy_b: np.ndarray) -> list[tuple[int, int, float]]:
        """One limb's connections (a index, b index, score): every pair scored at once,
        then matched greedily."""
        h, w = field.shape[:2]
        vec = xy_b[None] - xy_a[:, None]  # [A, B, 2]
        length = np.linalg.norm(vec, axis=-1)
        unit = vec / np.maximum(length, EPS)[..., None]
        t = np.linspace(0.0, 1.0, self.samples, dtype=np.float32)[:, None]  # [S, 1]
        points = xy_a[:, None, None] + t * vec[:, :, None]  # [A, B, S, 2]
        col = np.clip(np.rint(points[..., 0]).astype(np.int64), 0, w - 1)
        row = np.clip(np.rint(points[..., 1]).astype(np.int64), 0, h - 1)
        dot = np.einsum("absc,abc->abs", field[row, col], unit)  # [A, B, S]
        prior = np.minimum(0.5 * h / np.maximum(length, EPS) - 1.0, 0.0)
        total = dot.mean(axis=-1) + prior
        ok = ((dot > self.min_paf).mean(axis=-1) >= self.min_inliers) & (total > 0) & (length > EPS)
        ia, ib = np.nonzero(ok)
        order = np.argsort(-total[ia, ib], kind="stable")
        used_a, used_b, chosen = set(), set(), []
        for i, j in zip(ia[order].tolist(), ib[order].tolist(), strict=True):
            if i not in used_a and j not in used_b:
                used_a.add(i)
                used_b.add(j)
                chosen.append((i, j, float(total[i, j])))
        return chosen


def _vertex(log_conf: np.ndarray, y: np.ndarray, x: np.ndarray, part: np.ndarray, axis: int) -> np.ndarray:
    """Offset (cells, within +-0.5) of the parabola through a peak's log-confidence and
    its two neighbours along ``axis``; 0 on the border or where it is not concave."""
    pos, limit = (x, log_conf.shape[1] - 1) if axis == 1 else (y, log_conf.shape[0] - 1)
    lo, hi = np.clip(pos - 1, 0, limit), np.clip(pos + 1, 0, limit)
    if axis == 1:
        before, at, after = log_conf[y, lo, part], log_conf[y, x, part], log_conf[y, hi, part]
    else:
        before, at, after = log_conf[lo, x, part], log_conf[y, x, part], log_conf[hi, x, part]
    curvature = before - 2 * at + after
    concave = (pos > 0) & (pos < limit) & (curvature < 0)
    step = 0.5 * (before - after) / np.where(concave, curvature, -1.0)
    return np.where(concave, np.clip(step, -0.5, 0.5), 0.0).astype(np.float32)


def _join(people: list[np.ndarray], totals: list[float], end_a: tuple[int, int], end_b: tuple[int, int],
          score: float, peak_score: np.ndarray, k: int) -> None:
    """Adds one connection (keypoint type, peak id) -> (type, peak id) to the people so
    far (each a [K] array of peak ids, -1 where missing), as step 4 of PafDecoder."""
    holders = [n for n, p in enumerate(people) if p[end_a[0]] == end_a[1] or p[end_b[0]] == end_b[1]]
    if not holders:
        person = np.full(k, -1, np.int64)
        person[end_a[0]], person[end_b[0]] = end_a[1], end_b[1]
        people.append(person)
        totals.append(float(peak_score[end_a[1]] + peak_score[end_b[1]]) + score)
    elif len(holders) == 1:
        n = holders[0]
        kind, peak = end_b if people[n][end_a[0]] == end_a[1] else end_a
        if people[n][kind] == -1:  # the other end is in nobody (else two holders): never a theft
            people[n][kind] = peak
            totals[n] += float(peak_score[peak]) + score
    else:
        first, second = holders
        if not ((people[first] >= 0) & (people[second] >= 0)).any():
            people[first] = np.maximum(people[first], people[second])
            totals[first] += totals[second] + score
            del people[second], totals[second]


def openpose_json(poses: np.ndarray) -> dict[str, Any]:
    """Decoded people in OpenPose's JSON output format (doc/output.md; version 1.3).

    ``pose_keypoints_2d`` is the flat list x0, y0, c0, x1, ... in the order of OUR
    keypoint set, COCO's 17 (nose, eyes, ears, shoulders, ...): OpenPose's own COCO
    model writes 18 with a neck at index 1 (and BODY_25 writes 25), so a consumer
    must not read ours by OpenPose's indices. Missing keypoints (score <= 0) are
    written 0, 0, 0, as OpenPose writes them. Face, hands and 3-D are empty lists;
    ``person_id`` is [-1] (no tracking), as OpenPose writes without its tracker.
    """
    poses = np.asarray(poses, np.float32)
    if poses.ndim != 3 or poses.shape[2] != 3:
        raise ValueError(f"poses must be [P, K, 3] (x, y, score), got shape {poses.shape}")
    people = []
    for person in np.where(poses[..., 2:] > 0, poses, 0.0):
        people.append({
            "person_id": [-1],
            "pose_keypoints_2d": [float(v) for v in person.reshape(-1)],
            "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
            "pose_keypoints_3d": [], "face_keypoints_3d": [],
            "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": [],
        })
    return {"version": OPENPOSE_VERSION, "people": people}
