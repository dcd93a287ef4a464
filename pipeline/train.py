"""The training stage: the default short schedule on labelled crops, with
left/right flips, validation PCK after every epoch and a JSON training record.

Keras is imported at the top: this module is only loaded when training runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

import keras
import numpy as np

from calibration.samples import SampleSet
from models.spec import Decoder, ModelSpec, TrainSchedule
from pipeline.console import Advance, Console
from pipeline.versions import tool_versions
from validators.validate import Reference


def train_model(spec: ModelSpec, config: Any, schedule: TrainSchedule, train: SampleSet, val: SampleSet,
                console: Console, seed: int = 0) -> tuple[keras.Model, dict[str, Any]]:
    """A freshly initialised model trained on ``train``; returns it and its record."""
    keras.utils.set_random_seed(seed)
    model = spec.build(config)
    batches = Batches(spec, config, train, schedule.batch_size, seed)
    steps = schedule.epochs * len(batches)
    rate = keras.optimizers.schedules.CosineDecay(schedule.learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss=dict(spec.losses))
    epochs: list[dict[str, float]] = []
    start = time.perf_counter()
    with console.progress(f"training {spec.name} ({schedule.epochs} epochs, {steps} steps)", steps) as advance:
        record = EpochRecord(spec, spec.make_decoder(config), val, epochs, advance)
        model.fit(batches, epochs=schedule.epochs, verbose=0, callbacks=[record])
    for epoch in epochs:
        console.note(f"epoch {epoch['epoch']}: loss {epoch['loss']:.4f}, val PCK@0.2 {epoch['val_pck']:.3f}")
    return model, {
        "model": spec.name,
        "config": asdict(config),
        "schedule": asdict(schedule),
        "seed": seed,
        "train_samples": len(train),
        "val_samples": len(val),
        "epochs": epochs,
        "val_pck": epochs[-1]["val_pck"] if epochs else None,
        "seconds": round(time.perf_counter() - start, 1),
        "tools": tool_versions(),
    }


class Batches(keras.utils.PyDataset):
    """Shuffled batches of normalised crops and their targets, half of them
    mirrored (x flipped, left and right keypoints swapped)."""

    def __init__(self, spec: ModelSpec, config: Any, samples: SampleSet, batch_size: int, seed: int) -> None:
        super().__init__()
        self.inputs = spec.input.normalise(samples.pixels)
        self.keypoints = samples.input_keypoints()
        self.encoder = spec.make_encoder(config)
        self.flip_index = np.asarray(spec.keypoints.flip_index)
        self.width = config.input_size[1]
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(self.inputs))

    def __len__(self) -> int:
        return math.ceil(len(self.inputs) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images, targets = [], []
        for i in chosen:
            image, keypoints = self.inputs[i], self.keypoints[i]
            if self.rng.random() < 0.5:
                image, keypoints = image[:, ::-1], mirror(keypoints, self.flip_index, self.width)
            images.append(image)
            targets.append(self.encoder.encode(keypoints[None]))
        return np.stack(images), {k: np.stack([t[k] for t in targets]) for k in targets[0]}

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.inputs))


def mirror(keypoints: np.ndarray, flip_index: np.ndarray, width: int) -> np.ndarray:
    """Keypoints [K, 3] of a horizontally flipped image of ``width`` pixels."""
    out = keypoints[flip_index].copy()
    out[:, 0] = np.where(out[:, 2] > 0, width - out[:, 0], 0.0)
    return out


class EpochRecord(keras.callbacks.Callback):
    """Advances the progress bar per step; after each epoch, the val PCK."""

    def __init__(self, spec: ModelSpec, decoder: Decoder, val: SampleSet, epochs: list, advance: Advance) -> None:
        super().__init__()
        self.spec, self.decoder, self.val, self.epochs, self.advance = spec, decoder, val, epochs, advance
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.advance(1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        reference = Reference.compute(self.model, self.spec, self.decoder, self.val)
        self.epochs.append({
            "epoch": epoch + 1,
            "loss": round(float((logs or {}).get("loss", math.nan)), 5),
            "val_pck": round(reference.pck, 4),
            "seconds": round(time.perf_counter() - self.start, 1),
        })
