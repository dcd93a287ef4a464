"""The training stage: the default short schedule on labelled crops, fed by the
tf.data pipeline (flips, scale, rotation: pipeline/training/input_pipeline.py) under a
tf.distribute strategy (pipeline/training/distribute.py), with validation PCK after every
epoch and a JSON training record.

A schedule runs in stages (``TrainSchedule.plan``): one for most models; for
BlazePose heatmap pre-training, then regression fine-tuning with the features
frozen. Epochs are numbered across stages and each one's weights are kept, so
training can resume from a chosen epoch as the TensorFlow BlazePose's ``continue_train`` does.
Each epoch is written whole as it ends (weights, then the record so far, each
renamed into place), so a killed training resumes after its last complete epoch.

Keras is imported at the top: this module is only loaded when training runs.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras

from posepipe.calibration.samples import SampleSet
from posepipe.models.backbones.blocks import submodel
from posepipe.models.errors import ConfigError
from posepipe.models.spec import Decoder, ModelSpec, TrainSchedule, TrainStage
from posepipe.pipeline.engine.atomic import TEMP_PREFIX, write_json
from posepipe.pipeline.engine.console import Advance, Console
from posepipe.pipeline.engine.versions import tool_versions
from posepipe.pipeline.errors import CheckpointError
from posepipe.pipeline.training.distribute import Distribution, StrategyKind, build_for_multi_worker, distribution
from posepipe.pipeline.training.input_pipeline import InputPipeline
from posepipe.pipeline.training.precise_bn import PreciseBatchNorm
from posepipe.validators.accuracy.task import task_for
from posepipe.validators.validate import Reference

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


def last_epoch(folder: Path, record_file: str) -> int | None:
    """The last epoch in ``folder`` whose record row and weights are both written, if any."""
    record = folder / record_file
    if not record.is_file():
        return None
    done = [row["epoch"] for row in json.loads(record.read_text())["epochs"]
            if epoch_weights(folder, row["epoch"]).is_file()]
    return max(done, default=None)


@dataclass(frozen=True)
class EpochStore:
    """Where each finished epoch goes as it ends: its weights, then the record so far
    with ``header`` (what identifies the training), each under a temporary name and
    renamed, so a killed training leaves only whole epochs behind."""

    folder: Path
    record_file: str
    header: dict[str, Any]

    def save(self, number: int, graph: keras.Model, epochs: list[dict[str, Any]]) -> None:
        path = epoch_weights(self.folder, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(TEMP_PREFIX + path.name)
        graph.save_weights(temp)
        os.replace(temp, path)
        self.write_record(epochs)

    def write_record(self, epochs: list[dict[str, Any]]) -> None:
        write_json(self.folder / self.record_file, {**self.header, "epochs": epochs})


def train_model(spec: ModelSpec, config: Any, schedule: TrainSchedule, train: SampleSet, val: SampleSet,
                console: Console, seed: int = 0, keep: EpochStore | None = None,
                resume: Resume | None = None,
                strategy: Distribution | None = None) -> tuple[keras.Model, dict[str, Any]]:
    """A freshly initialised (or resumed) model trained on ``train``; returns the
    deployed model and its record. ``keep``: where every epoch is written as it ends.
    The model and its optimizer are made under ``strategy``'s scope (default: none)."""
    strategy = strategy or distribution(StrategyKind.DEFAULT)
    keras.utils.set_random_seed(seed)
    with strategy.strategy.scope():
        model = spec.training_model(config)
        if resume is not None:
            if not 0 < resume.epoch <= schedule.epochs:  # after the last: nothing left but writing the model
                raise ConfigError(f"--resume-from {resume.epoch}: the schedule has epochs 1 to "
                                  f"{schedule.epochs} to resume from")
            model.load_weights(resume.weights)
    plan = schedule.plan(tuple(sorted(model.output)))
    epochs: list[dict[str, Any]] = list(resume.record) if resume else []
    monitor = Monitor(spec, config, model, val, epochs, keep)
    start = time.perf_counter()
    first = 0
    for stage in plan:
        done = min(max((resume.epoch if resume else 0) - first, 0), stage.epochs)
        if done < stage.epochs:
            _fit_stage(spec, config, schedule, model, stage, (first, done), train, monitor, console, seed, strategy)
        first += stage.epochs
    metric = task_for(spec.topology, spec.keypoints).metric
    score = f"val_{metric}"
    for epoch in epochs:
        extra = "".join(f", {k} {v:.3f}" for k, v in epoch.items() if k.startswith(f"{score}_"))
        console.note(f"epoch {epoch['epoch']} ({epoch['stage']}): loss {epoch['loss']:.4f}, "
                     f"val {metric.label} {epoch[score]:.3f}{extra}")
    return spec.deployed(model, config), {
        "model": spec.name,
        "config": asdict(config),
        "schedule": asdict(schedule),
        "seed": seed,
        "distribution": strategy.record(schedule.batch_size),
        "resumed_from": resume.epoch if resume else None,
        "train_samples": len(train),
        "val_samples": len(val),
        "epochs": epochs,
        "metric": str(metric),
        score: epochs[-1][score] if epochs else None,
        "seconds": round(time.perf_counter() - start, 1),
        "tools": tool_versions(),
    }


def _fit_stage(spec: ModelSpec, config: Any, schedule: TrainSchedule, model: keras.Model, stage: TrainStage,
               at: tuple[int, int], train: SampleSet, monitor: Monitor, console: Console, seed: int,
               strategy: Distribution) -> None:
    """Train ``stage``'s outputs from its epoch ``done`` on; ``first``: epochs before the stage.

    One ``fit`` per epoch, on that epoch's dataset: the batches are a function of
    (seed, epoch number), so a resumed training sees what an uninterrupted one would."""
    first, done = at
    batches = InputPipeline(spec, config, train, schedule.augmentation, schedule.batch_size * strategy.replicas,
                            seed, stage.outputs)
    per_epoch = batches.steps_per_epoch
    with strategy.strategy.scope():
        part = submodel(model, list(stage.outputs), model.name) if set(stage.outputs) != set(model.output) else model
        for layer in part.layers:
            layer.trainable = not layer.name.startswith(stage.frozen)
        losses = spec.training_losses(config)
        rate = keras.optimizers.schedules.CosineDecay(schedule.learning_rate * stage.learning_rate_scale,
                                                      stage.epochs * per_epoch)
        part.compile(optimizer=keras.optimizers.Adam(rate), loss={o: losses[o] for o in stage.outputs})
        part.optimizer.iterations.assign(done * per_epoch)  # the cosine decay resumes where it stopped
    remaining = (stage.epochs - done) * per_epoch
    label = f"training {spec.name} {stage.name} (epochs {first + done + 1}-{first + stage.epochs}, {remaining} steps)"
    with console.progress(label, remaining) as advance:
        monitor.begin(stage.name, first, advance)
        if strategy.kind is StrategyKind.MULTI_WORKER:
            build_for_multi_worker(part, next(iter(batches.epoch(first + done + 1))))
        callbacks: list[keras.callbacks.Callback] = [monitor]
        if schedule.precise_bn_batches:  # before the monitor, which validates with the statistics
            callbacks.insert(0, PreciseBatchNorm(model, lambda: batches.epoch(0), schedule.precise_bn_batches))
        for epoch in range(done, stage.epochs):
            with strategy.strategy.scope():
                part.fit(batches.epoch(first + epoch + 1), epochs=epoch + 1, initial_epoch=epoch, verbose=0,
                         shuffle=False, callbacks=callbacks)


class Monitor(keras.callbacks.Callback):
    """Advances the progress bar per step; after each epoch, the val PCK of the
    deployed decoder (and of the spec's monitors) into the record, and the epoch
    (training graph's weights and the record so far) into ``keep``."""

    def __init__(self, spec: ModelSpec, config: Any, graph: keras.Model, val: SampleSet,
                 epochs: list[dict[str, Any]], keep: EpochStore | None) -> None:
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
        score = f"val_{task_for(self.spec.topology, self.spec.keypoints).metric}"
        row: dict[str, Any] = {
            "epoch": number,
            "stage": self.stage,
            "loss": round(float((logs or {}).get("loss", math.nan)), 5),
            score: round(Reference.compute(self.graph, self.spec, self.decoder, self.val).score, 4),
        }
        for label, decoder in self.monitors.items():
            row[f"{score}_{label}"] = round(Reference.compute(self.graph, self.spec, decoder, self.val).score, 4)
        row["seconds"] = round(time.perf_counter() - self.start, 1)
        self.epochs.append(row)
        if self.keep is not None:
            self.keep.save(number, self.graph, self.epochs)
