"""A micro pose model for the training tests: the tiny hourglass's spec (encoder,
decoder, loss, keypoints) around three convolutions, so a training costs seconds
of graph tracing instead of half a minute and the tests stay cheap.

Run as a script it trains once (the subprocess tests: a 2-replica CPU strategy,
which must be set before TensorFlow starts, and a training killed mid-way)::

    python -m tests.support.micro OUT DATA [--epochs N] [--strategy S] [--cpu-replicas N] [--slow-epochs SECONDS]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from posepipe.models.spec import TrainSchedule
from posepipe.models.zoo.hourglass import SPEC as HOURGLASS

SCHEDULE = TrainSchedule(epochs=2, batch_size=8, learning_rate=2e-3, train_images=16, val_images=4)


def build(config: Any) -> Any:
    import keras
    from keras import layers

    image = keras.Input((*config.input_size, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(image)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    return keras.Model(image, {"heatmaps": layers.Conv2D(17, 1, name="heatmaps")(x)}, name="micro")


MICRO = dataclasses.replace(HOURGLASS, name="micro", build=build, tiny_schedule=SCHEDULE)


def train(out: Path, data: Path, epochs: int = 2, seed: int = 0, strategy: Any = None,
          schedule: TrainSchedule = SCHEDULE) -> dict[str, Any]:
    """Train the micro model into ``out`` on the tiny synthetic set in ``data``."""
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.checkpoint import train_into
    from posepipe.pipeline.run.data import Data

    return train_into(out, MICRO, MICRO.tiny, schedule.with_epochs(epochs), Data(data, True, "tiny"),
                      Console(live=False), seed, strategy=strategy)


def _slow_epochs(seconds: float) -> None:
    """Each epoch ends ``seconds`` later (after it is written), so a test can kill
    the training between two epochs without racing it."""
    from posepipe.pipeline.training import train as training

    written = training.Monitor.on_epoch_end

    def slow(self: Any, epoch: int, logs: dict | None = None) -> None:
        written(self, epoch, logs)
        time.sleep(seconds)

    training.Monitor.on_epoch_end = slow  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--cpu-replicas", type=int, default=None)
    parser.add_argument("--slow-epochs", type=float, default=0.0)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from posepipe.pipeline.training.distribute import StrategyKind, distribution

    chosen = distribution(StrategyKind(args.strategy), args.cpu_replicas)
    if args.slow_epochs:
        _slow_epochs(args.slow_epochs)
    train(args.out, args.data, args.epochs, strategy=chosen)


if __name__ == "__main__":
    main()
