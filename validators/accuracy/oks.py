"""OKS AP, COCO's keypoint metric for multi-person models, computed by pycocotools.

pycocotools rather than a NumPy rewrite: its matching of detections to people
(by score, OKS thresholds 0.50:0.95, people without labelled keypoints ignored)
is what every published COCO figure uses, and small differences there move AP.
Ground truth and detections are handed to it in memory; its printing is silenced.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from posepipe.calibration.samples import SampleSet


def oks_ap(poses: Sequence[np.ndarray], samples: SampleSet, sigmas: Sequence[float]) -> float:
    """AP at OKS 0.50:0.95 of ``poses`` (per sample [P, K, 3]: x, y, score in image
    pixels) against the samples' people; a pose's score is its keypoints' mean.
    0.0 when nothing was detected (pycocotools cannot load an empty result)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    detections = _detections(poses, samples.image_ids)
    if not detections:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = _ground_truth(samples, len(sigmas))
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(detections), "keypoints")
        evaluation.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        evaluation.params.imgIds = [int(i) for i in samples.image_ids]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return max(float(evaluation.stats[0]), 0.0)  # -1: no labelled person to match


def _ground_truth(samples: SampleSet, k: int) -> dict:
    annotations = []
    for image_id, people, boxes, areas in zip(samples.image_ids, samples.keypoints, samples.bboxes, samples.areas,
                                              strict=True):
        for keypoints, box, area in zip(people, boxes, areas, strict=True):
            if area <= 0:  # a padding row: this image has fewer people
                continue
            annotations.append({
                "id": len(annotations) + 1, "image_id": int(image_id), "category_id": 1, "iscrowd": 0,
                "bbox": [float(v) for v in box], "area": float(area),
                "keypoints": [float(v) for v in keypoints.ravel()],
                "num_keypoints": int((keypoints[:, 2] > 0).sum()),
            })
    return {
        "images": [{"id": int(i)} for i in samples.image_ids],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(k)]}],
    }


def _detections(poses: Sequence[np.ndarray], image_ids: np.ndarray) -> list[dict]:
    detections = []
    for image_id, found in zip(image_ids, poses, strict=True):
        for pose in found:
            flat = np.concatenate([pose[:, :2], np.ones((len(pose), 1))], axis=1)  # COCO ignores a result's flags
            detections.append({"image_id": int(image_id), "category_id": 1,
                               "keypoints": [float(v) for v in flat.ravel()], "score": float(pose[:, 2].mean())})
    return detections
