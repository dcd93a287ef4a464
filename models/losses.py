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
