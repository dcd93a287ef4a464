"""Training losses, written with keras.ops so they run under any strategy."""

from __future__ import annotations

from typing import Any

from keras import ops


def spatial_softmax_ce(target: Any, logits: Any) -> Any:
    """Cross-entropy between each keypoint's normalised target Gaussian and the
    softmax of its heatmap logits over all positions.

    Mean-squared heatmap regression spends its first thousands of steps learning
    to predict zero everywhere; a spatial softmax makes every step a choice of
    position, which is what lets the default schedule converge in minutes on a
    CPU. Keypoints with an empty target (unlabelled) do not count.
    """
    batch, channels = ops.shape(logits)[0], ops.shape(logits)[-1]
    logits = ops.reshape(logits, (batch, -1, channels))
    target = ops.reshape(target, (batch, -1, channels))
    mass = ops.sum(target, axis=1)  # [B, K]
    distribution = target / ops.maximum(mass, 1e-6)[:, None, :]
    per_keypoint = -ops.sum(distribution * ops.log_softmax(logits, axis=1), axis=1)
    labelled = ops.cast(mass > 0, logits.dtype)
    return ops.sum(per_keypoint * labelled, axis=1) / ops.maximum(ops.sum(labelled, axis=1), 1.0)


def heatmap_mse(target: Any, predicted: Any) -> Any:
    """Mean squared error on Gaussian heatmaps, for decoders that read the
    Gaussian's shape (DARK)."""
    return ops.mean(ops.square(predicted - target), axis=(1, 2, 3))


def keypoint_position(target: Any, predicted: Any) -> Any:
    """L1 distance of the labelled keypoints' (x, y), for a ``coords`` output
    [B, K, 2] against its target [B, K, 3] of (x, y, COCO flag) (models/coords.py).

    L1 rather than L2: with coordinates as fractions of the input an L2 gradient
    vanishes as the keypoints get close, just where PCK is decided. Unlabelled
    keypoints (flag 0) count for nothing; hidden ones (1) still teach position.
    """
    labelled = ops.cast(target[..., 2] > 0, predicted.dtype)
    position = ops.sum(ops.abs(predicted - target[..., :2]), axis=-1)
    return ops.sum(position * labelled, axis=-1) / ops.maximum(ops.sum(labelled, axis=-1), 1.0)


VISIBILITY_WEIGHT = 0.1  # a wrong "visible" costs as much as a tenth of the input's width


def keypoint_visibility(flags: Any, probability: Any) -> Any:
    """Binary cross-entropy of "visible" (flag 2) against a ``visibility`` output
    [B, K] of probabilities, over the labelled keypoints, weighted beside the
    position loss by ``VISIBILITY_WEIGHT``."""
    labelled = ops.cast(flags > 0, probability.dtype)
    visible = ops.cast(flags > 1.5, probability.dtype)
    p = ops.clip(probability, 1e-6, 1.0 - 1e-6)
    entropy = -(visible * ops.log(p) + (1.0 - visible) * ops.log(1.0 - p))
    count = ops.maximum(ops.sum(labelled, axis=-1), 1.0)
    return VISIBILITY_WEIGHT * ops.sum(entropy * labelled, axis=-1) / count