"""PCK, agreement and the comparators, on numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posepipe.models.formats import Precision
from posepipe.models.keypoints import COCO_17
from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES
from posepipe.models.spec import Tolerance
from posepipe.validators.accuracy.compare import compare_names, compare_output
from posepipe.validators.accuracy.metrics import agreement, pck, torso_sizes
from posepipe.validators.accuracy.task import TaskMetric
from posepipe.validators.validate import TaskMetrics

STRICT = Tolerance(atol=1e-3, rtol=0.0, min_cosine=0.999, min_snr_db=40.0, min_agreement=1.0, max_pck_drop=0.0)


def person(torso: float) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    kp[:, 2] = 2
    kp[5, :2] = (0, 0)
    kp[12, :2] = (0, torso)
    return kp


def test_torso_size_uses_the_first_labelled_diagonal() -> None:
    a = person(10.0)
    b = person(10.0)
    b[5, 2] = 0  # left shoulder unlabelled: fall back to right shoulder - left hip
    b[6, :2], b[11, :2] = (0, 0), (0, 4)
    c = person(10.0)
    c[[5, 6], 2] = 0
    sizes = torso_sizes(np.stack([a, b, c]), COCO_17)
    assert sizes[0] == 10 and sizes[1] == 4 and math.isnan(sizes[2])


def test_pck_counts_labelled_keypoints_within_alpha_torso() -> None:
    truth = person(10.0)[None]
    truth[0, 3, 2] = 0  # unlabelled: not counted
    predicted = truth.copy()
    predicted[0, 0, 0] += 1.9  # within 0.2 x 10
    predicted[0, 1, 0] += 2.1  # outside
    predicted[0, 3, 0] += 50  # unlabelled, ignored
    assert pck(predicted, truth, np.array([10.0])) == pytest.approx(15 / 16)
    assert math.isnan(pck(predicted, truth, np.array([np.nan])))


def test_agreement_is_the_share_within_radius() -> None:
    a = np.zeros((2, 17, 3))
    b = a.copy()
    b[0, :4, 0] = 3.0
    assert agreement(a, b, radius=2.0) == pytest.approx(30 / 34)


def test_identical_outputs_pass_with_infinite_snr() -> None:
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3))
    result = compare_output("hm", x, x.copy(), STRICT)
    assert result.passed and result.snr_db == math.inf and result.cosine == pytest.approx(1.0)


def test_a_shape_mismatch_fails_before_values() -> None:
    result = compare_output("hm", np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 3, 8)), STRICT)
    assert result.failures == ("hm: shape (8, 3, 8), reference (8, 8, 3)",)


def test_elementwise_cosine_and_snr_breaches_are_all_reported() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(2, 4, 4, 1))
    out = ref.copy()
    out[1, 2, 3, 0] += 5.0
    result = compare_output("hm", ref, out, STRICT)
    assert not result.passed
    assert result.failures[0] == "hm: 1 of 32 values outside atol 0.001 + rtol 0 (max abs error 5 at (1, 2, 3, 0))"
    assert any("cosine" in f for f in result.failures) and any("SNR" in f for f in result.failures)


def test_nan_outputs_fail() -> None:
    out = np.zeros((1, 2, 2, 1))
    out[0, 0, 0, 0] = np.nan
    result = compare_output("hm", np.zeros((1, 2, 2, 1)), out, STRICT)
    assert result.failures == ("hm: output has NaN or infinite values",)


def test_missing_and_extra_outputs_are_named() -> None:
    assert compare_names({"a": 0, "b": 0}, {"a": 0, "c": 0}) == [
        "output 'b' is missing", "output 'c' is not in the reference"]


COSINE_ONLY = Tolerance(atol=None, rtol=0.0, min_cosine=0.99, min_snr_db=None, min_agreement=0.5, max_pck_drop=1.0)


def _with_a_quiet_sample(seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Seven samples of unit-size values and one nearly empty (an image with nobody in
    it), all rounded to the same int8-like step: the error is the same size everywhere."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(8, 6, 6, 4))
    ref[3] *= 0.03
    step = 8.0 / 255
    return ref, np.round(ref / step) * step


def _plain_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def test_a_quiet_sample_is_held_to_a_median_samples_error() -> None:
    ref, out = _with_a_quiet_sample()
    assert _plain_cosine(ref[3], out[3]) < 0.95  # the same rounding, a wide angle on a near-empty sample
    assert min(_plain_cosine(ref[i], out[i]) for i in range(8) if i != 3) > 0.9999
    result = compare_output("pafs", ref, out, COSINE_ONLY)
    assert result.passed, result.failures
    assert result.cosine > 0.9999


def test_garbage_on_a_quiet_sample_still_fails() -> None:
    ref, out = _with_a_quiet_sample()
    out[3] = np.random.default_rng(3).normal(size=out[3].shape) * 0.3  # a third of a typical sample's size
    result = compare_output("pafs", ref, out, COSINE_ONLY)
    assert not result.passed and result.failures[0].startswith("pafs: cosine 0.9")
    assert result.failures[0].endswith(" < 0.99 (worst: sample 3)") and result.worst_sample == 3


def test_a_loud_sample_keeps_its_plain_cosine() -> None:
    ref, out = _with_a_quiet_sample()
    out[5] = ref[5] + np.random.default_rng(4).normal(size=ref[5].shape) * 0.2
    result = compare_output("pafs", ref, out, COSINE_ONLY)
    assert result.cosine == pytest.approx(_plain_cosine(ref[5], out[5])) and result.worst_sample == 5
    assert not result.passed


def test_people_found_by_one_decoding_only_fail_on_their_own_line() -> None:
    fp16 = DEFAULT_TOLERANCES[Precision.FP16]
    found = TaskMetrics(TaskMetric.OKS_AP, 0.2, 0.2, 0.0, agreement=0.995, agreement_px=2.0, people=0.98)
    assert found.failures(fp16) == ["people agreement 98.00% < 99% (people both decodings found)"]
    assert found.to_json()["people_agreement"] == 0.98
    crop = TaskMetrics(TaskMetric.PCK, 0.7, 0.7, 0.0, agreement=0.995, agreement_px=2.0)
    assert crop.failures(fp16) == [] and "people_agreement" not in crop.to_json()
