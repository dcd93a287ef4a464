"""Keypoints decoded inside the graph: the decoders' ``graph()`` as Keras layers.

An app that runs a ``keypoints`` file reads ``[1, K, 3]`` (x, y in input pixels, score) and
writes no decoder. The layers reproduce ``HeatmapDecoder.decode`` and
``CoordinateDecoder.decode`` with the decoder's own refinement (the one the model was
validated with, e.g. DARK for the hourglass): the file then gives the keypoints that the
Python decoder gives, so the same tolerances prove it, and the app gets DARK's sub-cell
accuracy (0.025 cells of error on clean Gaussians against the argmax's 0.386,
docs/design/decoding.md) for a blur and a few element-wise ops on one heatmap.
docs/keypoints-variant.md has the measurements.

Only ops that every converter lowers to plain builtins, and that LiteRT's GPU delegate
takes (ONNX Runtime's NNAPI and Core ML providers take no comparison, so there the
decoder splits off to the CPU):

- No ArgMax and no Gather/GatherND: the peak is a one-hot mask made from maxima and
  comparisons, and every value "at the peak" is ``sum(one_hot * map)`` over the map. The
  one-hot picks the first maximum in row-major order, as ``np.argmax`` does: the first row
  holding the maximum, then the first column in it. Each choice is a maximum over
  ``where(tied, count - index, 0)``, numbers no larger than the map's height or width,
  so they stay exact in float16 (a GPU delegate's precision).
- DARK's Gaussian blur is two depthwise convolutions with fixed kernels and zero padding
  (outside the map counts as zero likelihood, as in ``models/codecs/dark.py``); its
  finite differences read the log-map shifted by slices, the border replicated.

The layers compute in float32 and hold no weights (their constants are built from the
config), so ``keras.models.clone_model`` rebuilds them from ``get_config``. Their names
start with ``decode`` so an int8 converter can keep them in float: comparisons, one-hot
products and a Newton step do not survive 8-bit activations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from posepipe.models.codecs.dark import FLOOR, MAX_STEP, gaussian_kernel

NAME = "decode_keypoints"  # the layer's name in a keypoints model: the int8 converters' keep-float handle
REFINEMENTS = ("argmax", "quarter", "dark")  # the values of models.codecs.heatmaps.Refinement


@keras.saving.register_keras_serializable(package="posepipe")
class HeatmapKeypoints(keras.layers.Layer):
    """[B, H, W, K] heatmaps -> [B, K, 3] keypoints (x, y in input pixels, score).

    The score is the peak value, or for ``logits`` the peak's spatial-softmax probability.
    ``refine``: ``argmax`` (the cell), ``quarter`` (a quarter cell towards the higher
    neighbour, none on the border) or ``dark`` (one Newton step on the log of the
    ``sigma``-blurred likelihood, skipped where that is not a maximum, clipped to
    ``MAX_STEP`` cells).
    """

    def __init__(self, stride: int, refine: str = "quarter", logits: bool = False, sigma: float = 2.0,
                 **kwargs: Any) -> None:
        kwargs.setdefault("name", NAME)
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if refine not in REFINEMENTS:
            raise ValueError(f"refine must be one of {REFINEMENTS}, not {refine!r}")
        self.stride, self.refine, self.logits, self.sigma = int(stride), str(refine), bool(logits), float(sigma)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stride": self.stride, "refine": self.refine, "logits": self.logits,
                "sigma": self.sigma}

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (input_shape[0], input_shape[3], 3)

    def call(self, heatmaps: Any) -> Any:
        hm = ops.cast(heatmaps, "float32")
        _, h, w, _ = hm.shape
        peak = ops.max(hm, axis=(1, 2), keepdims=True)  # [B, 1, 1, K]
        one_hot = first_maximum(hm)

        def at(values: Any) -> Any:  # [B, H, W, K or 1] -> [B, K]: the value at each channel's peak
            return ops.sum(one_hot * values, axis=(1, 2))

        x = at(ops.convert_to_tensor(np.arange(w, dtype=np.float32).reshape(1, 1, w, 1)))
        y = at(ops.convert_to_tensor(np.arange(h, dtype=np.float32).reshape(1, h, 1, 1)))
        score = peak[:, 0, 0, :]
        if self.logits:
            score = 1.0 / ops.sum(ops.exp(hm - peak), axis=(1, 2))
        if self.refine == "quarter":
            x = x + 0.25 * ops.sign(at(_interior_difference(hm, axis=2)))
            y = y + 0.25 * ops.sign(at(_interior_difference(hm, axis=1)))
        elif self.refine == "dark":
            likelihood = ops.exp(hm - peak) if self.logits else hm
            dx, dy = _newton_step(_derivatives(_neighbourhood(_blur(likelihood, self.sigma), at)))
            x, y = x + dx, y + dy
        return ops.stack([x * self.stride, y * self.stride, score], axis=-1)


@keras.saving.register_keras_serializable(package="posepipe")
class CoordinateKeypoints(keras.layers.Layer):
    """[B, K, 2] coordinates as fractions of the input and [B, K] (or [B, K, 1]) visibility
    -> [B, K, 3]: x * width, y * height, visibility."""

    def __init__(self, input_size: tuple[int, int], **kwargs: Any) -> None:
        kwargs.setdefault("name", NAME)
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.input_size = (int(input_size[0]), int(input_size[1]))  # (height, width)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_size": list(self.input_size)}

    def compute_output_shape(self, input_shapes: Any) -> tuple[int | None, ...]:
        return (input_shapes[0][0], input_shapes[0][1], 3)

    def call(self, inputs: Any) -> Any:
        coords, visibility = (ops.cast(t, "float32") for t in inputs)
        k = coords.shape[1]
        h, w = self.input_size
        xy = ops.reshape(coords, (-1, k, 2)) * ops.convert_to_tensor(np.array([w, h], np.float32))
        return ops.concatenate([xy, ops.reshape(visibility, (-1, k, 1))], axis=-1)


def first_maximum(hm: Any) -> Any:
    """[B, H, W, K] one-hot of each channel's first maximum in row-major order (np.argmax's).

    Each comparison is between a tensor and its own maximum, never a maximum taken on
    another path: a runtime that runs some ops in float16 and others in float32 (ONNX
    Runtime's CPU on an fp16 file) rounds the two paths differently, and a peak compared
    with a rounded copy of itself matched no cell (measured: keypoints 89720 px off)."""
    _, h, w, _ = hm.shape
    row_peaks = ops.max(hm, axis=2)  # [B, H, K]
    rows = _first(row_peaks >= ops.max(row_peaks, axis=1, keepdims=True), h)  # the first row holding the peak
    row = ops.sum(ops.expand_dims(rows, 2) * hm, axis=1)  # [B, W, K]: that row
    columns = _first(row >= ops.max(row, axis=1, keepdims=True), w)
    return ops.expand_dims(rows, 2) * ops.expand_dims(columns, 1)


def _first(tied: Any, count: int) -> Any:
    """One-hot of the first True along axis 1 of [B, count, K]."""
    rank = ops.convert_to_tensor(np.arange(count, 0, -1, dtype=np.float32).reshape(1, count, 1))
    key = ops.where(tied, rank, 0.0)  # count - index where tied: the first has the largest
    return ops.cast(key >= ops.max(key, axis=1, keepdims=True), "float32")


def _interior_difference(hm: Any, axis: int) -> Any:
    """next - previous along ``axis`` (1: y, 2: x), 0 on the map's first and last cell."""
    size = hm.shape[axis]
    interior = np.zeros(size, np.float32)
    interior[1:-1] = 1.0
    shape = [1, 1, 1, 1]
    shape[axis] = size
    return (_shift(hm, 1, axis) - _shift(hm, -1, axis)) * ops.convert_to_tensor(interior.reshape(shape))


def _shift(values: Any, step: int, axis: int) -> Any:
    """``values`` read ``step`` (+1 or -1) cells on along ``axis``, the edge replicated."""
    size = values.shape[axis]
    index = [slice(None)] * 4
    if step > 0:
        index[axis] = slice(1, size)
        body = values[tuple(index)]
        index[axis] = slice(size - 1, size)
        return ops.concatenate([body, values[tuple(index)]], axis=axis)
    index[axis] = slice(0, 1)
    edge = values[tuple(index)]
    index[axis] = slice(0, size - 1)
    return ops.concatenate([edge, values[tuple(index)]], axis=axis)


def _blur(likelihood: Any, sigma: float) -> Any:
    """dark.blur as two depthwise convolutions (zero padding: no likelihood outside the map)."""
    k = likelihood.shape[3]
    taps = gaussian_kernel(sigma).astype(np.float32)
    out = likelihood
    for shape in ((len(taps), 1), (1, len(taps))):
        kernel = np.tile(taps.reshape(*shape, 1, 1), (1, 1, k, 1))
        out = ops.depthwise_conv(out, ops.convert_to_tensor(kernel), strides=1, padding="same")
    return out


def _neighbourhood(blurred: Any, at: Callable[[Any], Any]) -> dict[tuple[int, int], Any]:
    """log(max(blurred, FLOOR)) at the peak and its 8 neighbours, {(dy, dx): [B, K]}, the
    border replicated. Read before the log: far from the peak a float16 runtime (a GPU
    delegate) underflows the floor to 0, and a -inf there would turn ``sum(one_hot *
    map)`` into NaN."""
    columns = {dx: _shift(blurred, dx, 2) if dx else blurred for dx in (-1, 0, 1)}
    return {(dy, dx): ops.log(_at_least(at(_shift(column, dy, 1) if dy else column), FLOOR))
            for dx, column in columns.items() for dy in (-1, 0, 1)}


def _derivatives(log: dict[tuple[int, int], Any]) -> tuple[Any, Any, Any, Any, Any]:
    """gx, gy, hxx, hyy, hxy at the peak by central differences of the log-neighbourhood."""
    gx, gy = 0.5 * (log[0, 1] - log[0, -1]), 0.5 * (log[1, 0] - log[-1, 0])
    hxx = log[0, 1] - 2 * log[0, 0] + log[0, -1]
    hyy = log[1, 0] - 2 * log[0, 0] + log[-1, 0]
    hxy = 0.25 * (log[1, 1] - log[1, -1] - log[-1, 1] + log[-1, -1])
    return gx, gy, hxx, hyy, hxy


def _newton_step(derivatives: tuple[Any, Any, Any, Any, Any]) -> tuple[Any, Any]:
    """(dx, dy) = -H^-1 g where H is negative definite, else 0; clipped to MAX_STEP cells."""
    gx, gy, hxx, hyy, hxy = derivatives
    det = hxx * hyy - hxy * hxy
    maximum = ops.logical_and(hxx < 0, det > 0)
    safe = ops.where(maximum, det, 1.0)
    dx = ops.where(maximum, -(hyy * gx - hxy * gy) / safe, 0.0)
    dy = ops.where(maximum, -(hxx * gy - hxy * gx) / safe, 0.0)
    return _within(dx, MAX_STEP), _within(dy, MAX_STEP)


# np.maximum and np.clip as selects: ONNX Min and Max stay float32 in the fp16 file (onnxruntime's
# float16 converter blocks them) and it then gives two Casts of one shared constant the same node
# name, which makes the file invalid.
def _at_least(values: Any, floor: float) -> Any:
    return ops.where(values > floor, values, floor)


def _within(values: Any, bound: float) -> Any:
    return ops.where(values > bound, bound, ops.where(values < -bound, -bound, values))
