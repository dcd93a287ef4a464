"""``posepipe bench-train``: does the input pipeline keep the model busy?

Three rates on this machine, in images per second: (a) the tf.data pipeline
alone (augmentation and target encoding, iterated with nothing consuming it),
(b) the model's training steps on one batch held in memory (what the model could
do if input were free), and (c) training steps fed by the pipeline, as ``fit``
runs them. The pipeline keeps the model busy when (a) is well above (b), and
then (c) comes close to (b). Each rate is timed after a warm-up (tracing and the
first batches are not counted). Measurements for the README and CI trends, never
test assertions.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from functools import reduce
from typing import Any

from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import load_samples
from posepipe.models.spec import ModelSpec, TrainSchedule
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.run.data import Data

WARMUP_STEPS = 3


@dataclass(frozen=True)
class TrainBench:
    model: str
    preset: str
    batch_size: int
    steps: int
    input_images_per_s: float
    step_images_per_s: float
    fed_step_images_per_s: float
    cpus: int

    @property
    def headroom(self) -> float:
        """How many times faster the input pipeline is than the training steps."""
        return self.input_images_per_s / self.step_images_per_s

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"headroom": round(self.headroom, 2)}

    def lines(self) -> list[str]:
        verdict = "keeps the model busy" if self.headroom > 1 else "is the bottleneck"
        return [
            f"input pipeline (augment + encode, {self.batch_size}/batch): {self.input_images_per_s:.1f} images/s",
            f"training steps, batch in memory: {self.step_images_per_s:.1f} images/s",
            f"training steps fed by the pipeline: {self.fed_step_images_per_s:.1f} images/s",
            f"input/steps {self.headroom:.1f}x: the input pipeline {verdict}",
        ]


def bench_train(spec: ModelSpec, config: Any, preset: str, schedule: TrainSchedule, data: Data, steps: int,
                images: int, console: Console, seed: int = 0) -> TrainBench:
    """Time ``steps`` batches of each kind (after ``WARMUP_STEPS``) on ``images`` training crops
    (rounded down to whole batches, so every batch is full)."""
    import keras
    import tensorflow as tf

    from posepipe.pipeline.training.input_pipeline import InputPipeline

    images = max(images // schedule.batch_size, 1) * schedule.batch_size
    console.step(f"bench-train: {spec.name} ({preset}), {images} training crops, {steps} timed steps")
    split = CocoKeypoints.load(data.root, "train", spec.keypoints)
    train = load_samples(split, spec.topology, config.input_size, images)
    keras.utils.set_random_seed(seed)
    model = spec.training_model(config)
    stage = schedule.plan(tuple(sorted(model.output)))[0]
    batches = InputPipeline(spec, config, train, schedule.augmentation, schedule.batch_size, seed, stage.outputs)
    epochs = math.ceil((WARMUP_STEPS + steps) / batches.steps_per_epoch)
    stream = reduce(lambda a, b: a.concatenate(b), [batches.epoch(e) for e in range(1, epochs + 1)])
    input_rate = _images_per_s(stream, steps, schedule.batch_size)
    console.note(f"input pipeline: {input_rate:.1f} images/s")

    part = model if set(stage.outputs) == set(model.output) else keras.Model(
        model.input, {o: model.output[o] for o in stage.outputs})
    losses = spec.training_losses(config)
    part.compile(optimizer=keras.optimizers.Adam(schedule.learning_rate), loss={o: losses[o] for o in stage.outputs})
    one = next(iter(stream))
    fixed = tf.data.Dataset.from_tensors(one).repeat()
    step_rate = _fit_images_per_s(part, fixed, steps, schedule.batch_size)
    console.note(f"training steps (batch in memory): {step_rate:.1f} images/s")
    fed_rate = _fit_images_per_s(part, stream, steps, schedule.batch_size)
    return TrainBench(spec.name, preset, schedule.batch_size, steps, round(input_rate, 1), round(step_rate, 1),
                      round(fed_rate, 1), os.cpu_count() or 1)


def _images_per_s(stream: Any, steps: int, batch_size: int) -> float:
    iterator = iter(stream)
    for _ in range(WARMUP_STEPS):
        next(iterator)
    start = time.perf_counter()
    count = sum(int(next(iterator)[0].shape[0]) for _ in range(steps))
    return count / (time.perf_counter() - start)


def _fit_images_per_s(model: Any, stream: Any, steps: int, batch_size: int) -> float:
    model.fit(stream.take(WARMUP_STEPS), verbose=0, shuffle=False)
    timed = stream.skip(WARMUP_STEPS).take(steps)
    start = time.perf_counter()
    model.fit(timed, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)
