"""The COCO person-keypoints reader: ``annotations/person_keypoints_<split>.json``
plus the image folder ``<split>/``, as COCO 2017 ships it and as the synthetic
generator writes it. Annotations are checked like user input (calibration/coco_parse.py).

What stops the run (DatasetFormatError, exit 6, naming file, entry and field):
anything that is not what COCO writes, because no reading of it is safe to
guess: malformed JSON; a value of the wrong type; a number that is not finite
(NaN, 1e999); a keypoint list that is not K triplets; a visibility flag other
than 0, 1 or 2; a box of negative size; a negative area; an image id or an
annotation id used twice; an annotation of an image that is not in ``images``.

What is skipped and counted (``CocoKeypoints.skipped``, which the stages print
as one note): well-formed annotations a pose model can neither learn from nor be
judged on. Crowd regions (``iscrowd=1``: COCO 2017 has them among its person
annotations, and its own keypoint evaluation ignores them), other categories,
and labelled people whose box has zero width or height or lies wholly outside
their image, or whose area is zero (OKS divides by the area; a zero would also
read as an empty slot of a bottom-up sample). Skipping them loses nothing a run could use, where refusing
them would refuse COCO itself. A box reaching more than a pixel past its image
is clipped to it and counted. People with no labelled keypoint (COCO's
``num_keypoints: 0``: small or occluded people; the synthetic crowds' figures
drawn past the picture's edge) stay as written, whatever their box: no top-down
sample is made of them and no OKS counts them, so there is nothing to skip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.calibration.aic import read_split
from posepipe.calibration.coco_parse import CocoImage, Person, Skip, parse_images, parse_people
from posepipe.calibration.errors import (
    DatasetNotFoundError,
    EmptyDatasetError,
    KeypointSetMismatchError,
)
from posepipe.calibration.files import open_image, read_json
from posepipe.calibration.layouts import Layout, find_layout
from posepipe.models.keypoints import KeypointSet, find_set

__all__ = ["CocoImage", "CocoKeypoints", "Person", "Skip", "read_image", "resolve_split"]


@dataclass(frozen=True)
class CocoKeypoints:
    """One split of a COCO-keypoints dataset, checked on load."""

    root: Path
    split: str
    annotation_file: Path
    images: dict[int, CocoImage]
    people: tuple[Person, ...]
    skipped: Mapping[Skip, int] = field(default_factory=dict)  # annotations not used as written, by reason

    @classmethod
    def load(cls, root: Path, split: str, keypoints: KeypointSet | int) -> CocoKeypoints:
        """``split`` for a model on ``keypoints``: the set (checked against the person
        category's keypoint names, which decide the data's set), or only its size."""
        if find_layout(root) is Layout.AI_CHALLENGER:  # the same records from AI Challenger's own files
            aic = read_split(root, split, keypoints)
            return cls(root, aic.name, aic.annotation_file, aic.images, tuple(aic.people), dict(aic.skipped))
        name = resolve_split(root, split)
        path = root / "annotations" / f"person_keypoints_{name}.json"
        doc = read_json(path, "a COCO")
        if isinstance(keypoints, KeypointSet):
            check_keypoint_set(doc, path, keypoints)
        images = parse_images(doc, path, root / name)
        people, skipped = parse_people(doc, path, images, len(keypoints) if isinstance(keypoints, KeypointSet)
                                       else keypoints)
        return cls(root, name, path, images, tuple(people), dict(skipped))

    def skipped_note(self) -> str | None:
        """One line for the console: how many annotations were skipped (or clipped), and why."""
        if not self.skipped:
            return None
        reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        return f"{self.annotation_file.name}: {sum(self.skipped.values())} annotation(s) not used as written: {reasons}"

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


def check_keypoint_set(doc: Any, path: Path, keypoints: KeypointSet) -> None:
    """The person category's ``keypoints`` names (COCO writes them) must be the model's
    set, in its order: a 14-keypoint file of LSP read as AI Challenger's would train
    every joint on another's labels. A file without names is left to the count check."""
    categories = doc.get("categories") if isinstance(doc, dict) else None
    person = next((c for c in categories if isinstance(c, dict) and c.get("id") == 1), None) \
        if isinstance(categories, list) else None
    names = person.get("keypoints") if person else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or keypoints.labels(names):
        return
    found = find_set(names)
    listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    theirs = found.name if found else f"{len(names)} keypoints ({listed})"
    hint = f"; use a model on it (-o keypoints={found.name})" if found else ""
    raise KeypointSetMismatchError(f"{path}: the data's keypoint set is {theirs} but the model's is "
                                   f"{keypoints.name}{hint}")


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
    """An annotated image as uint8 RGB [H, W, 3] (calibration/files.py says what an
    unreadable or too large image is)."""
    with open_image(path) as image:
        return np.asarray(image.convert("RGB"))
