"""PoseNet targets and multi-pose decoding: hand-made outputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from posepipe.models.codecs.posenet import (
    BWD,
    FWD,
    HEATMAP,
    OFFSET,
    POSE_CHAIN,
    PoseNetDecoder,
    PoseNetEncoder,
    grid_size,
)
from posepipe.models.keypoints import COCO_17

K, E, STRIDE = 17, 16, 8
ENCODER = PoseNetEncoder(stride=STRIDE, size=(24, 32), radius=16.0)
# A standing person, (x, y) in input pixels, COCO_17 order; about 40 x 120 px.
BODY = np.asarray([
    (50, 20), (54, 16), (46, 16), (58, 18), (42, 18), (62, 40), (38, 40), (68, 60), (32, 60),
    (70, 80), (30, 80), (58, 85), (42, 85), (58, 110), (42, 110), (58, 135), (42, 135),
], np.float32)


def person(dx: float, dy: float = 0.0, seed: int = 0, missing: tuple[int, ...] = ()) -> np.ndarray:
    """BODY moved by (dx, dy) with sub-pixel jitter, so offsets are never whole cells."""
    xy = BODY + (dx, dy) + np.random.default_rng(seed).uniform(-1.5, 1.5, BODY.shape)
    vis = np.full((K, 1), 2.0, np.float32)
    vis[list(missing)] = 0.0
    return np.concatenate([xy, vis], axis=1).astype(np.float32)


def outputs(people: list[np.ndarray], logits: tuple[float, ...]) -> dict[str, np.ndarray]:
    """A perfect model's outputs: each person's disks at its own logit, -8 elsewhere; NaN -> 0."""
    targets = ENCODER.encode(np.stack(people))
    heatmap = np.full(targets[HEATMAP].shape, -8.0, np.float32)
    for one, logit in zip(people, logits, strict=True):
        heatmap = np.where(ENCODER.encode(one[None])[HEATMAP] > 0, np.maximum(heatmap, logit), heatmap)
    return {name: np.nan_to_num(t) for name, t in targets.items()} | {HEATMAP: heatmap}


def matches(decoded: np.ndarray, truth: np.ndarray, atol: float = 0.5) -> bool:
    labelled = truth[:, 2] > 0
    return bool(np.abs(decoded[labelled, :2] - truth[labelled, :2]).max() <= atol)


def test_the_chain_is_posenets_tree_over_coco_17() -> None:
    names = COCO_17.names
    assert len(POSE_CHAIN) == E and POSE_CHAIN[0] == (names.index("nose"), names.index("left_eye"))
    assert sorted(c for _, c in POSE_CHAIN) == list(range(1, K))  # every keypoint but the nose, once
    assert (names.index("right_knee"), names.index("right_ankle")) == POSE_CHAIN[-1]
    assert grid_size((192, 256), 8) == (24, 32) and grid_size((257, 257), 16) == (17, 17)
    with pytest.raises(ValueError, match="tree"):
        PoseNetDecoder(stride=8, edges=((1, 2), (0, 1)))  # a child before its parent


def test_round_trip_two_separated_people_ordered_by_pose_score() -> None:
    # The armless person has the stronger peaks, so it is decoded first, but the whole one scores higher.
    armless, whole = person(0, seed=1, missing=(7, 8, 9, 10)), person(130, seed=2)
    poses = PoseNetDecoder(stride=STRIDE).decode(outputs([armless, whole], logits=(8.0, 3.0)))
    assert poses.shape == (2, K, 3) and poses.dtype == np.float32
    assert matches(poses[0], whole) and matches(poses[1], armless)
    assert poses[0, :, 2].mean() > poses[1, :, 2].mean() > 0.7


def test_a_root_at_a_leaf_walks_up_the_tree_with_the_backward_displacements() -> None:
    truth = person(20, seed=11)
    out = outputs([truth], logits=(8.0,))
    inside = out[HEATMAP] > 0  # the right ankle is the only keypoint above score_threshold: the only root
    out[HEATMAP] = np.where(inside, -0.5, -8.0).astype(np.float32)
    out[HEATMAP][inside[..., 16], 16] = 8.0
    (pose,) = PoseNetDecoder(stride=STRIDE).decode(out)
    assert matches(pose, truth) and pose[16, 2] > 0.99 and np.allclose(pose[:16, 2], 1 / (1 + np.exp(0.5)))


def test_overlapping_people_are_both_recovered_without_identity_swaps() -> None:
    a, b = person(0, seed=3), person(28, 6, seed=4)  # same keypoints ~29 px apart, 16 px disks: they overlap
    assert (np.linalg.norm(a[:, :2] - b[:, :2], axis=1) < 2 * ENCODER.radius).all()
    poses = PoseNetDecoder(stride=STRIDE).decode(outputs([a, b], logits=(8.0, 8.0)))
    assert len(poses) == 2
    owners = {next(i for i, truth in enumerate((a, b)) if matches(pose, truth)) for pose in poses}
    assert owners == {0, 1}  # each pose is wholly one person, every keypoint within 0.5 px


def test_a_missing_limb_scores_low_and_the_rest_is_exact() -> None:
    truth = person(20, seed=5, missing=(7, 9))  # left elbow and wrist unlabelled
    decoder = PoseNetDecoder(stride=STRIDE)
    (pose,) = decoder.decode(outputs([truth], logits=(8.0,)))
    assert (pose[[7, 9], 2] < decoder.score_threshold).all()
    others = np.setdiff1d(np.arange(K), [7, 9])
    assert (pose[others, 2] > 0.99).all() and matches(pose[others], truth[others])


def test_a_duplicate_root_near_a_found_person_adds_no_pose() -> None:
    truth = person(20, seed=6)
    out = outputs([truth], logits=(8.0,))
    # A second nose peak three cells right of the nose, its offset pointing 12 px from the nose.
    nose = truth[0, :2]
    i, j = int(round(nose[1] / STRIDE)), int(round(nose[0] / STRIDE)) + 3
    out[HEATMAP][i, j, 0] = 6.0
    out[OFFSET][i, j, 0], out[OFFSET][i, j, K] = nose[1] - i * STRIDE, nose[0] + 12 - j * STRIDE
    assert len(PoseNetDecoder(stride=STRIDE).decode(out)) == 1
    loose = PoseNetDecoder(stride=STRIDE, nms_radius=5.0, pose_threshold=0.0).decode(out)
    assert len(loose) == 2 and abs(loose[1, 0, 0] - nose[0] - 12) < 1e-3  # the duplicate is a real root


def test_pose_threshold_and_max_poses() -> None:
    few = person(60, seed=7, missing=tuple(range(3, K)))  # three keypoints: pose score ~3/17
    people = [person(0, seed=8), few, person(120, seed=9), person(180, seed=10)]  # 60 px apart
    out = outputs(people, logits=(8.0, 8.0, 6.0, 4.0))
    poses = PoseNetDecoder(stride=STRIDE).decode(out)
    assert len(poses) == 3 and not any(matches(p, few) for p in poses)
    assert len(PoseNetDecoder(stride=STRIDE, pose_threshold=0.1).decode(out)) == 4
    two = PoseNetDecoder(stride=STRIDE, max_poses=2).decode(out)
    assert len(two) == 2 and matches(two[0], people[0]) and matches(two[1], people[2])  # the two strongest


def test_a_root_whose_walk_lands_on_a_found_person_scores_only_its_own_keypoints() -> None:
    truth = person(20, seed=12)
    out = outputs([truth], logits=(8.0,))
    i, j = 2, 1  # a spurious nose 40+ px from the real one, its displacements pointing at the real person
    out[HEATMAP][i, j, 0], out[OFFSET][i, j, [0, K]] = 8.0, 0.0
    for edge in (0, 2, 4, 10):  # the nose's four children
        child = truth[POSE_CHAIN[edge][1]]
        out[FWD][i, j, [edge, E + edge]] = child[1] - i * STRIDE, child[0] - j * STRIDE
    assert len(PoseNetDecoder(stride=STRIDE).decode(out)) == 1
    both = PoseNetDecoder(stride=STRIDE, pose_threshold=0.0).decode(out)
    assert len(both) == 2 and matches(both[1, 1:], truth[1:])  # the walk did land on the real person


def test_only_local_maxima_are_roots() -> None:
    out = outputs([person(0)], logits=(-8.0,))  # vectors of a person, but no heatmap peaks
    out[HEATMAP][5, 5, 0], out[HEATMAP][5, 6, 0] = 8.0, 6.0  # a peak and its shoulder...
    out[OFFSET][5, 6, K] = 30.0  # ...whose offset points beyond nms_radius of the peak
    poses = PoseNetDecoder(stride=STRIDE, pose_threshold=0.0).decode(out)
    assert len(poses) == 1 and poses[0, 0, 2] > 0.99


def test_nobody_decodes_to_an_empty_array() -> None:
    out = outputs([person(0)], logits=(8.0,)) | {HEATMAP: np.full((24, 32, K), -8.0, np.float32)}
    poses = PoseNetDecoder(stride=STRIDE).decode(out)
    assert poses.shape == (0, K, 3) and poses.dtype == np.float32
    assert ENCODER.encode(np.zeros((0, K, 3), np.float32))[HEATMAP].sum() == 0


def test_offsets_are_y_then_x_inside_the_disk_and_nan_outside() -> None:
    kp = np.zeros((1, K, 3), np.float32)
    kp[0, 3] = (61.0, 45.5, 1)  # left ear only
    t = ENCODER.encode(kp)
    assert {n: a.shape for n, a in t.items()} == {HEATMAP: (24, 32, K), OFFSET: (24, 32, 2 * K),
                                                   FWD: (24, 32, 2 * E), BWD: (24, 32, 2 * E)}
    i, j = np.mgrid[:24, :32]
    disk = (61.0 - j * STRIDE) ** 2 + (45.5 - i * STRIDE) ** 2 <= 16.0**2
    assert disk.sum() >= 9 and (t[HEATMAP][..., 3] == disk).all() and t[HEATMAP].sum() == disk.sum()
    np.testing.assert_allclose(t[OFFSET][disk, 3], (45.5 - i * STRIDE)[disk])
    np.testing.assert_allclose(t[OFFSET][disk, K + 3], (61.0 - j * STRIDE)[disk])
    assert np.isnan(t[OFFSET][~disk][:, [3, K + 3]]).all() and np.isnan(np.delete(t[OFFSET], [3, K + 3], -1)).all()
    assert np.isnan(t[FWD]).all() and np.isnan(t[BWD]).all()  # no edge has both ends labelled


def test_displacements_per_edge_fwd_in_the_parent_disk_bwd_in_the_child_disk() -> None:
    kp = np.zeros((1, K, 3), np.float32)
    kp[0, 5], kp[0, 7] = (60.0, 50.0, 2), (75.0, 90.0, 2)  # left shoulder -> left elbow: edge 5
    edge = POSE_CHAIN.index((5, 7))
    t = ENCODER.encode(kp)
    i, j = np.mgrid[:24, :32] * STRIDE
    for name, (sx, sy), (tx, ty) in ((FWD, (60, 50), (75, 90)), (BWD, (75, 90), (60, 50))):
        disk = (sx - j) ** 2 + (sy - i) ** 2 <= 16.0**2
        np.testing.assert_allclose(t[name][disk, edge], (ty - i)[disk])
        np.testing.assert_allclose(t[name][disk, E + edge], (tx - j)[disk])
        assert np.isnan(t[name][~disk][:, [edge, E + edge]]).all()
        assert np.isnan(np.delete(t[name], [edge, E + edge], -1)).all()


def test_the_nearer_keypoint_owns_an_overlap() -> None:
    kp = np.zeros((2, K, 3), np.float32)
    kp[0, 0], kp[1, 0] = (40.0, 40.0, 2), (60.0, 40.0, 2)  # two noses 20 px apart
    t = ENCODER.encode(kp)
    assert t[OFFSET][5, 6, K] == 40.0 - 48  # x=48 is nearer 40
    assert t[OFFSET][5, 7, K] == 60.0 - 56  # x=56 is nearer 60


def test_positions_are_clipped_to_the_input() -> None:
    out = outputs([person(0)], logits=(-8.0,))
    out[HEATMAP][0, 0, 0] = 8.0  # one root: a nose in the top-left cell...
    out[OFFSET][:] = np.where(np.arange(2 * K) == 0, -50.0, 50.0)  # ...pushed 50 px up (y) and right (x)
    out[FWD][:], out[BWD][:] = 1000.0, -1000.0  # every limb 1000 px down and right
    (pose,) = PoseNetDecoder(stride=STRIDE, pose_threshold=0.0).decode(out)
    assert tuple(pose[0, :2]) == (50.0, 0.0)
    assert (pose[1:, :2] == (32 * STRIDE - 1, 24 * STRIDE - 1)).all()  # the grid's extent, 256 x 192 px
