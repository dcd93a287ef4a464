"""Heatmap targets and their decoding are inverses, to the refinement's precision."""

from __future__ import annotations

import numpy as np

from posepipe.models.codecs.heatmaps import HeatmapDecoder, HeatmapEncoder, Refinement


def keypoints(points: list[tuple[float, float, int]]) -> np.ndarray:
    return np.asarray([points], np.float32)


def test_a_target_peaks_where_the_keypoint_is() -> None:
    encoder = HeatmapEncoder("hm", stride=4, size=(16, 16), sigma=1.5)
    target = encoder.encode(keypoints([(20.0, 36.0, 2), (0.0, 0.0, 0)]))["hm"]
    assert target.shape == (16, 16, 2)
    assert np.unravel_index(target[..., 0].argmax(), (16, 16)) == (9, 5)
    assert target[9, 5, 0] == 1.0
    assert not target[..., 1].any()  # unlabelled keypoints get no target


def test_hidden_keypoints_are_still_targets_and_people_merge_by_maximum() -> None:
    encoder = HeatmapEncoder("hm", stride=1, size=(8, 8), sigma=1.0)
    two = np.asarray([[[1.0, 1.0, 1]], [[6.0, 6.0, 2]]], np.float32)
    target = encoder.encode(two)["hm"][..., 0]
    assert target[1, 1] == 1.0 and target[6, 6] == 1.0


def test_decoding_recovers_the_keypoint_within_a_quarter_cell() -> None:
    rng = np.random.default_rng(0)
    encoder = HeatmapEncoder("hm", stride=4, size=(32, 32), sigma=2.0)
    decoder = HeatmapDecoder("hm", stride=4)
    points = rng.uniform(8, 120, size=(17, 2))
    kp = np.concatenate([points, np.full((17, 1), 2.0)], axis=1)[None].astype(np.float32)
    decoded = decoder.decode(encoder.encode(kp))[0]
    assert np.abs(decoded[:, :2] - points).max() <= 0.75 * 4  # half a cell plus the quarter step at most
    plain = HeatmapDecoder("hm", stride=4, refine=Refinement.NONE).decode(encoder.encode(kp))[0]
    assert np.abs(decoded[:, :2] - points).mean() < np.abs(plain[:, :2] - points).mean()


def test_the_quarter_step_goes_towards_the_higher_neighbour() -> None:
    heatmap = np.zeros((5, 5, 1), np.float32)
    heatmap[2, 2], heatmap[2, 3], heatmap[1, 2] = 1.0, 0.5, 0.2
    x, y, score = HeatmapDecoder("hm", stride=1).decode({"hm": heatmap})[0, 0]
    assert (x, y, score) == (2.25, 1.75, 1.0)


def test_logit_heatmaps_score_as_softmax_probability() -> None:
    heatmap = np.zeros((4, 4, 1), np.float32)
    heatmap[1, 2] = np.log(16.0)  # e^x = 16 against 15 ones: p = 16 / 31
    score = HeatmapDecoder("hm", stride=1, logits=True).decode({"hm": heatmap})[0, 0, 2]
    assert np.isclose(score, 16 / 31)
