"""The data stage: the user's dataset folder (COCO 2017, COCO-format or AI Challenger,
told apart by calibration/layouts.py), or the synthetic set made once into the cache
and read back through the same COCO reader."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from posepipe.calibration.aic import check_keypoints
from posepipe.calibration.coco import resolve_split
from posepipe.calibration.layouts import Layout, annotation_files, detect
from posepipe.calibration.synthetic import SynthConfig, generate
from posepipe.models.spec import ModelSpec, Topology, TrainSchedule
from posepipe.pipeline.engine.atomic import atomic_path
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import key, sha256_path
from posepipe.pipeline.engine.keys import sources


@dataclass(frozen=True)
class Data:
    root: Path
    synthetic: bool
    fingerprint: str  # what cache keys of later stages depend on


# Bottom-up models learn to tell people apart: one to three figures an image, smaller
# than a single person's, standing over each other in a third of the images.
MULTI_PERSON = {"persons": (1, 3), "scale": (0.4, 0.75), "overlap": 0.35}


def synth_config(spec: ModelSpec, schedule: TrainSchedule, seed: int = 0) -> SynthConfig:
    """The synthetic set a model trains and is validated on: single figures for
    top-down models, crowds for bottom-up ones."""
    crowd = MULTI_PERSON if spec.topology is Topology.BOTTOM_UP else {}
    return SynthConfig(seed=seed, train_images=schedule.train_images, val_images=schedule.val_images,
                       keypoints=spec.keypoints, **crowd)


def resolve_data(data: Path | None, cache: Path, synth: SynthConfig, console: Console) -> Data:
    if data is not None:
        layout = detect(data)  # COCO 2017, COCO-format or AI Challenger (docs/datasets.md)
        if layout is Layout.AI_CHALLENGER:  # a folder without a val split is no dataset for posepipe
            check_keypoints(data, synth.keypoints)  # its set is aic-14: refused now, not after the checkpoint
        else:
            resolve_split(data, "val")
        files = annotation_files(data, layout)
        return Data(data, False, key([(f.name, sha256_path(f)) for f in files]))
    fingerprint = key(asdict(synth), sources("calibration"))
    root = cache / "data" / f"synthetic-{fingerprint[:12]}"
    if root.is_dir():
        console.step(f"synthetic data: up to date ({root})")
    else:
        console.step(f"synthetic data: writing {synth.train_images} train + {synth.val_images} val images to {root}")
        with atomic_path(root) as temp, console.progress("images", synth.train_images + synth.val_images) as advance:
            generate(temp, synth, advance)
    return Data(root, True, fingerprint)
