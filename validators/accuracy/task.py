"""The task a model is judged on, by its topology: how decoded keypoints are
collected, scored against ground truth and compared between two runtimes.

Top-down: one person per crop, PCK@0.2 and per-keypoint agreement. Bottom-up:
every person of a whole image, OKS AP (pycocotools) and agreement of poses paired
across the two decodings.
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
from posepipe.validators.accuracy.metrics import Agreement, agreement, pck, pose_agreement, torso_sizes
from posepipe.validators.accuracy.oks import oks_ap


class TaskMetric(StrEnum):
    """The score against ground truth; the value names its manifest keys."""

    PCK = "pck"
    OKS_AP = "oks_ap"

    @property
    def label(self) -> str:
        return {TaskMetric.PCK: "PCK@0.2", TaskMetric.OKS_AP: "OKS AP"}[self]


class Task(Protocol):
    metric: TaskMetric

    def decode_all(self, decoder: Any, outputs: Mapping[str, np.ndarray]) -> Any: ...

    def score(self, samples: SampleSet, decoded: Any, keypoints: KeypointSet) -> float: ...

    def agreement(self, a: Any, b: Any, radius: float) -> Agreement: ...


@dataclass(frozen=True)
class TopDown:
    metric: TaskMetric = TaskMetric.PCK

    def decode_all(self, decoder: Any, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The one person of each sample, [N, K, 3] in input pixels."""
        return np.stack([decoder.decode(_sample(outputs, i))[0] for i in range(_count(outputs))])

    def score(self, samples: SampleSet, decoded: np.ndarray, keypoints: KeypointSet) -> float:
        in_image = np.stack([t.to_image(k) for t, k in zip(samples.transforms, decoded, strict=True)])
        return pck(in_image, samples.keypoints, torso_sizes(samples.keypoints, keypoints))

    def agreement(self, a: np.ndarray, b: np.ndarray, radius: float) -> Agreement:
        return Agreement(agreement(a, b, radius))


@dataclass(frozen=True)
class BottomUp:
    metric: TaskMetric = TaskMetric.OKS_AP

    def decode_all(self, decoder: Any, outputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Every person found in each sample: [P_i, K, 3] in input pixels."""
        return [decoder.decode(_sample(outputs, i)) for i in range(_count(outputs))]

    def score(self, samples: SampleSet, decoded: list[np.ndarray], keypoints: KeypointSet) -> float:
        in_image = [t.to_image(p) for t, p in zip(samples.transforms, decoded, strict=True)]
        return oks_ap(in_image, samples, keypoints.sigmas)

    def agreement(self, a: list[np.ndarray], b: list[np.ndarray], radius: float) -> Agreement:
        return pose_agreement(a, b, radius)


def task_for(topology: Topology) -> Task:
    return TopDown() if topology is Topology.TOP_DOWN else BottomUp()


def _count(outputs: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(outputs.values())))


def _sample(outputs: Mapping[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {name: value[i] for name, value in outputs.items()}
