"""Annotations checked like user input: what cannot be used stops the load with one
line naming file, entry and field; what COCO itself has and a run cannot use is
skipped and counted; and no document whatever gets past the reader as anything
but a result or a posepipe error (hypothesis)."""

from __future__ import annotations

import contextlib
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

from posepipe.calibration.coco import CocoKeypoints, Skip
from posepipe.calibration.errors import DatasetFormatError, EmptyDatasetError
from posepipe.models.errors import PosepipeError
from tests.calibration.test_coco import valid_doc, write_set


def load(root: Path, doc: Any) -> CocoKeypoints:
    write_set(root, doc)
    return CocoKeypoints.load(root, "val", 17)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    """A valid document with the value at ``path`` replaced (or removed, for ``...``)."""
    def change(doc: dict[str, Any]) -> dict[str, Any]:
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is ...:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc
    return change


def _two_annotations(doc: dict[str, Any]) -> dict[str, Any]:
    doc["annotations"].append(copy.deepcopy(doc["annotations"][0]))
    return doc


ANNOTATION = ("annotations", 0)
FATAL = {
    "non-numeric area": (_set((*ANNOTATION, "area"), "big"), r"annotations\[0\].area is a string 'big', not a finite"),
    "infinite bbox": (_set((*ANNOTATION, "bbox", 2), math.inf), r"annotations\[0\].bbox\[2\] is inf, not a finite"),
    "NaN keypoint": (_set((*ANNOTATION, "keypoints", 3), math.nan),
                     r"annotations\[0\].keypoints\[3\] is nan, not a finite number"),
    "keypoint past float32": (_set((*ANNOTATION, "keypoints", 0), 1e300), r"keypoints\[0\] is 1e\+300, not a finite"),
    "integer past any float": (_set((*ANNOTATION, "keypoints", 0), 10**400),
                               r"keypoints\[0\] is an integer too large, not a finite"),
    "boolean coordinate": (_set((*ANNOTATION, "keypoints", 0), True), r"keypoints\[0\] is true, not a number"),
    "visibility 3": (_set((*ANNOTATION, "keypoints", 5), 3),
                     r"keypoints\[5\] is 3: keypoint 1's visibility flag must be 0, 1 or 2"),
    "visibility -1": (_set((*ANNOTATION, "keypoints", 2), -1), r"keypoints\[2\] is -1: keypoint 0's visibility flag"),
    "visibility 1.5": (_set((*ANNOTATION, "keypoints", 2), 1.5), r"keypoints\[2\] is 1.5: keypoint 0's visibility"),
    "negative box": (_set((*ANNOTATION, "bbox", 3), -2), r"bbox has a negative width or height \(5 x -2\)"),
    "negative area": (_set((*ANNOTATION, "area"), -1.0), r"annotations\[0\].area is -1.0, negative"),
    "annotation id twice": (_two_annotations, r"annotations\[1\].id 1 appears twice \(entry id 1\)"),
    "image id twice": (lambda d: d["images"].append({**d["images"][0], "file_name": "b.jpg"}) or d,
                       r"images\[1\].id 1 appears twice \(also a.jpg\)"),
    "unknown image id": (_set((*ANNOTATION, "image_id"), 7), r"annotations\[0\].image_id 7 is not in 'images'"),
    "image id a string": (_set((*ANNOTATION, "image_id"), "1"), r"image_id is a string '1', not an integer"),
    "infinite width": (_set(("images", 0, "width"), math.inf), r"images\[0\].width is inf, not an integer"),
    "zero height": (_set(("images", 0, "height"), 0), r"images\[0\].height is 0, not positive"),
    "crowd flag a string": (_set((*ANNOTATION, "iscrowd"), "yes"), r"iscrowd is a string 'yes', not 0 or 1"),
    "category a float": (_set((*ANNOTATION, "category_id"), 1.5), r"category_id is 1.5, not an integer"),
    "annotation not an object": (_set(ANNOTATION, [1, 2]), r"annotations\[0\] is a list, not an object"),
    "no bbox": (_set((*ANNOTATION, "bbox"), ...), r"annotations\[0\].bbox is missing"),
    "deeply nested": (lambda d: "[" * 100_000 + "]" * 100_000, r"nested too deeply to be a COCO file"),
}


@pytest.mark.parametrize("case", list(FATAL))
def test_what_cannot_be_used_is_refused_naming_file_entry_and_field(case: str, tmp_path: Path) -> None:
    change, message = FATAL[case]
    with pytest.raises(DatasetFormatError, match=message) as error:
        load(tmp_path, change(valid_doc()))
    text = str(error.value)
    assert text.startswith(f"{tmp_path / 'annotations' / 'person_keypoints_val.json'}: ")
    assert "\n" not in text and error.value.exit_code == 6


def _person(**fields: Any) -> dict[str, Any]:
    base = valid_doc()["annotations"][0]
    return {**base, **fields}


SKIPPED = {
    "zero-size box": ({"bbox": [3, 3, 0, 4]}, Skip.EMPTY_BOX),
    "box right of its image": ({"bbox": [10, 1, 4, 4]}, Skip.OUTSIDE),
    "box above its image": ({"bbox": [1, -9, 4, 4]}, Skip.OUTSIDE),
    "zero area": ({"area": 0}, Skip.NO_AREA),
    "crowd": ({"iscrowd": 1, "keypoints": []}, Skip.CROWD),
    "another category": ({"category_id": 3}, Skip.NOT_PERSON),
}


@pytest.mark.parametrize("case", list(SKIPPED))
def test_what_coco_has_and_a_run_cannot_use_is_skipped_and_counted(case: str, tmp_path: Path) -> None:
    fields, reason = SKIPPED[case]
    doc = valid_doc()
    doc["annotations"].append(_person(id=2, **fields))
    dataset = load(tmp_path, doc)
    assert len(dataset.people) == 1 and dataset.people[0].bbox == (1.0, 1.0, 5.0, 5.0)
    assert dataset.skipped == {reason: 1}
    assert dataset.skipped_note() == f"person_keypoints_val.json: 1 annotation(s) not used as written: 1 {reason}"


def test_a_box_past_its_image_is_clipped_and_counted_but_rounding_is_not(tmp_path: Path) -> None:
    doc = valid_doc()
    doc["annotations"] = [_person(id=1, bbox=[-3, 2, 8, 20]), _person(id=2, bbox=[0, 0, 10.5, 10])]
    dataset = load(tmp_path, doc)
    assert [p.bbox for p in dataset.people] == [(0.0, 2.0, 5.0, 8.0), (0.0, 0.0, 10.5, 10.0)]
    assert dataset.skipped == {Skip.CLIPPED: 1}


def test_people_without_a_labelled_keypoint_stay_as_written_but_are_no_top_down_sample(tmp_path: Path) -> None:
    """Also with a box of zero size past the image's edge, as the synthetic crowds draw one."""
    doc = valid_doc()
    doc["annotations"] += [_person(id=2, keypoints=[0, 0, 0] * 17, num_keypoints=0),
                           _person(id=3, keypoints=[0, 0, 0] * 17, bbox=[10, 2, 0, 6], area=0)]
    dataset = load(tmp_path, doc)
    assert len(dataset.people) == 3 and not dataset.skipped and dataset.skipped_note() is None
    assert dataset.people[2].bbox == (10.0, 2.0, 0.0, 6.0) and dataset.people[2].area == 0
    assert [person.keypoints[:, 2].max() for _, person in dataset.top_down()] == [2.0]


def test_a_clean_file_says_nothing_and_keeps_every_value(tmp_path: Path) -> None:
    doc = valid_doc()
    doc["images"][0].update(width=640.0, height=480)  # integral floats are integers
    doc["annotations"][0].update(keypoints=[2.5, 3.25, 1] * 17, area=17.5)
    (person,) = load(tmp_path, doc).people
    assert person.area == 17.5 and person.keypoints.shape == (17, 3)
    assert np.array_equal(person.keypoints[0], np.float32([2.5, 3.25, 1]))


# --- fuzzing --------------------------------------------------------------------------------------------

EDGES = st.sampled_from([None, True, False, 0, 1, 2, 3, -1, 1.5, -0.0, 1e300, 10**400, math.nan, math.inf,
                         -math.inf, "", "1", [], {}])
NUMBERS = st.one_of(st.sampled_from([0, 1, 2, 4, 9.5, 12, 30]), EDGES, st.floats(), st.integers(-50, 50))
JSON_VALUES = st.recursive(st.one_of(EDGES, st.text(max_size=6)), lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.sampled_from(["id", "bbox", "keypoints"]), inner, max_size=3),
                           max_leaves=6)
FIELDS = {"images": ("id", "file_name", "width", "height"),
          "annotations": ("id", "image_id", "iscrowd", "category_id", "bbox", "keypoints", "area")}


def _seed_doc() -> dict[str, Any]:
    """A small valid split: two images, three people, one of them unlabelled."""
    doc = valid_doc()
    doc["images"].append({"id": 2, "file_name": "b.jpg", "width": 20, "height": 12})
    doc["annotations"] += [_person(id=2, image_id=2, bbox=[4, 2, 8, 8]),
                           _person(id=3, image_id=2, keypoints=[0, 0, 0] * 17, bbox=[0, 0, 3, 3], area=9)]
    return doc


def _mutate(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """One change where a reader can go wrong: one number of a box or keypoint
    list, a field's value, a field removed, an entry replaced or repeated, a list replaced."""
    action = draw(st.sampled_from(["element"] * 4 + ["field"] * 3 + ["delete", "entry", "repeat", "list"]))
    kind = "annotations" if action == "element" else draw(st.sampled_from(list(FIELDS)))
    entries = doc.get(kind)
    if action == "list" or not isinstance(entries, list) or not entries:
        doc[kind] = draw(JSON_VALUES)
        return
    index = draw(st.integers(0, len(entries) - 1))
    entry = entries[index]
    name = draw(st.sampled_from(("bbox", "keypoints") if action == "element" else FIELDS[kind]))
    if action == "entry" or not isinstance(entry, dict):
        entries[index] = draw(JSON_VALUES)
    elif action == "repeat":
        entries.append(copy.deepcopy(entry))
    elif action == "delete":
        entry.pop(name, None)
    elif action == "element" and isinstance(entry.get(name), list) and entry[name]:
        entry[name][draw(st.integers(0, len(entry[name]) - 1))] = draw(NUMBERS)
    else:
        entry[name] = draw(st.one_of(NUMBERS, JSON_VALUES))


@st.composite
def mutated_docs(draw: st.DrawFn) -> Any:
    doc = _seed_doc()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        _mutate(draw, doc)
    return doc


def _check_usable(dataset: CocoKeypoints) -> None:
    """What the reader returns is what a run can use, however odd the file was."""
    for person in dataset.people:
        assert person.keypoints.shape == (17, 3) and np.isfinite(person.keypoints).all()
        assert set(np.unique(person.keypoints[:, 2])) <= {0.0, 1.0, 2.0}
        if not (person.keypoints[:, 2] > 0).any():
            continue  # kept as written: no sample, nothing judged
        image = dataset.images[person.image_id]
        x, y, w, h = person.bbox
        assert all(math.isfinite(v) for v in person.bbox) and w > 0 and h > 0
        assert x + w > 0 and y + h > 0 and x < image.width and y < image.height
        assert math.isfinite(person.area) and person.area > 0
    assert all(image.width > 0 and image.height > 0 for image in dataset.images.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=mutated_docs())
def test_any_document_gives_a_usable_dataset_or_a_posepipe_error(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_set(root, json.dumps(doc))
        try:
            dataset = CocoKeypoints.load(root, "val", 17)
        except DatasetFormatError as error:
            assert "\n" not in str(error) and str(error).startswith(str(root))
            return
        _check_usable(dataset)
        for samples in (dataset.top_down, dataset.bottom_up):
            with contextlib.suppress(EmptyDatasetError):
                samples()


@settings(max_examples=60, deadline=None)
@given(text=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_any_text_gives_a_dataset_or_a_posepipe_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = write_set(root, "{}")
        path.write_bytes(text.encode("utf-8", "surrogateescape") if text else b"")
        try:
            CocoKeypoints.load(root, "val", 17)
        except PosepipeError as error:
            assert error.exit_code == 6 and "\n" not in str(error)
