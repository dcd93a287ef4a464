"""COCO person-keypoints entries checked like user input: the types and ranges of
every field a run uses, one error naming file, entry and field for what cannot
be used, and a count of the annotations skipped by policy (see ``calibration.coco``).

A JSON document can hold anything (``NaN``, ``1e999``, ``true`` for a number,
ids repeated), so nothing here trusts a value before checking it: every number
must be finite as the 32-bit float it becomes, and every reference must resolve.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from posepipe.calibration.errors import DatasetFormatError

FLOAT32_MAX = float(np.finfo(np.float32).max)
EDGE_TOLERANCE = 1.0  # pixels a box may reach past its image (rounding) before it is clipped
VISIBILITY = frozenset((0, 1, 2))  # COCO: 0 not labelled, 1 labelled but hidden, 2 labelled and visible


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


class Skip(StrEnum):
    """Why a well-formed annotation is not used (or not used as written)."""

    CROWD = "crowd regions (iscrowd=1: many people, no keypoints)"
    NOT_PERSON = "not a person (category_id is not 1)"
    EMPTY_BOX = "box of zero width or height"
    OUTSIDE = "box outside its image"
    NO_AREA = "zero area"
    CLIPPED = "box reaching past its image, clipped to it (kept)"


class Entry:
    """One JSON object of the file, for checking its fields: every failure names
    the file, the entry (index and id) and the field."""

    def __init__(self, path: Path, kind: str, index: int, value: Any) -> None:
        self.path = path
        self.where = f"{kind}[{index}]"
        self.known_as = ""
        if not isinstance(value, dict):
            self.fail(f"is {_json_type(value)}, not an object")
        self.value: dict[str, Any] = value
        if _is_integer(value.get("id")):
            self.known_as = f" (entry id {int(value['id'])})"

    def fail(self, message: str, field: str | None = None) -> NoReturn:
        target = f"{self.where}.{field}" if field else self.where
        raise DatasetFormatError(f"{self.path}: {target} {message}{self.known_as}")

    def integer(self, field: str, default: int | None = None) -> int:
        value = self.value.get(field, default)
        if not _is_integer(value):
            self.fail("is missing" if value is None else f"is {_show(value)}, not an integer", field)
        return int(value)

    def positive_integer(self, field: str) -> int:
        value = self.integer(field)
        if value <= 0:
            self.fail(f"is {value}, not positive", field)
        return value

    def numbers(self, field: str, count: int, meaning: str) -> list[float]:
        """A list of exactly ``count`` finite numbers (as 32-bit floats)."""
        values = self.value.get(field)
        if not isinstance(values, list):
            self.fail("is missing" if values is None else f"is {_json_type(values)}, not a list ({meaning})", field)
        if len(values) != count:
            self.fail(f"has {len(values)} values, expected {count} ({meaning})", field)
        with contextlib.suppress(OverflowError):  # the common case in one pass; else the culprit, below
            if all(type(v) is float or type(v) is int for v in values) and all(map(math.isfinite, values)) \
                    and max(map(abs, values), default=0) <= FLOAT32_MAX:
                return values
        for i, value in enumerate(values):
            if not _is_number(value):
                self.fail(f"is {_show(value)}, not a number", f"{field}[{i}]")
            if not _finite(value):
                self.fail(f"is {_show(value)}, not a finite number", f"{field}[{i}]")
        return values

    def non_negative(self, field: str, default: float) -> float:
        value = self.value.get(field, default)
        if not _is_number(value) or not _finite(value):
            self.fail(f"is {_show(value)}, not a finite number", field)
        if value < 0:
            self.fail(f"is {value}, negative", field)
        return float(value)


def parse_images(doc: Any, path: Path, folder: Path) -> dict[int, CocoImage]:
    if not isinstance(doc, dict):
        raise DatasetFormatError(f"{path}: is {_json_type(doc)}; expected a JSON object with 'images' and "
                                 "'annotations'")
    for key in ("images", "annotations"):
        if not isinstance(doc.get(key), list):
            raise DatasetFormatError(f"{path}: '{key}' is missing or not a list")
    images: dict[int, CocoImage] = {}
    for i, value in enumerate(doc["images"]):
        entry = Entry(path, "images", i, value)
        image_id = entry.integer("id")
        name = entry.value.get("file_name")
        if not isinstance(name, str) or not name.strip():
            entry.fail("is missing or not a file name", "file_name")
        width, height = entry.positive_integer("width"), entry.positive_integer("height")
        if image_id in images:
            entry.fail(f"{image_id} appears twice (also {images[image_id].path.name})", "id")
        images[image_id] = CocoImage(image_id, folder / name, width, height)
    return images


def parse_people(doc: dict[str, Any], path: Path, images: dict[int, CocoImage],
                 k: int) -> tuple[list[Person], Counter[Skip]]:
    """The people a run can use, and how many annotations were skipped, by reason."""
    people: list[Person] = []
    skipped: Counter[Skip] = Counter()
    ids: set[int] = set()
    for i, value in enumerate(doc["annotations"]):
        entry = Entry(path, "annotations", i, value)
        if "id" in entry.value:
            annotation_id = entry.integer("id")
            if annotation_id in ids:
                entry.fail(f"{annotation_id} appears twice", "id")
            ids.add(annotation_id)
        image_id = entry.integer("image_id")
        if image_id not in images:
            entry.fail(f"{image_id} is not in 'images'", "image_id")
        crowd = entry.value.get("iscrowd", 0)
        if not (isinstance(crowd, bool) or _is_integer(crowd)) or crowd not in (0, 1):
            entry.fail(f"is {_show(crowd)}, not 0 or 1", "iscrowd")
        if crowd:
            skipped[Skip.CROWD] += 1
            continue
        if entry.integer("category_id", 1) != 1:
            skipped[Skip.NOT_PERSON] += 1
            continue
        person, skip = _person(entry, images[image_id], k)
        if skip is not None:
            skipped[skip] += 1
        if person is not None:
            people.append(person)
    return people, skipped


def _person(entry: Entry, image: CocoImage, k: int) -> tuple[Person | None, Skip | None]:
    values = entry.numbers("keypoints", 3 * k, f"{k} keypoints x 3")
    bad = next((j for j, flag in enumerate(values[2::3]) if flag not in VISIBILITY), None)
    if bad is not None:
        entry.fail(f"is {values[3 * bad + 2]:g}: keypoint {bad}'s visibility flag must be 0, 1 or 2",
                   f"keypoints[{3 * bad + 2}]")
    keypoints = np.asarray(values, np.float32).reshape(k, 3)
    x, y, w, h = (float(v) for v in entry.numbers("bbox", 4, "x, y, width, height"))
    if w < 0 or h < 0:
        entry.fail(f"has a negative width or height ({w:g} x {h:g})", "bbox")
    return place_person(image, keypoints, (x, y, w, h), entry.non_negative("area", w * h))


def place_person(image: CocoImage, keypoints: np.ndarray, bbox: tuple[float, float, float, float],
                 area: float) -> tuple[Person | None, Skip | None]:
    """A checked person as a run uses it, or why not (the policy of calibration/coco.py),
    whichever file format it came from."""
    x, y, w, h = bbox
    if not (keypoints[:, 2] > 0).any():  # no sample and nothing to judge: kept as written (see calibration/coco.py)
        return Person(image.id, (x, y, w, h), keypoints, area), None
    if w == 0 or h == 0:
        return None, Skip.EMPTY_BOX
    left, top = max(x, 0.0), max(y, 0.0)
    right, bottom = min(x + w, float(image.width)), min(y + h, float(image.height))
    if right <= left or bottom <= top:
        return None, Skip.OUTSIDE
    if area == 0:
        return None, Skip.NO_AREA
    reach = max(-x, -y, x + w - image.width, y + h - image.height)
    if reach <= EDGE_TOLERANCE:
        return Person(image.id, (x, y, w, h), keypoints, area), None
    return Person(image.id, (left, top, right - left, bottom - top), keypoints, area), Skip.CLIPPED


def _is_integer(value: Any) -> bool:
    """An int, or a float with no fraction (some tools write 640.0); never a bool."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    """Finite, and finite as a 32-bit float (1e300 is not: it becomes inf)."""
    try:
        return math.isfinite(value) and abs(value) <= FLOAT32_MAX
    except OverflowError:  # an int beyond any float
        return False


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _show(value: Any) -> str:
    """A value as it may appear in a one-line message: short, JSON-like."""
    if isinstance(value, str | list | dict):
        text = repr(value)
        return _json_type(value) + (f" {text}" if len(text) <= 40 else "")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        return "an integer too large"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
