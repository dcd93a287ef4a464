"""Part affinity fields: the encoder's targets, OpenPose's grouping of them into people,
and OpenPose's JSON output.

The decoder tests build model outputs with the encoder (confidence maps turned into
logits), so the known answer is the people that made them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from posepipe.models.codecs.paf import HEATMAPS, LIMBS, PAFS, PafDecoder, PafEncoder, openpose_json

STRIDE, SIZE = 4, (48, 48)  # a 192 x 192 input
ENCODER = PafEncoder(stride=STRIDE, size=SIZE, sigma=1.5, limb_width=1.0)
DECODER = PafDecoder(stride=STRIDE)
K = 17
LEFT_FOREARM = LIMBS.index((7, 9))  # left elbow -> left wrist
LEFT_WRIST = 9
# A standing person, facing the camera, 117 px from eyes to ankles (x, y about the hips).
TEMPLATE = np.asarray([
    (0, -52), (5, -57), (-5, -57), (11, -54), (-11, -54), (16, -38), (-16, -38), (21, -14), (-21, -14),
    (24, 8), (-24, 8), (10, 8), (-10, 8), (11, 34), (-11, 34), (12, 60), (-12, 60),
], np.float32)


def person(cx: float, cy: float, seed: int = 0) -> np.ndarray:
    """[K, 3] keypoints (x, y, visibility 2), off the cell grid by a little noise."""
    noise = np.random.default_rng(seed).normal(0.0, 1.0, (K, 2)).astype(np.float32)
    return np.concatenate([TEMPLATE + (cx, cy) + noise, np.full((K, 1), 2.0, np.float32)], axis=1)


def model_outputs(people: np.ndarray, confidence: float | np.ndarray = 1.0) -> dict[str, np.ndarray]:
    """What a perfect model outputs: the encoder's targets, confidence maps as logits."""
    targets = ENCODER.encode(people)
    p = np.clip(targets[HEATMAPS] * confidence, 1e-4, 1 - 1e-4)
    return {HEATMAPS: np.log(p / (1 - p)).astype(np.float32), PAFS: targets[PAFS]}


def owners(decoded: np.ndarray, truth: np.ndarray) -> list[int]:
    """The ground-truth person whose keypoints each decoded person's are nearest to;
    fails when one decoded person mixes keypoints of two."""
    result = []
    for pose in decoded:
        found = pose[:, 2] > 0
        distance = np.linalg.norm(pose[None, found, :2] - truth[:, found, :2], axis=-1)  # [truth, found]
        nearest = set(distance.argmin(axis=0).tolist())
        assert len(nearest) == 1, f"a decoded person mixes people {sorted(nearest)}"
        result.append(nearest.pop())
    return result


def assert_recovered(decoded: np.ndarray, truth: np.ndarray, tolerance: float = 0.5 * STRIDE) -> None:
    """One decoded person per true one, every labelled keypoint within ``tolerance`` pixels."""
    assert decoded.shape == truth.shape
    assert sorted(owners(decoded, truth)) == list(range(len(truth)))
    for pose, who in zip(decoded, owners(decoded, truth), strict=True):
        labelled = truth[who, :, 2] > 0
        assert (pose[labelled, 2] > 0).all() and (pose[~labelled] == 0).all()
        assert np.linalg.norm(pose[labelled, :2] - truth[who, labelled, :2], axis=-1).max() <= tolerance


def test_two_separated_people_are_recovered_without_mixing() -> None:
    truth = np.stack([person(50.3, 90.6, seed=1), person(141.7, 97.2, seed=2)])
    confidence = np.ones(SIZE + (1,), np.float32)
    confidence[:, 24:] = 0.7  # the right person's peaks are weaker: it must come second
    decoded = DECODER.decode(model_outputs(truth, confidence))
    assert decoded.dtype == np.float32
    assert_recovered(decoded, truth)
    assert owners(decoded, truth) == [0, 1]
    # A score is the confidence at the peak's cell, up to half a cell off the Gaussian's centre.
    assert decoded[0, :, 2].min() > 0.85 and decoded[1, :, 2].max() <= 0.7 + 1e-4


def test_sub_pixel_peaks_read_the_gaussian_centre() -> None:
    truth = np.stack([person(50.3, 90.6, seed=3), person(141.7, 97.2, seed=4)])
    refined = DECODER.decode(model_outputs(truth))
    plain = PafDecoder(stride=STRIDE, sub_pixel=False).decode(model_outputs(truth))
    assert_recovered(refined, truth, tolerance=0.1 * STRIDE)  # a log-parabola is exact on a Gaussian
    assert_recovered(plain, truth, tolerance=0.75 * STRIDE)  # the cell centre: up to half a cell each way
    assert np.abs(plain[:, :, :2] - truth[owners(plain, truth), :, :2]).max() > 0.25 * STRIDE


def crossing_forearm() -> np.ndarray:
    """The left person's left arm reaches across the right person's shoulder-hip line
    and passes within a cell of its left elbow."""
    left, right = person(76.2, 92.4, seed=5), person(116.6, 96.3, seed=6)
    left[7, :2], left[9, :2] = (106.3, 62.2), (142.4, 88.1)
    return np.stack([left, right])


@pytest.mark.parametrize("truth", [
    np.stack([person(86.1, 92.3, seed=7), person(106.6, 98.2, seed=8)]),  # arms interleaved, upper arms crossing
    np.stack([person(88.4, 90.2, seed=9), person(104.9, 90.7, seed=10)]),  # 4 cells apart, side by side
    crossing_forearm(),
], ids=["interleaved", "side-by-side", "crossing-forearm"])
def test_overlapping_people_are_assembled_correctly(truth: np.ndarray) -> None:
    assert_recovered(DECODER.decode(model_outputs(truth)), truth)


def test_a_limb_without_paf_support_leaves_its_keypoint_missing() -> None:
    truth = np.stack([person(50.3, 90.6, seed=11), person(141.7, 97.2, seed=12)])
    outputs = model_outputs(truth)
    outputs[PAFS][:, :24, 2 * LEFT_FOREARM : 2 * LEFT_FOREARM + 2] = 0.0  # the left person's only
    col, row = np.rint(truth[0, LEFT_WRIST, :2] / STRIDE).astype(int)
    assert outputs[HEATMAPS][row, col, LEFT_WRIST] > 0  # its wrist is still a peak
    expected = truth.copy()
    expected[0, LEFT_WRIST] = 0.0  # (0, 0, 0): missing; the right person's forearm is supported
    assert_recovered(DECODER.decode(outputs), expected)


def test_an_unlabelled_wrist_is_reported_missing() -> None:
    truth = np.stack([person(50.3, 90.6, seed=13), person(141.7, 97.2, seed=14)])
    truth[0, LEFT_WRIST] = 0.0
    decoded = DECODER.decode(model_outputs(truth))
    assert_recovered(decoded, truth)
    assert (decoded[owners(decoded, truth).index(0), LEFT_WRIST] == 0).all()


def test_paf_targets_are_unit_vectors_on_the_limb_and_zero_off_it() -> None:
    encoder = PafEncoder(stride=1, size=(12, 14), sigma=1.0, limb_width=1.0, limbs=((0, 1), (1, 2)))
    horizontal = [(2.0, 5.0, 2), (9.0, 5.0, 2), (0.0, 0.0, 0)]  # limb 1 has an unlabelled end: no field
    diagonal = [(1.0, 1.0, 1), (7.0, 9.0, 1), (0.0, 0.0, 0)]  # unit vector (0.6, 0.8)
    padding = [(0.0, 0.0, 0)] * 3
    paf = encoder.encode(np.asarray([horizontal, padding], np.float32))[PAFS]
    assert paf.shape == (12, 14, 4) and paf.dtype == np.float32
    expected = np.zeros((12, 14), bool)
    expected[4:7, 2:10] = True  # within one cell of the segment, between its ends
    expected[5, 1] = expected[5, 10] = True  # and one cell past each end, along it
    assert np.array_equal(paf[..., 0] == 1.0, expected)
    assert not paf[..., 1].any() and not paf[~expected].any()
    paf = encoder.encode(np.asarray([diagonal], np.float32))[PAFS]
    on = np.abs(paf[..., :2]).sum(axis=-1) > 0
    assert on[1, 1] and on[9, 7] and on[5, 4] and not on[1, 7] and not on[9, 1]
    assert np.allclose(paf[on][:, :2], (0.6, 0.8)) and not paf[..., 2:].any()


def test_overlapping_limbs_average_and_confidence_maps_merge_by_maximum() -> None:
    encoder = PafEncoder(stride=1, size=(12, 14), sigma=1.0, limb_width=1.0, limbs=((0, 1),))
    horizontal = [(2.0, 5.0, 2), (9.0, 5.0, 2)]
    vertical = [(5.0, 1.0, 2), (5.0, 9.0, 2)]
    parallel = [(4.0, 6.0, 2), (11.0, 6.0, 2)]
    paf = encoder.encode(np.asarray([horizontal, vertical], np.float32))[PAFS]
    assert np.allclose(paf[5, 5], (0.5, 0.5)) and np.allclose(paf[5, 8], (1.0, 0.0)) and np.allclose(paf[2, 5], (0, 1))
    targets = encoder.encode(np.asarray([horizontal, parallel], np.float32))
    assert np.allclose(targets[PAFS][5:7, 4:10], (1.0, 0.0))  # two parallel limbs: still unit length
    heatmaps = targets[HEATMAPS]
    assert heatmaps.shape == (12, 14, 2) and heatmaps.max() == 1.0
    assert heatmaps[5, 2, 0] == 1.0 and heatmaps[6, 4, 0] == 1.0
    assert np.isclose(heatmaps[5, 3, 0], np.exp(-0.5))  # max(e^-1/2, e^-1), not their sum


def hand_made(size: tuple[int, int], peaks: list[list[tuple[int, int]]], pafs: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs with confident peaks (logit 20: a sigmoid of exactly 1.0 in float32) at
    the given cells (x, y) of each keypoint, -10 elsewhere."""
    logits = np.full(size + (len(peaks),), -10.0, np.float32)
    for k, cells in enumerate(peaks):
        for x, y in cells:
            logits[y, x, k] = 20.0
    return {HEATMAPS: logits, PAFS: pafs.astype(np.float32)}


def along(size: tuple[int, int], a: tuple[int, int], b: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """A one-limb PAF of ``scale`` times the unit vector a -> b on every cell."""
    unit = np.subtract(b, a) / np.linalg.norm(np.subtract(b, a))
    return np.broadcast_to(scale * unit, size + (2,)).copy()


def test_the_distance_prior_rejects_a_long_weakly_supported_limb() -> None:
    """A limb longer than half the map pays min(0.5 H / length - 1, 0): with a PAF of
    0.5 along it, 10 cells score 0.5, the 49.5-cell diagonal 0.5 + 0.404 - 1 < 0."""
    decoder = PafDecoder(stride=1, limbs=((0, 1),), min_parts=2)
    short = decoder.decode(hand_made((40, 40), [[(2, 2)], [(8, 10)]], along((40, 40), (2, 2), (8, 10), 0.5)))
    assert short.shape == (1, 2, 3) and np.allclose(short[0, :, :2], [(2, 2), (8, 10)])
    long = hand_made((40, 40), [[(2, 2)], [(37, 37)]], along((40, 40), (2, 2), (37, 37), 0.5))
    assert decoder.decode(long).shape == (0, 2, 3)


@pytest.mark.parametrize(("supported", "found"), [(1.0, 1), (0.4, 0)])
def test_a_limb_needs_paf_support_along_most_of_its_length(supported: float, found: int) -> None:
    """Full strength on 40% of the segment averages 0.4 > 0, but only 4 of the 10
    samples count: not a limb."""
    pafs = along((40, 40), (2, 20), (32, 20))
    pafs[:, int(2 + supported * 30) + 1 :] = 0.0
    outputs = hand_made((40, 40), [[(2, 20)], [(32, 20)]], pafs)
    assert len(PafDecoder(stride=1, limbs=((0, 1),), min_parts=2).decode(outputs)) == found


def test_people_sharing_a_keypoint_type_are_not_merged_by_a_stray_connection() -> None:
    """Two 3-keypoint people; the third limb's field joins the left one's keypoint 0 to
    the right one's keypoint 2, whose person already has a keypoint 0."""
    limbs = ((0, 1), (1, 2), (0, 2))
    encoder = PafEncoder(stride=1, size=(40, 40), sigma=1.0, limb_width=1.0, limbs=limbs)
    left = [(5.0, 5.0, 2), (5.0, 15.0, 2), (5.0, 25.0, 2)]
    right = [(30.0, 5.0, 2), (30.0, 15.0, 2), (30.0, 25.0, 2)]
    targets = encoder.encode(np.asarray([left, right], np.float32))
    stray = encoder.encode(np.asarray([[left[0], (0.0, 0.0, 0), right[2]]], np.float32))[PAFS]
    targets[PAFS][..., 4:] = stray[..., 4:]  # limb (0, 2): only the stray connection
    peaks = [[(5, 5), (30, 5)], [(5, 15), (30, 15)], [(5, 25), (30, 25)]]
    decoded = PafDecoder(stride=1, limbs=limbs).decode(hand_made((40, 40), peaks, targets[PAFS]))
    assert decoded.shape == (2, 3, 3)
    assert sorted(decoded[:, 0, 0].tolist()) == [5.0, 30.0]
    assert all(len(set(pose[:, 0].tolist())) == 1 for pose in decoded)  # each person in one column


def test_a_flat_topped_peak_is_one_keypoint() -> None:
    """Keypoint 1 saturates on two cells; keypoint 0 lines up with the first, keypoint 2
    with the second. Taken as two peaks, each limb picks its own and the person splits."""
    limbs = ((0, 1), (1, 2))
    pafs = np.concatenate([along((40, 40), (10, 10), (10, 20)), along((40, 40), (11, 20), (11, 30))], axis=-1)
    outputs = hand_made((40, 40), [[(10, 10)], [(10, 20), (11, 20)], [(11, 30)]], pafs)
    decoded = PafDecoder(stride=1, limbs=limbs, min_parts=2, sub_pixel=False).decode(outputs)
    assert decoded.shape == (1, 3, 3)
    assert np.array_equal(decoded[0, :, :2], [(10, 10), (10, 20), (11, 30)])


def test_the_higher_logit_is_the_peak_even_where_the_sigmoid_saturates() -> None:
    """sigmoid(20) and sigmoid(25) are both exactly 1.0 in float32: a flat top to the
    confidence, but not to its log."""
    pafs = along((40, 40), (11, 10), (11, 20))
    outputs = hand_made((40, 40), [[(11, 10)], [(10, 20), (11, 20)]], pafs)
    outputs[HEATMAPS][20, 11, 1] = 25.0
    decoded = PafDecoder(stride=1, limbs=((0, 1),), min_parts=2, sub_pixel=False).decode(outputs)
    assert np.array_equal(decoded[:, 1, :2], [(11, 20)])


def test_openpose_json_writes_each_person_flat_with_missing_as_zeros() -> None:
    poses = np.zeros((2, K, 3), np.float32)
    poses[0] = np.arange(K * 3, dtype=np.float32).reshape(K, 3) + 1
    poses[1, :, :2], poses[1, :, 2] = (10.5, 20.25), 0.5
    poses[1, 3] = (7.0, 8.0, 0.0)  # no score: missing, whatever its position says
    document = json.loads(json.dumps(openpose_json(poses)))
    assert document["version"] == 1.3 and len(document["people"]) == 2
    first, second = document["people"]
    assert first["person_id"] == [-1]
    for key in ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d", "pose_keypoints_3d"):
        assert first[key] == []
    assert first["pose_keypoints_2d"] == [float(v) for v in range(1, 3 * K + 1)]
    flat = second["pose_keypoints_2d"]
    assert len(flat) == 3 * K and flat[9:12] == [0.0, 0.0, 0.0] and flat[:3] == [10.5, 20.25, 0.5]
    assert openpose_json(np.zeros((0, K, 3), np.float32)) == {"version": 1.3, "people": []}


def test_nothing_found_is_an_empty_array() -> None:
    empty = {HEATMAPS: np.full(SIZE + (K,), -10.0, np.float32), PAFS: np.zeros(SIZE + (2 * len(LIMBS),), np.float32)}
    decoded = DECODER.decode(empty)
    assert decoded.shape == (0, K, 3) and decoded.dtype == np.float32
    peaks_only = model_outputs(person(96.0, 96.0)[None])
    peaks_only[PAFS][:] = 0.0  # peaks everywhere a person is, but nothing joins them
    assert DECODER.decode(peaks_only).shape == (0, K, 3)
    two_parts = np.zeros((1, K, 3), np.float32)
    two_parts[0, 7], two_parts[0, 9] = (80.0, 80.0, 2), (90.0, 110.0, 2)  # one limb: fewer than min_parts
    assert DECODER.decode(model_outputs(two_parts)).shape == (0, K, 3)
    assert len(PafDecoder(stride=STRIDE, min_parts=2).decode(model_outputs(two_parts))) == 1
