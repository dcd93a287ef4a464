"""Small datasets written exactly as COCO 2017 and AI Challenger keypoints 2017 ship,
made from a synthetic COCO-format set (its real JPEG files and its people), so the
readers and a run are tested on the real trees and the real JSON structures:

- COCO 2017: ``annotations/person_keypoints_{train,val}2017.json`` beside
  ``train2017/`` and ``val2017/``; the JSON with ``info``, ``licenses``, images with
  ``license``, ``coco_url``, ``flickr_url`` and ``date_captured`` under twelve-digit
  file names, annotations with segmentation polygons and ``num_keypoints``, crowd
  regions (``iscrowd: 1``) with uncompressed RLE counts and no keypoints, small
  people with none labelled, and the person category with its ``supercategory``,
  keypoint names and 1-based skeleton (cocoapi's person_keypoints files).
- AI Challenger: ``ai_challenger_keypoint_{train_20170909,validation_20170911}/``, each
  holding its annotation list and image folder; entries ``{"url", "image_id",
  "keypoint_annotations", "human_annotations"}`` with the aic-14 order, visibility 1
  visible / 2 hidden / 3 not labelled, boxes as corners (AI_Challenger_2017's
  keypoint_annotations_example.json).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.calibration.layouts import AIC_SPLITS
from posepipe.models.keypoints import AIC_14, COCO_17

COCO_INFO = {"description": "COCO 2017 Dataset", "url": "http://cocodataset.org", "version": "1.0", "year": 2017,
             "contributor": "COCO Consortium", "date_created": "2017/09/01"}
COCO_LICENSES = [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1,
                  "name": "Attribution-NonCommercial-ShareAlike License"},
                 {"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4, "name": "Attribution License"}]


@dataclass(frozen=True)
class Written:
    """What a writer put in one split, for the tests' expectations."""

    people: int  # labelled or not, as the source had them
    crowds: int  # COCO crowd regions added
    images: int


def write_coco_2017(root: Path, source: Path) -> dict[str, Written]:
    """``source``'s train and val splits (plain names) as COCO 2017's files."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    return {split: _coco_split(root, source, split) for split in ("train", "val")}


def _coco_split(root: Path, source: Path, split: str) -> Written:
    doc = json.loads((source / "annotations" / f"person_keypoints_{split}.json").read_text())
    folder = root / f"{split}2017"
    folder.mkdir(parents=True, exist_ok=True)
    ids = {image["id"]: 139 + 397 * i for i, image in enumerate(doc["images"])}  # COCO's ids have gaps
    images = []
    for i, image in enumerate(doc["images"]):
        name = f"{ids[image['id']]:012d}.jpg"
        shutil.copy(source / split / image["file_name"], folder / name)
        images.append({"license": COCO_LICENSES[i % 2]["id"], "file_name": name,
                       "coco_url": f"http://images.cocodataset.org/{split}2017/{name}",
                       "height": image["height"], "width": image["width"], "date_captured": "2013-11-14 16:28:13",
                       "flickr_url": f"http://farm3.staticflickr.com/2000/{ids[image['id']]}_0a1b2c3d4e_z.jpg",
                       "id": ids[image["id"]]})
    annotations = [_coco_person(a, ids[a["image_id"]], 183_000 + i) for i, a in enumerate(doc["annotations"])]
    crowds = [_crowd(image, 900_100_000_000 + i) for i, image in enumerate(images) if i % 3 == 0]
    out = {"info": COCO_INFO, "licenses": COCO_LICENSES, "images": images, "annotations": annotations + crowds,
           "categories": [{"supercategory": "person", "id": 1, "name": "person", "keypoints": list(COCO_17.names),
                           "skeleton": [[a + 1, b + 1] for a, b in COCO_17.skeleton]}]}
    (root / "annotations" / f"person_keypoints_{split}2017.json").write_text(json.dumps(out))
    return Written(len(annotations), len(crowds), len(images))


def _coco_person(annotation: dict[str, Any], image_id: int, annotation_id: int) -> dict[str, Any]:
    x, y, w, h = annotation["bbox"]
    outline = [round(v, 2) for v in (x, y, x + w, y, x + w, y + h, x, y + h)]
    flags = annotation["keypoints"][2::3]
    return {"segmentation": [outline], "num_keypoints": sum(1 for v in flags if v > 0), "area": annotation["area"],
            "iscrowd": 0, "keypoints": annotation["keypoints"], "image_id": image_id, "bbox": annotation["bbox"],
            "category_id": 1, "id": annotation_id}


def _crowd(image: dict[str, Any], annotation_id: int) -> dict[str, Any]:
    """A crowd region over the image's left third: COCO writes these with column-major
    uncompressed RLE counts (runs alternating background, foreground) and no keypoints."""
    h, w = image["height"], image["width"]
    top, bottom, columns = h // 4, h // 2, w // 3
    counts = [top]
    for _ in range(columns):
        counts += [bottom - top, h - (bottom - top)]
    counts[-1] = h - bottom + (w - columns) * h
    return {"segmentation": {"counts": counts, "size": [h, w]}, "num_keypoints": 0,
            "area": float(columns * (bottom - top)), "iscrowd": 1, "keypoints": [0] * 3 * len(COCO_17),
            "image_id": image["id"], "bbox": [0.0, float(top), float(columns), float(bottom - top)],
            "category_id": 1, "id": annotation_id}


def write_ai_challenger(root: Path, source: Path) -> dict[str, Written]:
    """``source``'s train and val splits as AI Challenger's folders, its COCO-17 people
    relabelled on aic-14 (neck and head top made from the shoulders and the face)."""
    return {split: _aic_split(root, source, split) for split in ("train", "val")}


def _aic_split(root: Path, source: Path, split: str) -> Written:
    layout = AIC_SPLITS[split]
    doc = json.loads((source / "annotations" / f"person_keypoints_{split}.json").read_text())
    images = root / layout.folder / layout.images
    images.mkdir(parents=True, exist_ok=True)
    people: dict[int, list[dict[str, Any]]] = {image["id"]: [] for image in doc["images"]}
    for annotation in doc["annotations"]:
        people[annotation["image_id"]].append(annotation)
    entries = []
    for image in doc["images"]:
        stem = hashlib.sha1(f"{split}/{image['file_name']}".encode()).hexdigest()  # AI Challenger's names are sha1s
        shutil.copy(source / split / image["file_name"], images / f"{stem}.jpg")
        humans = {f"human{j + 1}": a for j, a in enumerate(people[image["id"]])}
        entries.append({"url": f"http://www.sinaimg.cn/dy/slidenews/2_img/2017_07/{stem[:6]}.jpg", "image_id": stem,
                        "keypoint_annotations": {n: aic_keypoints(a["keypoints"]) for n, a in humans.items()},
                        "human_annotations": {n: aic_box(a["bbox"]) for n, a in humans.items()}})
    (root / layout.annotation_path).write_text(json.dumps(entries))
    return Written(sum(len(p) for p in people.values()), 0, len(entries))


def aic_keypoints(coco: list[float]) -> list[int]:
    """COCO-17 keypoints as AI Challenger labels them: aic-14 order, whole pixels,
    its flags (1 visible, 2 hidden, 3 not labelled at 0, 0)."""
    points = np.asarray(coco, np.float64).reshape(len(COCO_17), 3)
    by_name = {name: points[i] for i, name in enumerate(COCO_17.names)}
    shoulders = by_name["left_shoulder"], by_name["right_shoulder"]
    neck = np.zeros(3)
    if all(p[2] > 0 for p in shoulders):
        neck = np.array([*(shoulders[0][:2] + shoulders[1][:2]) / 2, min(p[2] for p in shoulders)])
    nose, head_top = by_name["nose"], np.zeros(3)
    if nose[2] > 0 and neck[2] > 0:
        head_top = np.array([*(nose[:2] + 0.6 * (nose[:2] - neck[:2])), nose[2]])
    by_name.update(neck=neck, head_top=head_top)
    out: list[int] = []
    for name in AIC_14.names:
        x, y, v = by_name[name]
        out += [round(x), round(y), 1] if v == 2 else [round(x), round(y), 2] if v == 1 else [0, 0, 3]
    return out


def aic_box(bbox: list[float]) -> list[int]:
    x, y, w, h = bbox
    return [round(x), round(y), round(x + w), round(y + h)]
