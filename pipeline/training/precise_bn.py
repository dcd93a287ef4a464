"""Precise BatchNorm: moving statistics recomputed as plain averages over training
batches with the final weights of an epoch (Wu and Johnson, "Rethinking 'Batch'
in BatchNorm", 2021).

Why: Keras keeps an exponential moving average (momentum 0.99) of batch
statistics taken while the weights were still moving. After a short schedule the
depthwise layers of a MobileNetV1 trunk held moving variances 3 to 9 times their
batch variances, so inference saw flattened features: val OKS AP 0.000 from
weights that score 0.058 with recomputed statistics. Averaging over a few dozen
batches of the last weights costs seconds and makes the deployed (and every
converted, BatchNorm-folded) model see what training saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras


def batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The trainable BatchNorm layers, nested models included (frozen ones keep their
    statistics, as a frozen stage's features must not move)."""
    found = []
    for layer in model._flatten_layers(include_self=False):  # noqa: SLF001 (Keras' own recursive walk)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            found.append(layer)
    return found


def recompute(model: keras.Model, images: Iterable[Any]) -> int:
    """Every trainable BatchNorm's moving mean and variance set to the average of its
    batch statistics over ``images`` (batches of model inputs); returns how many
    batches were averaged. Batch ``i`` enters with weight 1/(i+1) (momentum
    i/(i+1)), which is the running mean; the layers' momentum is restored after."""
    layers = batch_norms(model)
    saved = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, batch in enumerate(images, start=1):
            for layer in layers:
                layer.momentum = (count - 1) / count
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    return count


class PreciseBatchNorm(keras.callbacks.Callback):
    """After each epoch, ``recompute`` on the first ``batches`` batches of ``data()``
    (a fresh dataset of (images, targets) batches, so the epoch's own is not consumed)."""

    def __init__(self, graph: keras.Model, data: Any, batches: int) -> None:
        super().__init__()
        self.graph, self.data, self.batches = graph, data, batches

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        recompute(self.graph, (images for images, _ in self.data().take(self.batches)))
