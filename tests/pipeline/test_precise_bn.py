"""Precise BatchNorm: moving statistics become the plain average of batch statistics."""

from __future__ import annotations

import keras
import numpy as np

from posepipe.pipeline.training.precise_bn import batch_norms, recompute


def _model() -> keras.Model:
    image = keras.Input((4, 4, 2))
    x = keras.layers.BatchNormalization(name="bn")(image)
    x = keras.layers.Conv2D(3, 1, name="conv")(x)
    frozen = keras.layers.BatchNormalization(name="frozen")
    frozen.trainable = False
    return keras.Model(image, frozen(x))


def test_moving_statistics_are_the_average_over_the_batches() -> None:
    model = _model()
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, 2.0, (8, 4, 4, 2)).astype(np.float32) for loc in (1.0, 3.0, 8.0)]
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.full(2, 100.0, np.float32))  # stale statistics, far off
    frozen_before = [w.numpy().copy() for w in model.get_layer("frozen").weights]
    assert [layer.name for layer in batch_norms(model)] == ["bn"]

    assert recompute(model, batches) == 3
    means = np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0)
    variances = np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), means, rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), variances, rtol=0.05)  # Keras: unbiased or not
    assert bn.momentum == 0.99
    for before, after in zip(frozen_before, model.get_layer("frozen").weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
