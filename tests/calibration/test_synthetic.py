"""The synthetic COCO set: deterministic, COCO-shaped, and read by the real reader."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.synthetic import SynthConfig, generate, render_image


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    config = SynthConfig(seed=3, train_images=3, val_images=2)
    generate(tmp_path / "a", config)
    generate(tmp_path / "b", config)
    generate(tmp_path / "c", SynthConfig(seed=4, train_images=3, val_images=2))
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_an_image_depends_only_on_its_index() -> None:
    config = SynthConfig()
    a, _ = render_image(np.random.default_rng([0, 0, 5]), config)
    b, _ = render_image(np.random.default_rng([0, 0, 5]), config)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_the_set_reads_back_through_the_coco_reader(tiny_data: Path) -> None:
    train = CocoKeypoints.load(tiny_data, "train", 17)
    val = CocoKeypoints.load(tiny_data, "val", 17)
    assert len(train.images) == 48 and len(val.images) == 16
    people = train.people + val.people
    flags = np.concatenate([p.keypoints[:, 2] for p in people])
    assert set(np.unique(flags)) <= {0.0, 1.0, 2.0}
    assert (flags == 2).mean() > 0.6 and (flags == 1).any()  # mostly visible, some hidden
    for split, person in [(train, p) for p in train.people] + [(val, p) for p in val.people]:
        image = split.images[person.image_id]
        x, y, w, h = person.bbox
        labelled = person.keypoints[person.keypoints[:, 2] > 0]
        assert x >= 0 and y >= 0 and x + w <= image.width + 1e-3 and y + h <= image.height + 1e-3
        assert (labelled[:, 0] >= x).all() and (labelled[:, 0] <= x + w).all()
        assert (labelled[:, 1] >= y).all() and (labelled[:, 1] <= y + h).all()


def test_left_limbs_are_warm_and_right_limbs_cool(tiny_data: Path) -> None:
    """The cue that makes left and right learnable from one image."""
    from posepipe.calibration.coco import read_image

    val = CocoKeypoints.load(tiny_data, "val", 17)
    warm = cool = 0
    for person in val.people:
        image = read_image(val.images[person.image_id].path).astype(int)
        for index, side in ((13, "left"), (14, "right")):  # knees: the middle of a drawn leg
            x, y, v = person.keypoints[index]
            if v == 2:
                r, g, b = image[int(y), int(x)]
                warm += side == "left" and r > b
                cool += side == "right" and b > r
    assert warm >= 0.6 * len(val.people) and cool >= 0.6 * len(val.people)
