"""The COCO reader refuses bad data with one line that says what and where."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from posepipe.calibration.coco import CocoKeypoints, read_image
from posepipe.calibration.errors import DatasetFormatError, DatasetNotFoundError, EmptyDatasetError, MissingImageError


def write_set(root: Path, doc: Any, split: str = "val") -> Path:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    path = root / "annotations" / f"person_keypoints_{split}.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def valid_doc() -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5],
                         "keypoints": [2, 2, 2] * 17, "num_keypoints": 17}],
    }


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: "{not json", r"not valid JSON \(Expecting property name"),
    (lambda d: [], "expected a JSON object with 'images' and 'annotations'"),
    (lambda d: d.pop("images") and d, "'images' is missing or not a list"),
    (lambda d: d["images"][0].pop("file_name") and d,
     r"images\[0\].file_name is missing or not a file name \(entry id 1\)"),
    (lambda d: d["annotations"][0].update(image_id=9) or d, r"annotations\[0\].image_id 9 is not in 'images'"),
    (lambda d: d["annotations"][0].update(keypoints=[1] * 50) or d,
     r"annotations\[0\].keypoints has 50 values, expected 51 \(17 keypoints x 3\)"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2]) or d,
     r"annotations\[0\].bbox has 2 values, expected 4 \(x, y, width, height\)"),
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(4, "x") or d,
     r"annotations\[0\].keypoints\[4\] is a string 'x', not a number \(entry id 1\)"),
])
def test_malformed_json_is_refused_with_path_and_entry(tmp_path: Path, mutate: Any, message: str) -> None:
    path = write_set(tmp_path, mutate(valid_doc()))
    with pytest.raises(DatasetFormatError, match=message) as error:
        CocoKeypoints.load(tmp_path, "val", 17)
    assert str(error.value).startswith(f"{path}: ")
    assert "\n" not in str(error.value)


def test_a_missing_folder_or_annotation_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="dataset folder not found"):
        CocoKeypoints.load(tmp_path / "nowhere", "val", 17)
    tmp_path.joinpath("annotations").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"no annotations/person_keypoints_val.json \(nor val2017\)"):
        CocoKeypoints.load(tmp_path, "val", 17)


def test_coco_2017_split_names_are_found(tmp_path: Path) -> None:
    write_set(tmp_path, valid_doc(), split="val2017")
    dataset = CocoKeypoints.load(tmp_path, "val", 17)
    assert dataset.split == "val2017"
    assert dataset.images[1].path == tmp_path / "val2017" / "a.jpg"


def test_an_empty_split_is_refused(tmp_path: Path) -> None:
    doc = valid_doc()
    doc["annotations"][0]["keypoints"] = [0, 0, 0] * 17
    write_set(tmp_path, doc)
    with pytest.raises(EmptyDatasetError, match="no person with a labelled keypoint"):
        CocoKeypoints.load(tmp_path, "val", 17).top_down()


def test_crowd_and_other_categories_are_skipped(tmp_path: Path) -> None:
    doc = valid_doc()
    doc["annotations"].append({**doc["annotations"][0], "id": 2, "iscrowd": 1, "keypoints": []})
    doc["annotations"].append({**doc["annotations"][0], "id": 3, "category_id": 2})
    write_set(tmp_path, doc)
    assert len(CocoKeypoints.load(tmp_path, "val", 17).people) == 1


def test_a_missing_or_broken_image_is_named(tmp_path: Path, tiny_data: Path) -> None:
    with pytest.raises(MissingImageError, match=r"a.jpg: image file not found"):
        read_image(tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(MissingImageError, match=r"b.jpg: not a readable image"):
        read_image(tmp_path / "b.jpg")
    shutil.copy(next((tiny_data / "val").glob("*.jpg")), tmp_path / "c.jpg")
    assert read_image(tmp_path / "c.jpg").dtype.name == "uint8"
