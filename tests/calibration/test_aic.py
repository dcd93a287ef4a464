"""AI Challenger keypoints read from the files as the challenge ships them, into the
records the COCO reader gives: flags mapped (1 visible -> 2, 2 hidden -> 1, 3 not
labelled -> 0), boxes from corners, areas from boxes. Bad entries stop the load with
one line naming file, entry and field; no document whatever gets past the reader as
anything but a result or a posepipe error (hypothesis)."""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from posepipe import models
from posepipe.calibration.calibset import from_coco
from posepipe.calibration.coco import CocoKeypoints, Skip
from posepipe.calibration.errors import DatasetFormatError, KeypointSetMismatchError, MissingImageError
from posepipe.calibration.layouts import AIC_SPLITS, Layout, detect
from posepipe.models.errors import PosepipeError
from posepipe.models.keypoints import AIC_14, COCO_17
from posepipe.models.spec import InputSpec
from tests.support.harness import TinyZoo, invoke, read_manifest
from tests.support.real_layouts import write_ai_challenger
from tests.support.verdicts import failed_on_task_checks_only

VAL = AIC_SPLITS["val"]
K = len(AIC_14)


@pytest.fixture(scope="module")
def aic_root(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aic")
    write_ai_challenger(root, tiny_data)
    return root


def test_the_shipped_tree_reads_as_coco_records_with_flags_mapped(aic_root: Path, tiny_data: Path) -> None:
    assert detect(aic_root) is Layout.AI_CHALLENGER
    dataset = CocoKeypoints.load(aic_root, "val", K)
    entries = json.loads((aic_root / VAL.annotation_path).read_text())
    source = json.loads((tiny_data / "annotations" / "person_keypoints_val.json").read_text())
    assert dataset.split == VAL.folder and dataset.annotation_file == aic_root / VAL.annotation_path
    assert len(dataset.images) == len(entries) == len(source["images"])
    for image, entry in zip(dataset.images.values(), entries, strict=True):
        assert image.path == aic_root / VAL.folder / VAL.images / f"{entry['image_id']}.jpg"
        with Image.open(image.path) as picture:
            assert (image.width, image.height) == picture.size  # from the header: the file gives no size
    # Every person, in file order: the flags back on COCO's scale agree with the COCO-17
    # source where both sets have the keypoint, positions to the pixel, boxes from corners.
    shared = [(AIC_14.names.index(n), COCO_17.names.index(n)) for n in AIC_14.names if n in COCO_17.names]
    assert len(dataset.people) == len(source["annotations"])
    for person, original in zip(dataset.people, source["annotations"], strict=True):
        coco = np.asarray(original["keypoints"], np.float32).reshape(-1, 3)
        for a, c in shared:
            assert person.keypoints[a, 2] == coco[c, 2]
            if coco[c, 2] > 0:
                assert np.abs(person.keypoints[a, :2] - coco[c, :2]).max() <= 0.5
            else:
                assert (person.keypoints[a, :2] == 0).all()
        x, y, w, h = original["bbox"]
        x1, y1, x2, y2 = round(x), round(y), round(x + w), round(y + h)
        assert person.area == (x2 - x1) * (y2 - y1)  # the box's, before any clipping
        image = dataset.images[person.image_id]
        if max(-x1, -y1, x2 - image.width, y2 - image.height) <= 1:  # else clipped, and counted
            assert person.bbox == (x1, y1, x2 - x1, y2 - y1)


def test_a_calibration_set_and_samples_come_from_its_train_split(aic_root: Path) -> None:
    calibration = from_coco(aic_root, K, (64, 64), InputSpec(), samples=5)
    assert calibration.inputs.shape == (5, 64, 64, 3) and "(train split)" in calibration.source
    assert len(CocoKeypoints.load(aic_root, "train", K).top_down()) >= 5


@pytest.mark.parametrize("model", [17, COCO_17])
def test_a_model_on_another_keypoint_set_is_refused_naming_both(aic_root: Path, model: Any) -> None:
    with pytest.raises(KeypointSetMismatchError, match=r"the data's keypoint set is aic-14 but the model's "
                                                       r"(is coco-17|has 17 keypoints); use a model on it "
                                                       r"\(-o keypoints=aic-14\)$") as error:
        CocoKeypoints.load(aic_root, "val", model)
    assert str(error.value).startswith(str(aic_root / VAL.annotation_path)) and error.value.exit_code == 32
    assert "\n" not in str(error.value)


# --- hand-made files ------------------------------------------------------------------------------------


def write_aic(root: Path, doc: Any) -> Path:
    """``doc`` as the val split's annotation list, beside two small images, ``a`` and ``b``."""
    folder = root / VAL.folder / VAL.images
    folder.mkdir(parents=True, exist_ok=True)
    for stem, size in (("a", (10, 10)), ("b", (20, 12))):
        if not (folder / f"{stem}.jpg").exists():
            Image.new("RGB", size, (90, 120, 60)).save(folder / f"{stem}.jpg")
    path = root / VAL.annotation_path
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def valid_doc() -> list[dict[str, Any]]:
    return [{"url": "http://www.sinaimg.cn/dy/slidenews/a.jpg", "image_id": "a",
             "keypoint_annotations": {"human1": [2, 2, 1] * K}, "human_annotations": {"human1": [1, 1, 6, 6]}}]


def load(root: Path, doc: Any) -> CocoKeypoints:
    write_aic(root, doc)
    return CocoKeypoints.load(root, "val", K)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    """A valid document with the value at ``path`` replaced (or removed, for ``...``)."""
    def change(doc: Any) -> Any:
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is ...:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc
    return change


KP, BOX = (0, "keypoint_annotations", "human1"), (0, "human_annotations", "human1")
FATAL = {
    "not a list": (lambda d: {"images": d}, r"is an object; expected AI Challenger's JSON list of images"),
    "entry not an object": (_set((0,), [1]), r": \[0\] is a list, not an object"),
    "no image_id": (_set((0, "image_id"), ...), r"\[0\].image_id is missing or not a file name"),
    "image_id a path": (_set((0, "image_id"), "../a"), r"\[0\].image_id is missing or not a file name"),
    "image_id twice": (lambda d: d + copy.deepcopy(d), r"\[1\].image_id appears twice \(image_id a\)"),
    "no keypoints": (_set((0, "keypoint_annotations"), ...), r"\[0\].keypoint_annotations is missing \(image_id a\)"),
    "humans a list": (_set((0, "human_annotations"), [[1, 1, 6, 6]]),
                      r"\[0\].human_annotations is a list, not an object of humans"),
    "no box for a human": (_set((*BOX[:2], "human1"), ...),
                           r"\[0\].human_annotations.human1 is missing \(each human needs keypoints and a box\)"),
    "a box without keypoints": (_set((*BOX[:2], "human2"), [1, 1, 3, 3]),
                                r"\[0\].keypoint_annotations.human2 is missing"),
    "13 keypoints": (_set(KP, [2, 2, 1] * 13), r"keypoint_annotations.human1 has 39 values, expected 42 "
                                               r"\(14 keypoints x 3\) \(image_id a\)"),
    "COCO's flag 0": (_set((*KP, 5), 0), r"human1\[5\] is 0: keypoint 1's visibility flag must be 1, 2 or 3"),
    "flag 4": (_set((*KP, 2), 4), r"human1\[2\] is 4: keypoint 0's visibility flag must be 1, 2 or 3"),
    "NaN coordinate": (_set((*KP, 0), math.nan), r"keypoint_annotations.human1\[0\] is nan, not a finite number"),
    "string coordinate": (_set((*KP, 1), "2"), r"human1\[1\] is a string '2', not a number"),
    "box of 3 values": (_set(BOX, [1, 1, 6]), r"human_annotations.human1 has 3 values, expected 4 \(x1, y1, x2, y2\)"),
    "box corners swapped": (_set(BOX, [6, 1, 1, 6]), r"human_annotations.human1 has a corner before its origin"),
    "infinite box": (_set((*BOX, 2), math.inf), r"human_annotations.human1\[2\] is inf, not a finite number"),
    "deeply nested": (lambda d: "[" * 100_000 + "]" * 100_000, r"nested too deeply to be an AI Challenger file"),
    "not JSON": (lambda d: "[{", r"not valid JSON"),
}


@pytest.mark.parametrize("case", list(FATAL))
def test_what_cannot_be_used_is_refused_naming_file_entry_and_field(case: str, tmp_path: Path) -> None:
    change, message = FATAL[case]
    with pytest.raises(DatasetFormatError, match=message) as error:
        load(tmp_path, change(valid_doc()))
    assert str(error.value).startswith(f"{tmp_path / VAL.annotation_path}: ")
    assert "\n" not in str(error.value) and error.value.exit_code == 6


def test_a_missing_image_is_named(tmp_path: Path) -> None:
    with pytest.raises(MissingImageError, match=r"keypoint_validation_images_20170911/c.jpg: image file not found"):
        load(tmp_path, _set((0, "image_id"), "c")(valid_doc()))


SKIPPED = {
    "zero-size box": ([3, 3, 3, 7], Skip.EMPTY_BOX),
    "box right of its image": ([10, 1, 14, 5], Skip.OUTSIDE),
    "box past its image": ([-3, 2, 5, 22], Skip.CLIPPED),
}


@pytest.mark.parametrize("case", list(SKIPPED))
def test_what_a_run_cannot_use_is_skipped_and_counted_like_coco(case: str, tmp_path: Path) -> None:
    box, reason = SKIPPED[case]
    doc = valid_doc()
    doc[0]["keypoint_annotations"]["human2"] = [2, 2, 2] * K
    doc[0]["human_annotations"]["human2"] = box
    dataset = load(tmp_path, doc)
    assert dataset.skipped == {reason: 1}
    assert [p.bbox for p in dataset.people][:1] == [(1.0, 1.0, 5.0, 5.0)]
    if reason is Skip.CLIPPED:
        assert dataset.people[1].bbox == (0.0, 2.0, 5.0, 8.0) and dataset.people[1].keypoints[0, 2] == 1


def test_flags_and_positions_map_onto_coco(tmp_path: Path) -> None:
    doc = valid_doc()
    doc[0]["keypoint_annotations"]["human1"] = [4, 5, 1, 6, 7, 2, 0, 0, 3] + [2, 2, 3] * (K - 3)
    (person,) = load(tmp_path, doc).people
    assert person.keypoints[:4].tolist() == [[4, 5, 2], [6, 7, 1], [0, 0, 0], [0, 0, 0]]
    assert person.bbox == (1.0, 1.0, 5.0, 5.0) and person.area == 25.0


# --- fuzzing --------------------------------------------------------------------------------------------

EDGES = st.sampled_from([None, True, False, 0, 1, 2, 3, 4, -1, 1.5, 1e300, 10**400, math.nan, math.inf, "", "a",
                         "b", "1", "../a", "a\n", [], {}])
NUMBERS = st.one_of(st.sampled_from([0, 1, 2, 3, 4, 9.5, 12, 30]), EDGES, st.floats(), st.integers(-50, 50))
JSON_VALUES = st.recursive(st.one_of(EDGES, st.text(max_size=6)), lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.sampled_from(["human1", "human2", "image_id"]), inner, max_size=3),
                           max_leaves=6)
FIELDS = ("url", "image_id", "keypoint_annotations", "human_annotations")


def _seed_doc() -> list[dict[str, Any]]:
    """Two images, three humans, one of them with nothing labelled."""
    doc = valid_doc()
    doc.append({"url": "http://x/b.jpg", "image_id": "b",
                "keypoint_annotations": {"human1": [5, 4, 2] * K, "human2": [0, 0, 3] * K},
                "human_annotations": {"human1": [4, 2, 12, 10], "human2": [0, 0, 3, 3]}})
    return doc


@st.composite
def mutated_docs(draw: st.DrawFn) -> Any:
    doc: Any = _seed_doc()
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["element"] * 4 + ["field"] * 3 + ["human", "entry", "repeat", "doc"]))
        if action == "doc" or not isinstance(doc, list) or not doc:
            doc = draw(JSON_VALUES)
            continue
        index = draw(st.integers(0, len(doc) - 1))
        entry = doc[index]
        if action == "entry" or not isinstance(entry, dict):
            doc[index] = draw(JSON_VALUES)
        elif action == "repeat":
            doc.append(copy.deepcopy(entry))
        elif action == "field":
            entry[draw(st.sampled_from(FIELDS))] = draw(st.one_of(NUMBERS, JSON_VALUES))
        else:
            humans = entry.get(draw(st.sampled_from(FIELDS[2:])))
            if not isinstance(humans, dict) or not humans:
                continue
            name = draw(st.sampled_from(sorted(humans) + ["human3"]))
            values = humans.get(name)
            if action == "element" and isinstance(values, list) and values:
                values[draw(st.integers(0, len(values) - 1))] = draw(NUMBERS)
            else:
                humans[name] = draw(st.one_of(NUMBERS, JSON_VALUES))
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=mutated_docs())
def test_any_document_gives_usable_records_or_a_posepipe_error(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        try:
            dataset = load(root, json.dumps(doc))
        except PosepipeError as error:
            assert isinstance(error, DatasetFormatError | MissingImageError) and "\n" not in str(error)
            assert str(error).startswith(str(root))
            return
        for person in dataset.people:
            assert person.keypoints.shape == (K, 3) and np.isfinite(person.keypoints).all()
            assert set(np.unique(person.keypoints[:, 2])) <= {0.0, 1.0, 2.0}
            if (person.keypoints[:, 2] > 0).any():
                image = dataset.images[person.image_id]
                x, y, w, h = person.bbox
                assert w > 0 and h > 0 and x < image.width and y < image.height and person.area > 0


# --- a run ----------------------------------------------------------------------------------------------


def test_a_run_on_aic_14_reads_ai_challenger_through_data_and_calibration_data(
        aic_root: Path, zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """hourglass on aic-14 from an untrained checkpoint (nothing trains: the run reads
    data, it does not learn from it), one int8 TFLite file: its reference and
    validation on AI Challenger's validation split, its calibration set drawn from
    its training split through --calibration-data (a folder with no annotations/).
    An untrained model's keypoints are noise, so the file may fail on its task checks
    alone (tests/support/verdicts.py)."""
    spec, config = models.get("hourglass").configured("tiny", {"keypoints": "aic14"})
    checkpoint = in_tmp / "aic14.keras"
    spec.build(config).save(checkpoint)
    result = invoke(capfd, "run", "hourglass", "--preset", "tiny", "-o", "keypoints=aic14", "--data", aic_root,
                    "--checkpoint", checkpoint, "--calibration-data", aic_root, "--cache", zoo.cache,
                    "--formats", "tflite", "--precisions", "int8", "--val-samples", "4", "--calibration-samples", "8",
                    "--bench-runs", "5", "--no-profile", "--jobs", "1")
    manifest = read_manifest(in_tmp, "hourglass")
    failed_on_task_checks_only(result, manifest)
    assert manifest["data"]["root"] == str(aic_root) and manifest["data"]["val_split"] == VAL.folder
    assert manifest["keypoints"]["names"] == list(AIC_14.names) and manifest["data"]["val_samples"] == 4
    assert f"calibration: 8 samples from {aic_root} (train split)" in result.out + result.err
    (artifact,) = manifest["artifacts"]
    assert artifact["file"] == "hourglass-int8.tflite" and artifact["quantization"]["calibration"]["samples"] == 8
    # `posepipe report` reads the val split again, by the name the manifest recorded (the split's folder)
    report = invoke(capfd, "report", "hourglass", "--out", in_tmp / "artifacts", "--samples", "2")
    assert report.code == 0, report.err
    assert "report: overlays of 1 artifacts on 2 val samples" in report.out + report.err
    assert "no overlays" not in (in_tmp / "artifacts" / "hourglass" / "report.html").read_text()
