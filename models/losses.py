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


def keypoint_regression(target: Any, predicted: Any) -> Any:
    """L1 distance of the labelled keypoints' (x, y) plus the binary cross-entropy
    of their visibility, for a ``coords`` output [B, K, 3] (models/coords.py).

    L1 rather than L2: with coordinates as fractions of the input an L2 gradient
    vanishes as the keypoints get close, just where PCK is decided. Unlabelled
    keypoints (flag 0) count for nothing; hidden ones (1) teach position and
    "not visible".
    """
    flag = target[..., 2]
    labelled = ops.cast(flag > 0, predicted.dtype)
    visible = ops.cast(flag > 1.5, predicted.dtype)
    position = ops.sum(ops.abs(predicted[..., :2] - target[..., :2]), axis=-1)
    logit = predicted[..., 2]
    visibility = ops.maximum(logit, 0) - logit * visible + ops.log1p(ops.exp(-ops.abs(logit)))
    count = ops.maximum(ops.sum(labelled, axis=-1), 1.0)
    return ops.sum((position + 0.1 * visibility) * labelled, axis=-1) / count
