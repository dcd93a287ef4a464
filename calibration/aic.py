"""The AI Challenger keypoints (2017) reader: the annotation list of a split as the
challenge ships it, turned into the records the COCO reader gives (calibration/coco.py),
so every stage reads either dataset the same way.

The file is one JSON list, an entry per image (AI Challenger's own
keypoint_eval.py and keypoint_annotations_example.json, github.com/AIChallenger/
AI_Challenger_2017, AI_Challenger_eval_public/keypoint_eval):
``{"url", "image_id": the image's file stem, "keypoint_annotations": {"human1":
[x, y, v] * 14, ...}, "human_annotations": {"human1": [x1, y1, x2, y2], ...}}``,
keypoints in the aic-14 order. Its visibility flags are not COCO's: 1 visible,
2 labelled but not visible, 3 not labelled (then x = y = 0), in the order the task
description lists them (challenger.ai/competition/keypoint/subject: "labeled and
visible, labeled but not visible, or not labeled"); keypoint_eval.py scores only
``v == 1`` and the example file writes ``0, 0, 3`` for missing joints. They map to
COCO's 2, 1 and 0. The box is the person's
(corners, not width and height); the area is the box's, as that evaluator's OKS
scale is. The file gives no image size, so each image's is read from its header.

Entries are checked like the COCO reader's (calibration/coco_parse.py): what
cannot be used stops the load with one line naming the file, the entry (index and
image_id) and the field, as ``[3].keypoint_annotations.human2[5]``; people a run
cannot use (a box of zero size, outside its image) are skipped and counted under
the same reasons, and a box reaching past its image is clipped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.calibration.coco_parse import CocoImage, Entry, Person, Skip, place_person
from posepipe.calibration.errors import (
    DatasetFormatError,
    KeypointSetMismatchError,
)
from posepipe.calibration.files import open_image, read_json
from posepipe.calibration.layouts import aic_split
from posepipe.models.keypoints import AIC_14, KeypointSet

FLAGS = {1: 2, 2: 1, 3: 0}  # AI Challenger's visibility flag -> COCO's


@dataclass(frozen=True)
class AicSplitData:
    """One split, as the fields of a ``CocoKeypoints``."""

    name: str  # the split's folder, as the manifest records it
    annotation_file: Path
    images: dict[int, CocoImage]
    people: list[Person]
    skipped: Counter[Skip]


def read_split(root: Path, split: str, keypoints: KeypointSet | int) -> AicSplitData:
    """``split`` (train or val, or its folder's name) of the AI Challenger dataset in ``root``,
    for a model on ``keypoints`` (the set, or its size)."""
    layout = aic_split(root, split)
    path = root / layout.annotation_path
    _check_keypoints(path, keypoints)
    doc = read_json(path, "an AI Challenger")
    if not isinstance(doc, list):
        raise DatasetFormatError(f"{path}: is {_kind(doc)}; expected AI Challenger's JSON list of images")
    folder = root / layout.folder / layout.images
    images: dict[int, CocoImage] = {}
    people: list[Person] = []
    skipped: Counter[Skip] = Counter()
    stems: set[str] = set()
    for index, value in enumerate(doc):
        entry = Entry(path, "", index, value)
        path_of_image = _image_path(entry, folder, stems)
        labels = _people(entry)
        image = CocoImage(index + 1, path_of_image, *_image_size(path_of_image))
        images[image.id] = image
        for person, skip in (place_person(image, *label) for label in labels):
            if skip is not None:
                skipped[skip] += 1
            if person is not None:
                people.append(person)
    return AicSplitData(layout.folder, path, images, people, skipped)


def check_keypoints(root: Path, keypoints: KeypointSet | int) -> None:
    """Refuses a model on another set than AI Challenger's before anything loads (the data stage)."""
    _check_keypoints(root / aic_split(root, "val").annotation_path, keypoints)


def _check_keypoints(path: Path, keypoints: KeypointSet | int) -> None:
    """AI Challenger labels the aic-14 set: a model on any other set cannot be trained or judged on it
    (worded as calibration/coco.py words a COCO file of another set)."""
    if isinstance(keypoints, KeypointSet):
        if keypoints.names == AIC_14.names:
            return
        model = f"is {keypoints.name}"
    elif keypoints == len(AIC_14):
        return
    else:
        model = f"has {keypoints} keypoints"
    raise KeypointSetMismatchError(f"{path}: the data's keypoint set is {AIC_14.name} but the model's {model}; "
                                   f"use a model on it (-o keypoints={AIC_14.name})")


def _image_path(entry: Entry, folder: Path, stems: set[str]) -> Path:
    stem = entry.value.get("image_id")
    if not isinstance(stem, str) or not stem.strip() or not stem.isprintable() or "/" in stem or "\\" in stem \
            or stem in (".", ".."):  # a plain name: never a path out of the image folder
        entry.fail("is missing or not a file name (the image's name without .jpg)", "image_id")
    entry.known_as = f" (image_id {stem})"
    if stem in stems:
        entry.fail("appears twice", "image_id")
    stems.add(stem)
    return folder / f"{stem}.jpg"


def _people(entry: Entry) -> list[tuple[np.ndarray, tuple[float, float, float, float], float]]:
    """Each human of an entry, checked: keypoints (COCO's flags), box (x, y, w, h) and area."""
    humans = {field: _humans(entry, field) for field in ("keypoint_annotations", "human_annotations")}
    keypoint_names, box_names = (list(h) for h in humans.values())
    for name in keypoint_names + box_names:
        if name not in humans["keypoint_annotations"] or name not in humans["human_annotations"]:
            field = "human_annotations" if name in keypoint_names else "keypoint_annotations"
            entry.fail("is missing (each human needs keypoints and a box)", f"{field}.{name}")
    flat = Entry(entry.path, "", 0, {f"{field}.{name}": value for field, people in humans.items()
                                     for name, value in people.items()})
    flat.where, flat.known_as = entry.where, entry.known_as
    return [_person(flat, name) for name in keypoint_names]


def _humans(entry: Entry, field: str) -> dict[str, Any]:
    value = entry.value.get(field)
    if not isinstance(value, dict):
        entry.fail("is missing" if value is None else f"is {_kind(value)}, not an object of humans", field)
    return value


def _person(flat: Entry, name: str) -> tuple[np.ndarray, tuple[float, float, float, float], float]:
    k = len(AIC_14)
    field = f"keypoint_annotations.{name}"
    values = flat.numbers(field, 3 * k, f"{k} keypoints x 3")
    bad = next((j for j, flag in enumerate(values[2::3]) if flag not in FLAGS), None)
    if bad is not None:
        flat.fail(f"is {values[3 * bad + 2]:g}: keypoint {bad}'s visibility flag must be 1, 2 or 3",
                  f"{field}[{3 * bad + 2}]")
    keypoints = np.asarray(values, np.float32).reshape(k, 3)
    keypoints[:, 2] = [FLAGS[int(flag)] for flag in keypoints[:, 2]]
    keypoints[keypoints[:, 2] == 0, :2] = 0.0  # not labelled: no position, as COCO writes it
    x1, y1, x2, y2 = (float(v) for v in flat.numbers(f"human_annotations.{name}", 4, "x1, y1, x2, y2"))
    if x2 < x1 or y2 < y1:
        flat.fail(f"has a corner before its origin ({x1:g}, {y1:g}, {x2:g}, {y2:g})", f"human_annotations.{name}")
    w, h = x2 - x1, y2 - y1
    return keypoints, (x1, y1, w, h), w * h


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height from the image's header (nothing is decoded)."""
    with open_image(path) as image:
        return image.size


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
