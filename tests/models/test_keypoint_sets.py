"""The built-in keypoint sets are their datasets' (orders, mirrors, segments), and a
zoo model changes set through ``ModelSpec.with_keypoints`` or refuses with a reason."""

from __future__ import annotations

import pytest

from posepipe import models
from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import (
    AIC_14,
    COCO_17,
    KEYPOINT_SETS,
    LSP_14,
    KeypointSet,
    canonical,
    keypoint_set,
)

# The standard orders, as the datasets number their joints (AI Challenger's
# keypoint_eval.py, MPII's joint ids 0..15, LSP's joints.mat), written out here
# independently of models/keypoints.py.
ORDERS = {
    "aic-14": "right_shoulder right_elbow right_wrist left_shoulder left_elbow left_wrist right_hip right_knee "
              "right_ankle left_hip left_knee left_ankle head_top neck",
    "mpii-16": "r_ankle r_knee r_hip l_hip l_knee l_ankle pelvis thorax upper_neck head_top r_wrist r_elbow "
               "r_shoulder l_shoulder l_elbow l_wrist",
    "lsp-14": "r_ankle r_knee r_hip l_hip l_knee l_ankle r_wrist r_elbow r_shoulder l_shoulder l_elbow l_wrist "
              "neck head_top",
}


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_sets_follow_their_datasets_orders(name: str) -> None:
    assert KEYPOINT_SETS[name].names == tuple(ORDERS[name].split())


@pytest.mark.parametrize("keypoints", list(KEYPOINT_SETS.values()), ids=list(KEYPOINT_SETS))
def test_flip_pairs_mirror_every_sided_keypoint(keypoints: KeypointSet) -> None:
    """Each pair is a left and a right of the same joint, every sided joint has its
    pair, and a central one (head_top, neck, pelvis) mirrors onto itself."""
    names = [canonical(n) for n in keypoints.names]
    mirrored = [names[j] for j in keypoints.flip_index]
    for name, mirror in zip(names, mirrored, strict=True):
        side, _, part = name.partition("_")
        expected = {"left": f"right_{part}", "right": f"left_{part}"}.get(side, name)
        assert mirror == expected, (keypoints.name, name, mirror)


@pytest.mark.parametrize("keypoints", list(KEYPOINT_SETS.values()), ids=list(KEYPOINT_SETS))
def test_skeleton_connects_every_keypoint_and_segments_are_the_named_ones(keypoints: KeypointSet) -> None:
    reached, edges = {0}, set(keypoints.skeleton) | {(b, a) for a, b in keypoints.skeleton}
    while grown := {b for a, b in edges if a in reached} - reached:
        reached |= grown
    assert reached == set(range(len(keypoints)))  # drawn as one figure
    names = [canonical(n) for n in keypoints.names]
    for a, b in keypoints.torso:  # a shoulder to the other side's hip
        assert {names[a].split("_")[0], names[b].split("_")[0]} == {"left", "right"}
        assert {names[a].split("_")[1], names[b].split("_")[1]} == {"shoulder", "hip"}
    if keypoints.head is not None:
        assert {names[i] for i in keypoints.head} in ({"head_top", "neck"}, {"head_top", "upper_neck"})


def test_which_sets_have_oks_constants_and_a_head_segment() -> None:
    """OKS AP needs published per-keypoint constants (COCO's, AI Challenger's); MPII
    and LSP publish none. COCO has no head_top, so no PCKh."""
    assert [s.name for s in KEYPOINT_SETS.values() if s.sigmas is not None] == ["coco-17", "aic-14"]
    assert [s.name for s in KEYPOINT_SETS.values() if s.head is None] == ["coco-17"]
    assert AIC_14.sigmas is not None and len(AIC_14.sigmas) == 14 and AIC_14.sigmas[6] == pytest.approx(0.03909642)


@pytest.mark.parametrize("spelling", ["aic-14", "aic14", "AIC_14", " Aic-14 "])
def test_either_spelling_names_a_set(spelling: str) -> None:
    assert keypoint_set(spelling) is AIC_14


def test_an_unknown_set_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"^unknown keypoint set 'h36m'; known sets: coco-17, aic-14, mpii-16, "
                                          r"lsp-14$"):
        keypoint_set("h36m")


def test_a_set_checks_its_own_indices() -> None:
    with pytest.raises(ValueError, match="3 sigmas for 2 keypoints"):
        KeypointSet("two", ("a", "b"), ((0, 1),), (), (), sigmas=(0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match=r"edge \(0, 2\) outside 0..1"):
        KeypointSet("two", ("a", "b"), ((0, 1),), (), (), head=(0, 2))


@pytest.mark.parametrize("name", ["hourglass", "simplebaseline", "cpm", "blazepose"])
def test_a_heatmap_or_regression_model_takes_another_set(name: str) -> None:
    spec, config = models.get(name).configured("tiny", {"keypoints": "lsp14"})
    assert spec.keypoints is LSP_14 and spec.name == name
    assert config.num_keypoints == spec.default.num_keypoints == spec.tiny.num_keypoints == 14
    assert models.get(name).keypoints is COCO_17  # the registry's spec is untouched
    with pytest.raises(ConfigError, match="num_keypoints=17: .*14"):  # the size follows the set
        spec.config("tiny", {"num_keypoints": "17"})


def test_configured_without_a_set_is_the_spec_itself() -> None:
    spec = models.get("hourglass")
    assert spec.configured("tiny", {"keypoints": "coco17"})[0] is spec
    assert spec.configured("tiny", {})[0] is spec


@pytest.mark.parametrize(("name", "outputs"), [("posenet", "displacement_fwd, displacement_bwd outputs follow"),
                                               ("openpose", "pafs output follows")])
def test_a_model_whose_outputs_follow_coco_edges_refuses_another_set(name: str, outputs: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: keypoints=aic-14 is not available: its {outputs} the edges "
                                          r"of coco-17; it is trained on coco-17 only$"):
        models.get(name).configured("tiny", {"keypoints": "aic14"})


def test_config_alone_refuses_another_set() -> None:
    """A caller that skipped ``configured`` would build a 17-keypoint model labelled 14."""
    with pytest.raises(ConfigError, match="keypoints=mpii16 on a spec of coco-17"):
        models.get("hourglass").config("tiny", {"keypoints": "mpii16"})

