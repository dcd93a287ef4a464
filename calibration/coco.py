"""The COCO person-keypoints reader: ``annotations/person_keypoints_<split>.json``
plus the image folder ``<split>/``, as COCO 2017 ships it and as the synthetic
generator writes it. Malformed files fail here, with the path and the entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from posepipe.calibration.errors import DatasetFormatError, DatasetNotFoundError, EmptyDatasetError, MissingImageError


@dataclass(frozen=True)
class CocoImage:
    id: int
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class Person:
    image_id: int
    bbox: tuple[float, float, float, float]  # x, y, w, h in image pixels
    keypoints: np.ndarray  # [K, 3]: x, y, v (0 unlabelled, 1 hidden, 2 visible)
    area: float


@dataclass(frozen=True)
class CocoKeypoints:
    """One split of a COCO-keypoints dataset, checked on load."""

    root: Path
    split: str
    annotation_file: Path
    images: dict[int, CocoImage]
    people: tuple[Person, ...]

    @classmethod
    def load(cls, root: Path, split: str, num_keypoints: int) -> CocoKeypoints:
        name = resolve_split(root, split)
        path = root / "annotations" / f"person_keypoints_{name}.json"
        doc = _read_json(path)
        images = _parse_images(doc, path, root / name)
        people = tuple(_parse_people(doc, path, images, num_keypoints))
        return cls(root, name, path, images, people)

    def top_down(self, limit: int | None = None) -> list[tuple[CocoImage, Person]]:
        """Labelled people, one sample each, in file order; refuses an empty split."""
        samples = [(self.images[p.image_id], p) for p in self.people if (p.keypoints[:, 2] > 0).any()]
        if not samples:
            raise EmptyDatasetError(f"{self.annotation_file}: no person with a labelled keypoint")
        return samples[:limit]


    def bottom_up(self, limit: int | None = None) -> list[tuple[CocoImage, tuple[Person, ...]]]:
        """Whole images with their people, in file order (an image nobody stands in
        counts too: a bottom-up model must find no one there); refuses a split
        without a labelled keypoint."""
        if not any((p.keypoints[:, 2] > 0).any() for p in self.people):
            raise EmptyDatasetError(f"{self.annotation_file}: no person with a labelled keypoint")
        people: dict[int, list[Person]] = {i: [] for i in self.images}
        for person in self.people:
            people[person.image_id].append(person)
        return [(self.images[i], tuple(people[i])) for i in list(self.images)[:limit]]


def resolve_split(root: Path, split: str) -> str:
    """``train`` also finds COCO 2017's ``train2017`` (likewise ``val``)."""
    if not root.is_dir():
        raise DatasetNotFoundError(f"{root}: dataset folder not found")
    for name in (split, f"{split}2017"):
        if (root / "annotations" / f"person_keypoints_{name}.json").is_file():
            return name
    raise DatasetNotFoundError(
        f"{root}: no annotations/person_keypoints_{split}.json (nor {split}2017) in this folder"
    )


def read_image(path: Path) -> np.ndarray:
    """An annotated image as uint8 RGB [H, W, 3]."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise MissingImageError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError) as error:
        raise MissingImageError(f"{path}: not a readable image ({error})") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetFormatError(f"{path}: not valid JSON ({error})") from None
    except UnicodeDecodeError:
        raise DatasetFormatError(f"{path}: not a UTF-8 text file") from None


def _require(ok: bool, path: Path, message: str) -> None:
    if not ok:
        raise DatasetFormatError(f"{path}: {message}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_images(doc: Any, path: Path, folder: Path) -> dict[int, CocoImage]:
    _require(isinstance(doc, dict), path, "expected a JSON object with 'images' and 'annotations'")
    for key in ("images", "annotations"):
        _require(isinstance(doc.get(key), list), path, f"'{key}' is missing or not a list")
    images: dict[int, CocoImage] = {}
    for i, entry in enumerate(doc["images"]):
        where = f"images[{i}]"
        _require(isinstance(entry, dict), path, f"{where} is not an object")
        _require(isinstance(entry.get("id"), int), path, f"{where}.id is missing or not an integer")
        _require(isinstance(entry.get("file_name"), str), path, f"{where}.file_name is missing or not a string")
        for key in ("width", "height"):
            _require(_number(entry.get(key)) and entry[key] > 0, path, f"{where}.{key} is missing or not positive")
        _require(entry["id"] not in images, path, f"{where}.id {entry['id']} appears twice")
        images[entry["id"]] = CocoImage(
            entry["id"], folder / entry["file_name"], int(entry["width"]), int(entry["height"])
        )
    return images


def _parse_people(doc: Any, path: Path, images: dict[int, CocoImage], k: int) -> list[Person]:
    people = []
    for i, entry in enumerate(doc["annotations"]):
        where = f"annotations[{i}]"
        _require(isinstance(entry, dict), path, f"{where} is not an object")
        if entry.get("iscrowd", 0) or entry.get("category_id", 1) != 1:
            continue
        image_id = entry.get("image_id")
        _require(image_id in images, path, f"{where}.image_id {image_id!r} is not in 'images'")
        kps = entry.get("keypoints")
        _require(isinstance(kps, list), path, f"{where}.keypoints is missing or not a list")
        _require(len(kps) == 3 * k, path,
                 f"{where}.keypoints has {len(kps)} values, expected {3 * k} ({k} keypoints x 3)")
        _require(all(_number(v) for v in kps), path, f"{where}.keypoints has a value that is not a number")
        bbox = entry.get("bbox")
        _require(isinstance(bbox, list) and len(bbox) == 4 and all(_number(v) for v in bbox),
                 path, f"{where}.bbox is not [x, y, width, height]")
        _require(bbox[2] >= 0 and bbox[3] >= 0, path, f"{where}.bbox has a negative width or height")
        area = entry.get("area", bbox[2] * bbox[3])
        people.append(Person(entry["image_id"], tuple(float(v) for v in bbox),  # type: ignore[arg-type]
                             np.asarray(kps, np.float32).reshape(k, 3), float(area)))
    return people
