"""The training stage: the default short schedule on labelled crops, with
left/right flips, validation PCK after every epoch and a JSON training record.

A schedule runs in stages (``TrainSchedule.plan``): one for most models; for
BlazePose heatmap pre-training, then regression fine-tuning with the features
frozen. Epochs are numbered across stages and each one's weights are kept, so
training can resume from a chosen epoch as the seed's ``continue_train`` does.

Keras is imported at the top: this module is only loaded when training runs.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from calibration.samples import SampleSet
from models.blocks import submodel
from models.errors import ConfigError
from models.spec import Decoder, ModelSpec, TrainSchedule, TrainStage
from pipeline.console import Advance, Console
from pipeline.errors import CheckpointError
from pipeline.versions import tool_versions
from validators.validate import Reference

EPOCHS_DIR = "epochs"


def epoch_weights(folder: Path, epoch: int) -> Path:
    """Where the weights of the training graph after ``epoch`` are kept."""
    return folder / EPOCHS_DIR / f"epoch-{epoch:03d}.weights.h5"


@dataclass(frozen=True)
class Resume:
    """Continue from the end of ``epoch``: its weights and the record's first ``epoch`` rows."""

    epoch: int
    weights: Path
    record: list[dict[str, Any]]

    @classmethod
    def read(cls, folder: Path, epoch: int, record_file: str) -> Resume:
        weights, record = epoch_weights(folder, epoch), folder / record_file
        if not weights.is_file() or not record.is_file():
            raise CheckpointError(f"--resume-from {epoch}: {weights} or {record} not found "
                                  f"(train with --out {folder} first)")
        rows = json.loads(record.read_text())["epochs"]
        return cls(epoch, weights, [row for row in rows if row["epoch"] <= epoch])


def train_model(spec: ModelSpec, config: Any, schedule: TrainSchedule, train: SampleSet, val: SampleSet,
                console: Console, seed: int = 0, keep: Path | None = None,
                resume: Resume | None = None) -> tuple[keras.Model, dict[str, Any]]:
    """A freshly initialised (or resumed) model trained on ``train``; returns the
    deployed model and its record. ``keep``: a folder for every epoch's weights."""
    keras.utils.set_random_seed(seed)
    model = spec.training_model(config)
    plan = schedule.plan(tuple(sorted(model.output)))
    if resume is not None:
        if not 0 < resume.epoch < schedule.epochs:
            raise ConfigError(f"--resume-from {resume.epoch}: the schedule has epochs 1 to {schedule.epochs - 1} "
                              "to resume from")
        model.load_weights(resume.weights)
    epochs: list[dict[str, Any]] = list(resume.record) if resume else []
    monitor = Monitor(spec, config, model, val, epochs, keep)
    start = time.perf_counter()
    first = 0
    for stage in plan:
        done = min(max((resume.epoch if resume else 0) - first, 0), stage.epochs)
        if done < stage.epochs:
            _fit_stage(spec, config, schedule, model, stage, (first, done), train, monitor, console, seed)
        first += stage.epochs
    for epoch in epochs:
        extra = "".join(f", {k} {v:.3f}" for k, v in epoch.items() if k.startswith("val_pck_"))
        console.note(f"epoch {epoch['epoch']} ({epoch['stage']}): loss {epoch['loss']:.4f}, "
                     f"val PCK@0.2 {epoch['val_pck']:.3f}{extra}")
    return spec.deployed(model, config), {
        "model": spec.name,
        "config": asdict(config),
        "schedule": asdict(schedule),
        "seed": seed,
        "resumed_from": resume.epoch if resume else None,
        "train_samples": len(train),
        "val_samples": len(val),
        "epochs": epochs,
        "val_pck": epochs[-1]["val_pck"] if epochs else None,
        "seconds": round(time.perf_counter() - start, 1),
        "tools": tool_versions(),
    }


def _fit_stage(spec: ModelSpec, config: Any, schedule: TrainSchedule, model: keras.Model, stage: TrainStage,
               at: tuple[int, int], train: SampleSet, monitor: Monitor, console: Console, seed: int) -> None:
    """Train ``stage``'s outputs from its epoch ``done`` on; ``first``: epochs before the stage."""
    first, done = at
    part = submodel(model, list(stage.outputs), model.name) if set(stage.outputs) != set(model.output) else model
    for layer in part.layers:
        layer.trainable = not layer.name.startswith(stage.frozen)
    losses = spec.training_losses(config)
    batches = Batches(spec, config, train, schedule.batch_size, seed + first + done, stage.outputs)
    steps = stage.epochs * len(batches)
    rate = keras.optimizers.schedules.CosineDecay(schedule.learning_rate * stage.learning_rate_scale, steps)
    part.compile(optimizer=keras.optimizers.Adam(rate), loss={o: losses[o] for o in stage.outputs})
    part.optimizer.iterations.assign(done * len(batches))  # the cosine decay resumes where it stopped
    remaining = (stage.epochs - done) * len(batches)
    label = f"training {spec.name} {stage.name} (epochs {first + done + 1}-{first + stage.epochs}, {remaining} steps)"
    with console.progress(label, remaining) as advance:
        monitor.begin(stage.name, first, advance)
        part.fit(batches, epochs=stage.epochs, initial_epoch=done, verbose=0, callbacks=[monitor])


class Batches(keras.utils.PyDataset):
    """Shuffled batches of normalised crops and the targets of ``outputs``, half
    of them mirrored (x flipped, left and right keypoints swapped)."""

    def __init__(self, spec: ModelSpec, config: Any, samples: SampleSet, batch_size: int, seed: int,
                 outputs: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.inputs = spec.input.normalise(samples.pixels)
        self.keypoints = samples.input_keypoints()
        self.encoder = spec.make_encoder(config)
        self.outputs = outputs
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
        names = self.outputs or tuple(targets[0])
        return np.stack(images), {k: np.stack([t[k] for t in targets]) for k in names}

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.inputs))


def mirror(keypoints: np.ndarray, flip_index: np.ndarray, width: int) -> np.ndarray:
    """Keypoints [K, 3] of a horizontally flipped image of ``width`` pixels."""
    out = keypoints[flip_index].copy()
    out[:, 0] = np.where(out[:, 2] > 0, width - out[:, 0], 0.0)
    return out


class Monitor(keras.callbacks.Callback):
    """Advances the progress bar per step; after each epoch, the val PCK of the
    deployed decoder (and of the spec's monitors) into the record, and the
    training graph's weights into ``keep``."""

    def __init__(self, spec: ModelSpec, config: Any, graph: keras.Model, val: SampleSet,
                 epochs: list[dict[str, Any]], keep: Path | None) -> None:
        super().__init__()
        self.spec, self.graph, self.val, self.epochs, self.keep = spec, graph, val, epochs, keep
        self.decoder: Decoder = spec.make_decoder(config)
        self.monitors = dict(spec.make_monitors(config)) if spec.make_monitors else {}
        self.start = time.perf_counter()
        self.stage, self.first, self.advance = "", 0, None

    def begin(self, stage: str, first: int, advance: Advance) -> None:
        self.stage, self.first, self.advance = stage, first, advance

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.advance is not None:
            self.advance(1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        number = self.first + epoch + 1
        row: dict[str, Any] = {
            "epoch": number,
            "stage": self.stage,
            "loss": round(float((logs or {}).get("loss", math.nan)), 5),
            "val_pck": round(Reference.compute(self.graph, self.spec, self.decoder, self.val).pck, 4),
        }
        for label, decoder in self.monitors.items():
            row[f"val_pck_{label}"] = round(Reference.compute(self.graph, self.spec, decoder, self.val).pck, 4)
        row["seconds"] = round(time.perf_counter() - self.start, 1)
        self.epochs.append(row)
        if self.keep is not None:
            path = epoch_weights(self.keep, number)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.graph.save_weights(path)
