"""Training losses, written with keras.ops so they run under any strategy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
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
    [B, K, 2] against its target [B, K, 3] of (x, y, COCO flag) (models/codecs/coords.py).

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


def heatmap_focal(target: Any, logits: Any) -> Any:
    """Quality focal loss (Li et al., Generalized Focal Loss) for heatmap logits
    against soft targets in [0, 1]: per element ``|sigmoid(x) - t|^2 * BCE(t, sigmoid(x))``,
    summed per image and divided by the image's target mass (at least 1).

    Bottom-up heatmaps are ~99% background. Plain BCE is then dominated by the
    background cells and a model spends many epochs learning "all zero" before
    any peak appears; the modulating factor all but silences cells already
    predicted right, so the few peak cells lead from the first steps. Dividing by
    the target mass rather than the map size weighs every keypoint alike, so an
    image with more people is not weighed less per keypoint. The BCE is computed
    from the logits (``softplus(x) - t x``), which never overflows.
    """
    probability = ops.sigmoid(logits)
    entropy = ops.softplus(logits) - target * logits
    per_element = ops.square(probability - target) * entropy
    axes = tuple(range(1, len(logits.shape)))
    return ops.sum(per_element, axis=axes) / ops.maximum(ops.sum(target, axis=axes), 1.0)


@keras.saving.register_keras_serializable(package="posepipe")
@dataclass(frozen=True)
class MaskedHuber:
    """Huber (delta 1) on ``(predicted - target) / scale`` over the supervised
    elements (target not NaN), averaged per image over them; 0 when none are.

    NaN marks what a regression target does not define (an offset outside every
    keypoint's disk). The NaNs are replaced before anything is subtracted, and
    the unsupervised elements are zeroed before the Huber, so neither a NaN nor
    a huge prediction there reaches the loss or its gradient. A frozen dataclass
    rather than a closure: it compares, hashes and prints as its settings.
    """

    scale: float

    def __call__(self, target: Any, predicted: Any) -> Any:
        supervised = ops.logical_not(ops.isnan(target))
        safe = ops.where(supervised, target, ops.zeros_like(target))
        error = ops.where(supervised, (predicted - safe) / self.scale, ops.zeros_like(predicted))
        magnitude = ops.abs(error)
        huber = ops.where(magnitude <= 1.0, 0.5 * ops.square(error), magnitude - 0.5)
        axes = tuple(range(1, len(predicted.shape)))
        count = ops.sum(ops.cast(supervised, predicted.dtype), axis=axes)
        return ops.sum(huber, axis=axes) / ops.maximum(count, 1.0)

    def get_config(self) -> dict[str, Any]:
        """Keras saves a compiled model's losses with it (a trained checkpoint is one)."""
        return {"scale": self.scale}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MaskedHuber:
        return cls(**config)


def masked_huber(scale: float) -> MaskedHuber:
    """A loss for regression targets with NaN where unsupervised (``MaskedHuber``)."""
    return MaskedHuber(float(scale))


def pixel_mse(target: Any, predicted: Any) -> Any:
    """Mean squared error per image over every element (PAFs, which are defined,
    zero, off the limbs)."""
    return ops.mean(ops.square(predicted - target), axis=tuple(range(1, len(predicted.shape))))


@keras.saving.register_keras_serializable(package="posepipe")
@dataclass(frozen=True)
class Weighted:
    """``loss`` times ``weight``: Keras compiles one loss per output, so a
    multi-output model's balance lives in the loss itself. Frozen and plain, so
    it compares and prints as its loss and weight."""

    loss: Callable[[Any, Any], Any]
    weight: float

    def __call__(self, target: Any, predicted: Any) -> Any:
        return self.weight * self.loss(target, predicted)

    def get_config(self) -> dict[str, Any]:
        return {"loss": keras.saving.serialize_keras_object(self.loss), "weight": self.weight}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Weighted:
        return cls(keras.saving.deserialize_keras_object(config["loss"]), config["weight"])
