"""The synthetic generator labels one scene in any built-in keypoint set, COCO-17's
labels are what they were before sets had names, and the COCO reader tells the
data's set from its category's keypoint names."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.errors import KeypointSetMismatchError
from posepipe.calibration.synthetic import JOINTS, SynthConfig, generate, projection
from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import AIC_14, COCO_17, KEYPOINT_SETS, LSP_14, MPII_16, KeypointSet, canonical
from tests.support.harness import invoke

SMALL = SynthConfig(seed=11, train_images=3, val_images=2, min_side=96, max_side=128, persons=(1, 3), overlap=0.35,
                    scale=(0.4, 0.75))

# The sha256 of SMALL's annotation files as the generator wrote them before it had
# keypoint sets (git show of calibration/synthetic.py before them, run on SMALL): the
# synthetic data's and every checkpoint's cache keys, and the tests' tiny runs, rely on
# COCO-17's labels staying these bytes for the same seed.
COCO_BEFORE_SETS = {
    "person_keypoints_train.json": "a2c4ada43d51fe72f3eebfda3864c25aaaa4f2a1b3eaf6796261ad1ae1518b8b",
    "person_keypoints_val.json": "ee7ec07cec767c37746e5a8f944c5b725b83937d67110604c27e205f34f90fad",
}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SMALL (crowds of 1-3) written once in every built-in set."""
    root = tmp_path_factory.mktemp("sets")
    for name, keypoints in KEYPOINT_SETS.items():
        generate(root / name, dataclasses.replace(SMALL, keypoints=keypoints))
    return {name: root / name for name in KEYPOINT_SETS}


def _doc(root: Path, split: str = "train") -> dict:
    return json.loads((root / "annotations" / f"person_keypoints_{split}.json").read_text())


def test_coco_labels_are_the_bytes_they_were_before_keypoint_sets(scenes: dict[str, Path]) -> None:
    for name, digest in COCO_BEFORE_SETS.items():
        assert hashlib.sha256((scenes["coco-17"] / "annotations" / name).read_bytes()).hexdigest() == digest


def test_every_set_labels_the_same_pictures(scenes: dict[str, Path]) -> None:
    pictures = sorted(p.relative_to(scenes["coco-17"]) for p in scenes["coco-17"].rglob("*.jpg"))
    assert len(pictures) == SMALL.train_images + SMALL.val_images
    for root in scenes.values():
        assert all((root / p).read_bytes() == (scenes["coco-17"] / p).read_bytes() for p in pictures)


@pytest.mark.parametrize("name", ["aic-14", "mpii-16", "lsp-14"])
def test_a_set_names_its_keypoints_and_shares_coco_joints_by_name(scenes: dict[str, Path], name: str) -> None:
    keypoints, coco, doc = KEYPOINT_SETS[name], _doc(scenes["coco-17"]), _doc(scenes[name])
    category = doc["categories"][0]
    assert category["keypoints"] == list(keypoints.names)
    assert category["skeleton"] == [[a + 1, b + 1] for a, b in keypoints.skeleton]
    assert len(doc["annotations"]) == len(coco["annotations"]) > SMALL.train_images  # the crowds' people, all
    shared = [(i, COCO_17.names.index(canonical(n))) for i, n in enumerate(keypoints.names)
              if canonical(n) in COCO_17.names]
    assert len(shared) == 12  # shoulders, elbows, wrists, hips, knees, ankles
    for theirs, ours in zip(doc["annotations"], coco["annotations"], strict=True):
        assert theirs["bbox"] == ours["bbox"] and theirs["image_id"] == ours["image_id"]
        a, b = np.reshape(theirs["keypoints"], (-1, 3)), np.reshape(ours["keypoints"], (-1, 3))
        assert len(a) == len(keypoints)
        for i, j in shared:
            assert a[i].tolist() == b[j].tolist()
        assert theirs["num_keypoints"] == int((a[:, 2] > 0).sum())


def test_the_extra_joints_sit_where_their_names_say(scenes: dict[str, Path]) -> None:
    """MPII's thorax is between the shoulders and its pelvis between the hips; the
    head_top-neck segment (PCKh's) points the same way as pelvis-thorax for an
    upright figure, and is about the head's size (a fifth of the torso)."""
    mpii, coco = _doc(scenes["mpii-16"]), _doc(scenes["coco-17"])
    name = MPII_16.names.index
    checked = 0
    for theirs, ours in zip(mpii["annotations"], coco["annotations"], strict=True):
        m, c = np.reshape(theirs["keypoints"], (-1, 3)), np.reshape(ours["keypoints"], (-1, 3))
        sides = [COCO_17.names.index(f"{s}_{part}") for part in ("shoulder", "hip") for s in ("left", "right")]
        if not (c[sides, 2] > 0).all() or not (m[[name("thorax"), name("pelvis")], 2] > 0).all():
            continue
        assert m[name("thorax"), :2] == pytest.approx((c[sides[0], :2] + c[sides[1], :2]) / 2, abs=0.02)
        assert m[name("pelvis"), :2] == pytest.approx((c[sides[2], :2] + c[sides[3], :2]) / 2, abs=0.02)
        torso = m[name("thorax"), :2] - m[name("pelvis"), :2]
        head = m[name("head_top"), :2] - m[name("upper_neck"), :2]
        assert head @ torso > 0 and 0.1 < np.linalg.norm(head) / np.linalg.norm(torso) < 0.6
        checked += 1
    assert checked >= 3


def test_a_set_the_figures_cannot_draw_is_refused_naming_the_joints(tmp_path: Path) -> None:
    tail = KeypointSet("dog-3", ("nose", "tail", "left_paw"), ((0, 1),), (), ())
    with pytest.raises(ConfigError, match=r"cannot label keypoint set dog-3: no joint tail, left_paw; they have "):
        generate(tmp_path, dataclasses.replace(SMALL, keypoints=tail))
    assert not (tmp_path / "annotations").exists()  # refused before any image
    assert [JOINTS[i] for i in projection(LSP_14)][:3] == ["right_ankle", "right_knee", "right_hip"]


def test_the_reader_takes_a_set_and_refuses_another(scenes: dict[str, Path]) -> None:
    split = CocoKeypoints.load(scenes["aic-14"], "val", AIC_14)
    assert {p.keypoints.shape for p in split.people} == {(14, 3)}
    path = scenes["aic-14"] / "annotations" / "person_keypoints_val.json"
    expected = f"{path}: the data's keypoint set is aic-14 but the model's is lsp-14; use a model on it " \
               "(-o keypoints=aic-14)"
    with pytest.raises(KeypointSetMismatchError, match=f"^{re.escape(expected)}$"):
        CocoKeypoints.load(scenes["aic-14"], "val", LSP_14)  # the same size, other joints
    with pytest.raises(KeypointSetMismatchError, match="the data's keypoint set is mpii-16 but the model's is coco-17"):
        CocoKeypoints.load(scenes["mpii-16"], "val", COCO_17)


def test_the_reader_names_a_set_it_does_not_know(tmp_path: Path, scenes: dict[str, Path]) -> None:
    doc = _doc(scenes["lsp-14"], "val")
    doc["categories"][0]["keypoints"] = [f"joint{i}" for i in range(14)]
    root = tmp_path / "custom"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "person_keypoints_val.json").write_text(json.dumps(doc))
    with pytest.raises(KeypointSetMismatchError, match=r"keypoint set is 14 keypoints \(joint0, joint1, joint2, "
                                                       r"joint3, \.\.\.\) but the model's is lsp-14$"):
        CocoKeypoints.load(root, "val", LSP_14)


def test_synth_command_writes_a_set(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "synth", str(tmp_path / "lsp"), "--train-images", "1", "--val-images", "1",
                    "--keypoints", "LSP14")
    assert result.code == 0, result.err
    assert _doc(tmp_path / "lsp", "val")["categories"][0]["keypoints"] == list(LSP_14.names)
    result = invoke(capfd, "synth", str(tmp_path / "h36m"), "--keypoints", "h36m")
    assert result.code == 12 and result.error_lines == [
        "posepipe: error: unknown keypoint set 'h36m'; known sets: coco-17, aic-14, mpii-16, lsp-14"]
