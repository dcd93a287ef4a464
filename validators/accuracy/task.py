"""The task a model is judged on, by its topology: how decoded keypoints are
collected, scored against ground truth and compared between two runtimes.

Top-down: one person per crop, PCK@0.2 and per-keypoint agreement. Bottom-up:
every person of a whole image, OKS AP (pycocotools) and agreement of poses paired
across the two decodings; on a keypoint set without OKS constants (MPII, LSP),
PCK@0.2 of the people paired with the ground truth instead. Beside either, PCKh@0.5
where the set has a head segment (``head_score``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from posepipe.calibration.samples import SampleSet
from posepipe.models.keypoints import KeypointSet
from posepipe.models.spec import Topology
from posepipe.validators.accuracy.metrics import (
    Agreement,
    agreement,
    matched,
    pck,
    pckh,
    pose_agreement,
    torso_sizes,
)
from posepipe.validators.accuracy.oks import oks_ap


class TaskMetric(StrEnum):
    """The score against ground truth; the value names its manifest keys."""

    PCK = "pck"
    OKS_AP = "oks_ap"

    @property
    def label(self) -> str:
        return {TaskMetric.PCK: "PCK@0.2", TaskMetric.OKS_AP: "OKS AP"}[self]


# The score beside the main one where the keypoint set has a head segment (``head_score``);
# never a run's main metric, so not a TaskMetric: its manifest keys are ``pckh``, ``pckh_*``.
HEAD_METRIC_LABEL = "PCKh@0.5"


class Task(Protocol):
    metric: TaskMetric

    def decode_all(self, decoder: Any, outputs: Mapping[str, np.ndarray]) -> Any: ...

    def score(self, samples: SampleSet, decoded: Any, keypoints: KeypointSet) -> float: ...

    def head_score(self, samples: SampleSet, decoded: Any, keypoints: KeypointSet) -> float | None: ...

    def agreement(self, a: Any, b: Any, radius: float) -> Agreement: ...


@dataclass(frozen=True)
class TopDown:
    metric: TaskMetric = TaskMetric.PCK

    def decode_all(self, decoder: Any, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The one person of each sample, [N, K, 3] in input pixels."""
        return np.stack([decoder.decode(_sample(outputs, i))[0] for i in range(_count(outputs))])

    def score(self, samples: SampleSet, decoded: np.ndarray, keypoints: KeypointSet) -> float:
        return pck(_in_image(samples, decoded), samples.keypoints, torso_sizes(samples.keypoints, keypoints))

    def head_score(self, samples: SampleSet, decoded: np.ndarray, keypoints: KeypointSet) -> float | None:
        """PCKh@0.5, or None when the set has no head segment."""
        if keypoints.head is None:
            return None
        return pckh(_in_image(samples, decoded), samples.keypoints, keypoints)

    def agreement(self, a: np.ndarray, b: np.ndarray, radius: float) -> Agreement:
        return Agreement(agreement(a, b, radius))


@dataclass(frozen=True)
class BottomUp:
    metric: TaskMetric = TaskMetric.OKS_AP

    def decode_all(self, decoder: Any, outputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Every person found in each sample: [P_i, K, 3] in input pixels."""
        return [decoder.decode(_sample(outputs, i)) for i in range(_count(outputs))]

    def score(self, samples: SampleSet, decoded: list[np.ndarray], keypoints: KeypointSet) -> float:
        if self.metric is TaskMetric.OKS_AP and keypoints.sigmas is not None:
            return oks_ap(_people_in_image(samples, decoded), samples, keypoints.sigmas)
        poses, truth = matched(_people_in_image(samples, decoded), samples.keypoints)
        return pck(poses, truth, torso_sizes(truth, keypoints))

    def head_score(self, samples: SampleSet, decoded: list[np.ndarray], keypoints: KeypointSet) -> float | None:
        """PCKh@0.5 of the people paired with the ground truth, or None without a head segment."""
        if keypoints.head is None:
            return None
        poses, truth = matched(_people_in_image(samples, decoded), samples.keypoints)
        return pckh(poses, truth, keypoints)

    def agreement(self, a: list[np.ndarray], b: list[np.ndarray], radius: float) -> Agreement:
        return pose_agreement(a, b, radius)


def task_for(topology: Topology, keypoints: KeypointSet | None = None) -> Task:
    """The task of ``topology`` on ``keypoints``: a bottom-up model on a set without OKS
    constants is scored by PCK@0.2 (OKS AP needs them); no set given: its usual metric."""
    if topology is Topology.TOP_DOWN:
        return TopDown()
    return BottomUp(TaskMetric.PCK if keypoints is not None and keypoints.sigmas is None else TaskMetric.OKS_AP)


def _in_image(samples: SampleSet, decoded: np.ndarray) -> np.ndarray:
    return np.stack([t.to_image(k) for t, k in zip(samples.transforms, decoded, strict=True)])


def _people_in_image(samples: SampleSet, decoded: list[np.ndarray]) -> list[np.ndarray]:
    return [t.to_image(p) for t, p in zip(samples.transforms, decoded, strict=True)]


def _count(outputs: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(outputs.values())))


def _sample(outputs: Mapping[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {name: value[i] for name, value in outputs.items()}
