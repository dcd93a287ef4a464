"""PCKh@0.5 and the bottom-up PCK fallback on hand-made keypoints with known answers,
and the manifest's task block carrying PCKh beside the main metric."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posepipe.calibration.preprocess import CropTransform
from posepipe.calibration.samples import SampleSet
from posepipe.models.keypoints import AIC_14, COCO_17, LSP_14, MPII_16
from posepipe.models.spec import Topology
from posepipe.pipeline.manifest.records import task_from_json
from posepipe.validators.accuracy.metrics import head_sizes, matched, pck, pckh
from posepipe.validators.accuracy.task import TaskMetric, task_for
from posepipe.validators.validate import TaskMetrics

HEAD_TOP, NECK = AIC_14.names.index("head_top"), AIC_14.names.index("neck")


def _person(head: float = 10.0) -> np.ndarray:
    """An AIC-14 person: keypoint i at (10 i, 100), head_top ``head`` px above the neck."""
    truth = np.zeros((14, 3), np.float32)
    truth[:, 0], truth[:, 1], truth[:, 2] = np.arange(14) * 10.0, 100.0, 2
    truth[HEAD_TOP, :2] = truth[NECK, :2] - (0.0, head)
    return truth


def test_head_size_is_the_head_top_neck_distance_where_both_are_labelled() -> None:
    a, b, c = _person(10.0), _person(24.0), _person(10.0)
    c[NECK, 2] = 0  # neck unlabelled: no head size for this sample
    sizes = head_sizes(np.stack([a, b, c]), AIC_14)
    assert sizes[:2] == pytest.approx([10.0, 24.0]) and np.isnan(sizes[2])
    mpii = np.zeros((1, 16, 3), np.float32)
    mpii[0, 8] = (50, 40, 2)  # upper_neck
    mpii[0, 9] = (50, 10, 1)  # head_top, labelled but hidden: still counts
    assert head_sizes(mpii, MPII_16)[0] == pytest.approx(30.0)
    assert np.isnan(head_sizes(np.zeros((2, 17, 3)), COCO_17)).all()  # COCO has no head segment


def test_pckh_counts_keypoints_within_half_the_head_size() -> None:
    truth = _person(10.0)[None]  # head size 10: within 5 px counts
    predicted = truth.copy()
    shifts = {0: 4.9, 1: 5.0, 2: 5.1, 3: 12.0}  # hit, hit (on the bound), miss, miss
    for i, dx in shifts.items():
        predicted[0, i, 0] += dx
    truth[0, 4, 2] = 0  # an unlabelled keypoint is not counted, wherever it was predicted
    predicted[0, 4, 0] += 100
    assert pckh(predicted, truth, AIC_14) == pytest.approx(11 / 13)  # 13 labelled, 2 missed
    assert pckh(predicted, truth, AIC_14, alpha=1.1) == pytest.approx(12 / 13)  # 11 px: only the 12 px misses
    assert math.isnan(pckh(predicted[..., :17], np.zeros((1, 17, 3)), COCO_17))


def test_pckh_leaves_out_samples_without_a_head_size() -> None:
    good, headless = _person(10.0), _person(10.0)
    headless[HEAD_TOP, 2] = 0
    predicted = np.stack([good, headless + (100.0, 0.0, 0.0)])  # the headless sample is all wrong
    assert pckh(predicted, np.stack([good, headless]), AIC_14) == pytest.approx(1.0)


def _samples(people: np.ndarray) -> SampleSet:
    n = len(people)
    identity = tuple(CropTransform((0.0, 0.0), 1.0) for _ in range(n))
    return SampleSet(np.zeros((n, 4, 4, 3), np.uint8), identity, people, np.zeros((n, people.shape[1], 4)),
                     np.ones((n, people.shape[1])), np.arange(1, n + 1))


def test_bottom_up_pairs_people_before_pck() -> None:
    """Two LSP people found in the other order still score 1; a missed person's
    keypoints all count as misses; an extra pose costs nothing (PCK has no
    false positives) and a padding row (no labelled keypoint) is nobody."""
    first = np.zeros((14, 3), np.float32)
    first[:, :2], first[:, 2] = np.stack([np.arange(14) * 5.0, np.arange(14) * 7.0], axis=1), 2
    second = first + (200.0, 0.0, 0.0)
    people = np.stack([first, second, np.zeros_like(first)])[None]  # [1 image, 3 slots, 14, 3]
    swapped = [np.stack([second, first, first + (500.0, 0.0, 0.0)])]
    poses, truth = matched(swapped, people)
    assert len(truth) == 2 and np.allclose(poses, truth[..., :2])
    task = task_for(Topology.BOTTOM_UP, LSP_14)
    assert task.metric is TaskMetric.PCK  # LSP has no OKS constants
    assert task.score(_samples(people), swapped, LSP_14) == pytest.approx(1.0)
    assert task.score(_samples(people), [second[None]], LSP_14) == pytest.approx(0.5)
    assert task.head_score(_samples(people), [second[None]], LSP_14) == pytest.approx(0.5)
    assert task_for(Topology.BOTTOM_UP, AIC_14).metric is TaskMetric.OKS_AP  # AIC has them
    assert task_for(Topology.BOTTOM_UP).metric is TaskMetric.OKS_AP


def test_top_down_head_score_is_pckh_or_none() -> None:
    truth = _person(10.0)[None]
    predicted = truth.copy()
    predicted[0, :7, 0] += 6.0  # half of them past 5 px, all within PCK@0.2's torso bound
    task = task_for(Topology.TOP_DOWN, AIC_14)
    samples = _samples(truth[:, None])
    samples = SampleSet(samples.pixels, samples.transforms, truth, samples.bboxes, samples.areas, samples.image_ids)
    assert task.head_score(samples, predicted, AIC_14) == pytest.approx(0.5)
    assert task.score(samples, predicted, AIC_14) == pytest.approx(pck(predicted, truth, np.array([100.0])))
    assert task.head_score(samples, np.zeros((1, 17, 3)), COCO_17) is None


def test_task_block_carries_pckh_and_reads_back() -> None:
    metrics = TaskMetrics(TaskMetric.PCK, 0.8, 0.75, -5.0, 0.9, 2.0, pckh=0.6, pckh_reference=0.65)
    block = metrics.to_json()
    assert block["pckh"] == 0.6 and block["pckh_reference"] == 0.65 and block["pckh_delta"] == pytest.approx(-5.0)
    assert task_from_json(block) == metrics
    plain = TaskMetrics(TaskMetric.PCK, 0.8, 0.75, -5.0, 0.9, 2.0)
    assert "pckh" not in plain.to_json() and task_from_json(plain.to_json()) == plain
