"""Bottom-up peak extraction as graph ops: the part of PoseNet's and OpenPose's decoding
that fits inside a model file, so an app only groups small arrays.

Per keypoint channel: local maxima (max-pool NMS with the decoder's own radius), then the
``N`` strongest (TopK over the channel's cells, strongest first), each read back as
x, y in input pixels and its score after the output's activation; for PoseNet also the pose
its decoder walks from each of them. Cells are compared on the logits: the sigmoid is
monotonic, and in float32 it saturates to exactly 1.0 above about 17, where comparing scores
would make flat tops (two peaks) of one confident peak.

Every op lowers to a builtin in TFLite and ONNX: MAX_POOL_2D / MaxPool, TOPK_V2 / TopK,
GATHER / Gather (cell indices into flattened maps, so no GatherND with batch dims), PADV2 /
Pad, SELECT_V2 / Where, FLOOR, CAST, SUM / ReduceSum, comparisons, LOGISTIC / Sigmoid, EXP,
LOG, PACK / Concat. An entry that is not a peak (a channel with fewer than ``N`` maxima)
reads all zeros: score 0 and position (0, 0), so it never depends on how a runtime orders
TopK's ties.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

NOT_A_PEAK = -3.0e38  # below any logit: what non-maxima are masked to before TopK


def _tf() -> Any:
    import tensorflow as tf

    return tf


def top_peaks(logits: Any, radius: int, candidates: int, plateau: bool) -> tuple[Any, Any, Any]:
    """The ``candidates`` strongest local maxima of each channel of ``logits`` [1, H, W, K]:
    (logits [1, K, N], cell index row * W + col [1, K, N] int32, is-a-peak [1, K, N] bool).
    ``plateau``: of equal neighbours only the first in raster order is a peak."""
    tf = _tf()
    _, h, w, k = logits.shape
    size = 2 * radius + 1
    peak = logits >= tf.nn.max_pool2d(logits, size, 1, "SAME")
    if plateau:
        peak = tf.logical_and(peak, logits > _earlier_max(logits))
    masked = tf.where(peak, logits, tf.constant(NOT_A_PEAK, logits.dtype))
    flat = tf.reshape(tf.transpose(masked, [0, 3, 1, 2]), [1, k, h * w])
    values, cells = tf.math.top_k(flat, min(candidates, h * w))
    return values, cells, values > NOT_A_PEAK / 2


def _earlier_max(x: Any) -> Any:
    """The largest of each cell's neighbours before it in raster order (up-left, up, up-right, left)."""
    tf = _tf()
    h, w = x.shape[1], x.shape[2]
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=NOT_A_PEAK)
    up = tf.maximum(padded[:, 0:h, 0:w], padded[:, 0:h, 1:w + 1])
    return tf.maximum(up, tf.maximum(padded[:, 0:h, 2:w + 2], padded[:, 1:h + 1, 0:w]))


def gather_at(maps: Any, cells: Any, rows: list[int], channels: list[int]) -> Any:
    """``maps`` [1, H, W, C] read at the candidates of row ``rows[g]`` of ``cells`` [1, K, N],
    channel ``channels[g]``: [1, G, N]."""
    tf = _tf()
    return gather_cells(maps, tf.gather(cells, np.asarray(rows, np.int32), axis=1), channels)


def gather_cells(maps: Any, cells: Any, channels: list[int]) -> Any:
    """``maps`` [1, H, W, C] at flat cells [1, G, N], channel ``channels[g]`` for row g: [1, G, N].
    One flat Gather (cell * C + channel), the form every runtime takes."""
    tf = _tf()
    index = cells * maps.shape[-1] + np.asarray(channels, np.int32)[None, :, None]
    return tf.gather(tf.reshape(maps, [-1]), index)


def cell_xy(cells: Any, width: int, height: int) -> tuple[Any, Any]:
    """Column and row (float32) of flat cell indices, read from constant tables (an integer
    divide would be FLOOR_DIV, which some delegates lack)."""
    tf = _tf()
    cols = np.tile(np.arange(width, dtype=np.float32), height)
    rows = np.repeat(np.arange(height, dtype=np.float32), width)
    return tf.gather(cols, cells), tf.gather(rows, cells)


def log_sigmoid(z: Any) -> Any:
    """log(sigmoid(z)) = min(z, 0) - log1p(exp(-|z|)) in builtins (no LOG1P in TFLite): the
    series where log(1 + e) would round away e."""
    tf = _tf()
    e = tf.exp(-tf.abs(z))
    series = e * (1.0 - e * (0.5 - e / 3.0))
    return tf.minimum(z, 0.0) - tf.where(e < 1e-3, series, tf.math.log(1.0 + e))


def vertex_map(log_conf: Any, axis: int) -> Any:
    """Per cell, the offset (cells, within +-0.5) of the parabola through its log-confidence
    and its two neighbours along ``axis`` (1: rows, 2: columns); 0 on the border or where not
    concave (PafDecoder's sub-pixel step, dense, so it is gathered like any map)."""
    tf = _tf()
    n = log_conf.shape[axis]
    if n < 3:
        return tf.zeros_like(log_conf)

    def part(start: int) -> Any:
        index = [slice(None)] * 4
        index[axis] = slice(start, start + n - 2)
        return log_conf[tuple(index)]

    before, at, after = part(0), part(1), part(2)
    curvature = before - 2.0 * at + after
    concave = curvature < 0
    step = 0.5 * (before - after) / tf.where(concave, curvature, -1.0)
    inner = tf.where(concave, tf.clip_by_value(step, -0.5, 0.5), 0.0)
    pad = [[0, 0]] * 4
    pad[axis] = [1, 1]
    return tf.pad(inner, pad)


def _zeroed(valid: Any, *values: Any) -> Any:
    """Stacks ``values`` on a new last axis, zero where not ``valid``."""
    tf = _tf()
    stacked = tf.stack(values, axis=-1)
    return tf.where(valid[..., None], stacked, 0.0)


@keras.saving.register_keras_serializable(package="posepipe")
class DecodePoseNetPeaks(keras.layers.Layer):
    """PoseNet's candidates and the pose walked from each: inputs [heatmap logits, offsets,
    forward and backward displacements] (the model's maps, y channels then x); outputs
    [peaks [1, K, N, 3], cells [1, K, N] int32 (row * W + col, -1 past the last peak),
    poses [1, K, N, K, 3]: the pose PoseNetDecoder._walk finds from each candidate as its root].

    A peak's position is its cell plus the offset there, clipped to the grid's span
    (``H * stride - 1``), as the decoder's roots. The walk depends on its root and the maps
    only, so every candidate's is computed at once here (the tree's steps unrolled, each for
    every root whose walk takes it at that point); what is left to the app is the greedy part:
    roots in score order, suppression and pose scores (PoseNetDecoder.group)."""

    def __init__(self, stride: int, edges: Any, candidates: int, radius: int = 1, refine_steps: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride, self.candidates, self.radius = int(stride), int(candidates), int(radius)
        self.refine_steps = int(refine_steps)
        self.edges = tuple((int(a), int(b)) for a, b in edges)

    def call(self, inputs: list[Any]) -> list[Any]:
        tf = _tf()
        heatmap, offset, fwd, bwd = inputs
        _, h, w, k = heatmap.shape
        values, cells, valid = top_peaks(heatmap, self.radius, self.candidates, plateau=False)
        n = values.shape[-1]
        col, row = cell_xy(cells, w, h)
        every = list(range(k))
        oy, ox = gather_at(offset, cells, every, every), gather_at(offset, cells, every, [k + i for i in every])
        limit = np.asarray([h * self.stride - 1, w * self.stride - 1], np.float32)
        x = tf.clip_by_value(col * self.stride + ox, 0.0, float(limit[1]))
        y = tf.clip_by_value(row * self.stride + oy, 0.0, float(limit[0]))
        score = tf.sigmoid(values)
        walk = _Walk(self.stride, limit, self.refine_steps, k, tf.reshape(offset, [-1]),
                     tf.reshape(tf.sigmoid(heatmap), [-1]), {"fwd": fwd, "bwd": bwd})
        roots = tf.reshape(tf.stack([y, x], -1), [1, k * n, 2]), tf.reshape(score, [1, k * n])
        poses = tf.reshape(walk.every_root(roots, self.edges, k, n), [1, k, n, k, 3])
        return [_zeroed(valid, x, y, score), tf.where(valid, cells, -1),
                tf.where(valid[..., None, None], poses, 0.0)]

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"stride": self.stride, "edges": [list(p) for p in self.edges],
                                       "candidates": self.candidates, "radius": self.radius,
                                       "refine_steps": self.refine_steps}


class _Walk:
    """PoseNetDecoder._walk as graph ops for R roots at once, tree level by tree level.

    A walk from root keypoint k climbs k's ancestors to the tree's root with the backward vectors,
    then descends to every other keypoint with the forward ones; a step depends on its source's
    position only, so the steps at one depth are one batch (each root's own edge and target, known
    when the graph is built): at most 2 x depth batches whatever the tree, not one per edge.
    Poses are [1, R, K, 3] (y, x, score) until the end."""

    def __init__(self, stride: int, limit: np.ndarray, refine_steps: int, k: int, offsets: Any, scores: Any,
                 vectors: dict[str, Any]) -> None:
        self.stride, self.limit, self.refine_steps, self.k = stride, limit, refine_steps, k
        self.offsets, self.scores = offsets, scores  # flat maps
        self.grid = (limit // stride).astype(np.float32)  # the last cell's (row, col)
        self.width = int(self.grid[1]) + 1
        self.channels = {name: int(v.shape[-1]) for name, v in vectors.items()}
        self.flat = {name: _tf().reshape(v, [-1]) for name, v in vectors.items()}

    def every_root(self, roots: tuple[Any, Any], edges: tuple[tuple[int, int], ...], k: int, n: int) -> Any:
        """[1, R, K, 3] (x, y, score): the pose walked from each of the R = K * N roots (row-major
        by keypoint), whose own keypoint is the root's."""
        tf = _tf()
        yx, score = roots
        r = k * n
        root_keypoint = np.repeat(np.arange(k), n)
        parent, edge_to = np.full(k, -1), np.full(k, -1)
        for e, (a, b) in enumerate(edges):
            parent[b], edge_to[b] = a, e
        done = np.arange(k)[None, :] == root_keypoint[:, None]  # [R, K], known when the graph is built
        pose = tf.where(done[None, :, :, None], tf.concat([yx, score[..., None]], -1)[:, :, None, :], 0.0)
        at = root_keypoint.copy()
        while (parent[at] >= 0).any():  # upwards: each root's next ancestor
            up = parent[at] >= 0
            target = np.where(up, parent[at], at)
            pose = self._batch(pose, at[:, None], target[:, None], edge_to[at][:, None], "bwd", up[:, None])
            done[np.arange(r)[up], target[up]] = True
            at = target
        for level in _levels(edges):  # downwards, edges from depth d - 1 to d
            sources, targets = (np.tile([edges[e][i] for e in level], (r, 1)) for i in (0, 1))
            active = ~done[np.arange(r)[:, None], targets] & done[np.arange(r)[:, None], sources]
            if active.any():
                pose = self._batch(pose, sources, targets, np.tile(level, (r, 1)), "fwd", active)
                done[np.arange(r)[:, None], targets] |= active
        return tf.gather(pose, np.asarray([1, 0, 2], np.int32), axis=-1)

    def _batch(self, pose: Any, sources: np.ndarray, targets: np.ndarray, edge: np.ndarray, name: str,
               active: np.ndarray) -> Any:
        """One step for every root and column j: from its keypoint ``sources[r, j]`` along edge
        ``edge[r, j]`` to ``targets[r, j]``, written where ``active``."""
        tf = _tf()
        r, k = pose.shape[1], self.k
        found = tf.gather(tf.reshape(pose, [-1, 3]), np.arange(r)[:, None] * k + sources)[None]  # [1, R, L, 3]
        reached = self._step(found[..., :2], name, np.maximum(edge, 0), targets)
        for j in range(sources.shape[1]):
            write = np.zeros((r, k), bool)
            write[np.arange(r)[active[:, j]], targets[active[:, j], j]] = True
            pose = tf.where(write[None, :, :, None], reached[:, :, j:j + 1, :], pose)
        return pose

    def _cell(self, yx: Any) -> tuple[Any, Any]:
        """PoseNetDecoder._cell: the nearest cell (row, col) as floats, and its flat index [..., 1]."""
        tf = _tf()
        ij = tf.clip_by_value(tf.floor(yx / self.stride + 0.5), 0.0, self.grid)
        flat = tf.reduce_sum(ij * np.asarray([self.width, 1], np.float32), axis=-1, keepdims=True)
        return ij, tf.cast(flat, tf.int32)

    def _step(self, yx: Any, name: str, edge: np.ndarray, target: np.ndarray) -> Any:
        """From positions ``yx`` [1, R, L, 2]: the displacement at their cell, then the offsets'
        look-ups; the keypoint reached and the score of its cell, [1, R, L, 3]."""
        tf = _tf()
        _, cell = self._cell(yx)
        channels = self.channels[name]
        jump = tf.gather(self.flat[name], cell * channels + np.stack([edge, channels // 2 + edge], -1).astype(np.int32))
        point = tf.clip_by_value(yx + jump, 0.0, self.limit)
        look = np.stack([target, self.k + target], -1).astype(np.int32)
        for _ in range(self.refine_steps):
            ij, cell = self._cell(point)
            point = tf.clip_by_value(ij * self.stride + tf.gather(self.offsets, cell * (2 * self.k) + look),
                                     0.0, self.limit)
        _, cell = self._cell(point)
        score = tf.gather(self.scores, cell * self.k + target[..., None].astype(np.int32))
        return tf.concat([point, score], -1)


def _levels(edges: tuple[tuple[int, int], ...]) -> list[list[int]]:
    """Edge indices by the depth of their child (the tree is rooted at the first edge's parent)."""
    depth = {edges[0][0]: 0} if edges else {}
    levels: list[list[int]] = []
    for e, (a, b) in enumerate(edges):
        depth[b] = depth[a] + 1
        while len(levels) < depth[b]:
            levels.append([])
        levels[depth[b] - 1].append(e)
    return levels


@keras.saving.register_keras_serializable(package="posepipe")
class DecodePafPeaks(keras.layers.Layer):
    """OpenPose's candidates: confidence maps [1, H, W, K] (logits when ``logits``) ->
    peaks [1, K, N, 3] (x, y in input pixels, score), as PafDecoder finds them: maxima over
    the 8 neighbours, a plateau's first cell in raster order, each moved to the vertex of
    the parabola through its log-confidence and its neighbours, per axis."""

    def __init__(self, stride: int, candidates: int, logits: bool = True, sub_pixel: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stride, self.candidates, self.logits, self.sub_pixel = int(stride), int(candidates), bool(logits), bool(
            sub_pixel)

    def call(self, heatmaps: Any) -> Any:
        tf = _tf()
        _, h, w, k = heatmaps.shape
        values, cells, valid = top_peaks(heatmaps, 1, self.candidates, plateau=True)
        col, row = cell_xy(cells, w, h)
        if self.sub_pixel:
            log_conf = log_sigmoid(heatmaps) if self.logits else tf.math.log(tf.maximum(heatmaps, 1e-12))
            every = list(range(k))
            col = col + gather_at(vertex_map(log_conf, 2), cells, every, every)
            row = row + gather_at(vertex_map(log_conf, 1), cells, every, every)
        score = tf.sigmoid(values) if self.logits else values
        return _zeroed(valid, col * self.stride, row * self.stride, score)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {"stride": self.stride, "candidates": self.candidates, "logits": self.logits,
                                       "sub_pixel": self.sub_pixel}
