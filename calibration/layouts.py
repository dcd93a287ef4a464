"""Which dataset layout a ``--data`` or ``--calibration-data`` folder has.

posepipe reads datasets in the trees they ship in, never asking a user to convert
them (docs/datasets.md draws each tree):

- COCO 2017: ``annotations/person_keypoints_{train,val}2017.json`` with the images
  in ``train2017/`` and ``val2017/``;
- a COCO-format folder with plain split names, as the synthetic generator writes it:
  ``annotations/person_keypoints_{train,val}.json`` with ``train/`` and ``val/``;
- AI Challenger keypoints 2017: the training and validation folders as they unzip
  (``SPLITS`` below), each with its annotation list and its image folder.

A folder is recognised by an annotation file of either split, so a calibration
folder with only a train split counts; the split a stage needs is then looked up
and named when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from posepipe.calibration.errors import DatasetNotFoundError


class Layout(StrEnum):
    """In the order they are looked for (the COCO reader also tries plain split names first)."""

    COCO = "coco"  # plain split names: the synthetic generator's, or any COCO-format set
    COCO_2017 = "coco-2017"
    AI_CHALLENGER = "ai-challenger-2017"


@dataclass(frozen=True)
class AicSplit:
    """One split of AI Challenger keypoints 2017 as it unzips: a folder holding the
    annotation list and the image folder (whose date differs from the list's)."""

    folder: str
    annotations: str
    images: str

    @property
    def annotation_path(self) -> str:
        return f"{self.folder}/{self.annotations}"


AIC_SPLITS = {
    "train": AicSplit("ai_challenger_keypoint_train_20170909", "keypoint_train_annotations_20170909.json",
                      "keypoint_train_images_20170902"),
    "val": AicSplit("ai_challenger_keypoint_validation_20170911", "keypoint_validation_annotations_20170911.json",
                    "keypoint_validation_images_20170911"),
}

AIC_SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val",
                   **{split.folder: name for name, split in AIC_SPLITS.items()}}  # the manifest records the folder

_COCO_FILES = {Layout.COCO: "annotations/person_keypoints_{split}.json",
               Layout.COCO_2017: "annotations/person_keypoints_{split}2017.json"}
_NAMES = {Layout.COCO: "COCO-format (the synthetic generator's)", Layout.COCO_2017: "COCO 2017",
          Layout.AI_CHALLENGER: "AI Challenger keypoints 2017"}


def annotation_files(root: Path, layout: Layout) -> list[Path]:
    """The layout's annotation files that are in ``root`` (train, then val)."""
    if layout is Layout.AI_CHALLENGER:
        paths = [root / split.annotation_path for split in AIC_SPLITS.values()]
    else:
        paths = [root / _COCO_FILES[layout].format(split=split) for split in ("train", "val")]
    return [path for path in paths if path.is_file()]


def aic_split(root: Path, split: str) -> AicSplit:
    """AI Challenger's ``split`` (train or val, or its folder's name), refused when not in ``root``."""
    if split not in AIC_SPLIT_NAMES:
        raise DatasetNotFoundError(f"{root}: AI Challenger has no split {split!r} (train or val)")
    found = AIC_SPLITS[AIC_SPLIT_NAMES[split]]
    if not (root / found.annotation_path).is_file():
        raise DatasetNotFoundError(f"{root}: no {found.annotation_path} (AI Challenger's {split} split)")
    return found


def find_layout(root: Path) -> Layout | None:
    """The first layout (plain COCO, COCO 2017, AI Challenger) with an annotation file in ``root``."""
    return next((layout for layout in Layout if annotation_files(root, layout)), None)


def detect(root: Path) -> Layout:
    """The layout of ``root``; one line listing what was looked for when it has none."""
    if not root.is_dir():
        raise DatasetNotFoundError(f"{root}: dataset folder not found")
    layout = find_layout(root)
    if layout is None:
        raise DatasetNotFoundError(f"{root}: no dataset layout posepipe reads; looked for {expected()} "
                                   "(docs/datasets.md)")
    return layout


def expected() -> str:
    """The annotation file of each layout's val split, for messages."""
    files = {**{layout: pattern.format(split="val") for layout, pattern in _COCO_FILES.items()},
             Layout.AI_CHALLENGER: AIC_SPLITS["val"].annotation_path}
    return "; ".join(f"{_NAMES[layout]}: {files[layout]}" for layout in Layout)
