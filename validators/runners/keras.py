"""The reference: the Keras model itself."""

from __future__ import annotations

from typing import Any

import numpy as np

from posepipe.validators.runners.base import Feed, Runner


class KerasRunner(Runner):
    runtime = "keras"

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self._call: Any = None

    def activate(self) -> None:
        """Trace the model once into a graph function: an eager Keras 3 call pays
        Python per layer (hundreds of ms for a deep model), which would make the
        reference's time a measure of the interpreter, not of the model."""
        import tensorflow as tf

        model = self.model
        self._call = tf.function(lambda x: model(x, training=False), autograph=False)

    def _infer(self, feed: Feed) -> Feed:
        (x,) = feed.values()
        outputs = self._call(x)
        return {name: np.asarray(value) for name, value in outputs.items()}

    def infer_batch(self, images: np.ndarray, batch_size: int = 32) -> Feed:
        """Many images at once: the reference is computed once per validation, and
        batching it is what keeps validation cheap next to the per-image runtimes."""
        outputs = self.model.predict(images, batch_size=batch_size, verbose=0)
        return {name: np.asarray(value) for name, value in outputs.items()}
