"""The reference stage, shared by ``run`` and ``validate``: the Keras model's
outputs and decoded keypoints on the first N labelled val people."""

from __future__ import annotations

from typing import Any

from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import load_samples
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.run.data import Data
from posepipe.validators.validate import Reference


def val_reference(model: Any, spec: ModelSpec, config: Any, data: Data, samples: int,
                  console: Console) -> tuple[Reference, CocoKeypoints]:
    val_set = CocoKeypoints.load(data.root, "val", spec.keypoints)
    val = load_samples(val_set, spec.topology, config.input_size, samples)
    reference = Reference.compute(model, spec, spec.make_decoder(config), val)
    console.step(f"reference: keras, {reference.task.metric.label} {reference.score:.3f} on {len(val)} val samples")
    if note := val_set.skipped_note():
        console.note(note)
    return reference, val_set
