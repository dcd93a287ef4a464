"""Multi-person data and scoring: crowds from the generator, whole images from the
COCO reader, OKS AP from pycocotools, and pose agreement between two decodings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import SampleSet, load_bottom_up
from posepipe.calibration.synthetic import SynthConfig, generate
from posepipe.models.keypoints import COCO_17
from posepipe.pipeline.run.data import MULTI_PERSON
from posepipe.pipeline.training.input_pipeline import transform_keypoints
from posepipe.validators.accuracy.metrics import Agreement, pose_agreement
from posepipe.validators.accuracy.oks import oks_ap
from tests.support.harness import TinyZoo


@pytest.fixture(scope="module")
def crowds(zoo: TinyZoo) -> Path:
    return zoo.data_for("posenet")


def test_the_generator_draws_crowds_that_overlap(tmp_path: Path) -> None:
    config = dataclasses.replace(SynthConfig(seed=1, train_images=40, val_images=1), **MULTI_PERSON)
    generate(tmp_path, config)
    train = CocoKeypoints.load(tmp_path, "train", 17)
    counts = np.bincount([p.image_id for p in train.people], minlength=41)[1:]
    assert counts.min() >= 1 and counts.max() == 3 and counts.mean() > 1.5
    overlapping = 0
    for image_id in train.images:
        boxes = [p.bbox for p in train.people if p.image_id == image_id]
        overlapping += any(_iou(a, b) > 0.1 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert overlapping >= 5  # about a third of the multi-figure images stand people over each other


def test_single_figure_images_are_unchanged_by_the_crowd_options(tmp_path: Path) -> None:
    """The crowd options draw nothing when off: the top-down sets keep their bytes."""
    generate(tmp_path / "a", SynthConfig(seed=2, train_images=2, val_images=1))
    generate(tmp_path / "b", SynthConfig(seed=2, train_images=2, val_images=1, overlap=0.0, scale=(0.45, 0.9)))
    for name in ("train/000000.jpg", "train/000001.jpg", "annotations/person_keypoints_train.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_whole_images_come_with_all_their_people_padded(crowds: Path) -> None:
    val = CocoKeypoints.load(crowds, "val", 17)
    samples = load_bottom_up(val, (64, 64), limit=8)
    most = max(sum(p.image_id == i for p in val.people) for i in list(val.images)[:8])
    assert samples.pixels.shape == (8, 64, 64, 3) and samples.keypoints.shape == (8, most, 17, 3)
    for i, image_id in enumerate(samples.image_ids):
        people = [p for p in val.people if p.image_id == image_id]
        assert (samples.areas[i] > 0).sum() == len(people)
        np.testing.assert_allclose(samples.keypoints[i, :len(people)], [p.keypoints for p in people])
    inputs = samples.input_keypoints()
    labelled = inputs[..., 2] > 0
    assert (inputs[labelled][:, :2] >= 0).all() and (inputs[labelled][:, :2] <= 64).all()


def test_people_of_a_sample_move_with_its_flip() -> None:
    """Rank-4 keypoints [B, P, K, 3] transform as each person alone would."""
    rng = np.random.default_rng(0)
    people = np.concatenate([rng.uniform(5, 60, (2, 3, 17, 2)), np.full((2, 3, 17, 1), 2.0)], -1).astype(np.float32)
    matrices = tf.constant([[[-1.0, 0.0, 64.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.eye(3)], tf.float32)
    flips = tf.constant([True, False])
    flip_index = tf.constant(COCO_17.flip_index)
    together = transform_keypoints(tf.constant(people), matrices, flips, flip_index, (64, 64)).numpy()
    for p in range(3):
        alone = transform_keypoints(tf.constant(people[:, p]), matrices, flips, flip_index, (64, 64)).numpy()
        np.testing.assert_allclose(together[:, p], alone)
    np.testing.assert_allclose(together[0, 0, 1, 0], 64.0 - people[0, 0, 2, 0], rtol=1e-6)  # left eye <- right eye


def _truth() -> SampleSet:
    """Two images: two people in the first, one in the second (then a padding row)."""
    rng = np.random.default_rng(3)
    keypoints = np.zeros((2, 2, 17, 3), np.float32)
    keypoints[..., :2] = rng.uniform(20, 180, (2, 2, 17, 2))
    keypoints[..., 2] = 2
    keypoints[1, 1] = 0
    boxes = np.zeros((2, 2, 4), np.float32)
    areas = np.zeros((2, 2), np.float32)
    for i, j in ((0, 0), (0, 1), (1, 0)):
        lo, hi = keypoints[i, j, :, :2].min(0), keypoints[i, j, :, :2].max(0)
        boxes[i, j] = (*lo, *(hi - lo))
        areas[i, j] = np.prod(hi - lo)
    return SampleSet(np.zeros((2, 8, 8, 3), np.uint8), (), keypoints, boxes, areas, np.array([11, 12]))


def _scored(people: np.ndarray, score: float = 0.9) -> np.ndarray:
    out = np.array(people, np.float32, copy=True)
    out[..., 2] = score
    return out


def test_oks_ap_is_one_for_the_truth_and_falls_with_error() -> None:
    truth = _truth()
    exact = [_scored(truth.keypoints[0]), _scored(truth.keypoints[1, :1])]
    assert oks_ap(exact, truth, COCO_17.sigmas) == pytest.approx(1.0)
    shifted = [p + np.array([6.0, 0.0, 0.0], np.float32) for p in exact]
    worse = oks_ap(shifted, truth, COCO_17.sigmas)
    assert 0.0 < worse < 1.0
    missed = oks_ap([exact[0], np.zeros((0, 17, 3), np.float32)], truth, COCO_17.sigmas)
    assert missed < 0.99  # one of three people not found
    assert oks_ap([np.zeros((0, 17, 3), np.float32)] * 2, truth, COCO_17.sigmas) == 0.0


def test_a_duplicate_scored_above_the_truth_costs_precision() -> None:
    truth = _truth()
    exact = [_scored(truth.keypoints[0], 0.5), _scored(truth.keypoints[1, :1], 0.5)]
    decoy = _scored(truth.keypoints[0, :1] + np.array([40.0, 40.0, 0.0], np.float32), 0.95)
    assert oks_ap([np.concatenate([decoy, exact[0]]), exact[1]], truth, COCO_17.sigmas) < 1.0


def test_pose_agreement_pairs_people_whatever_their_order() -> None:
    truth = _truth()
    a = [truth.keypoints[0], truth.keypoints[1, :1]]
    b = [truth.keypoints[0, ::-1], truth.keypoints[1, :1] + np.array([1.0, 1.0, 0.0], np.float32)]
    assert pose_agreement(a, b, 2.0) == Agreement(keypoints=1.0, people=1.0)
    far = [a[0], a[1] + np.array([5.0, 0.0, 0.0], np.float32)]  # the third person placed 5 px off
    assert pose_agreement(a, far, 2.0) == Agreement(keypoints=pytest.approx(2 / 3), people=1.0)
    empty = [np.zeros((0, 17, 3), np.float32)] * 2
    assert pose_agreement(empty, empty, 2.0) == Agreement(keypoints=1.0, people=1.0)


def test_a_person_found_by_one_side_only_counts_against_people_not_keypoints() -> None:
    truth = _truth()
    a = [truth.keypoints[0], truth.keypoints[1, :1]]
    lost = [a[0][:1], a[1]]  # one person of the first image not found
    assert pose_agreement(a, lost, 2.0) == Agreement(keypoints=1.0, people=pytest.approx(2 / 3))
    assert pose_agreement(lost, a, 2.0) == Agreement(keypoints=1.0, people=pytest.approx(2 / 3))
    nobody = [np.zeros((0, 17, 3), np.float32)] * 2
    assert pose_agreement(a, nobody, 2.0) == Agreement(keypoints=1.0, people=0.0)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - w * h
    return w * h / union if union else 0.0
