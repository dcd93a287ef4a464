"""Validation of one artifact: its runtime beside the Keras reference on labelled
val images, compared tensor by tensor and on the task (decoded keypoints, PCK)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from calibration.samples import SampleSet
from models.spec import ModelSpec, Tolerance
from validators.compare import OutputComparison, compare_names, compare_output
from validators.coreml_eval.errors import UnreadableArtifactError, UnsupportedOpError
from validators.metrics import agreement, pck, torso_sizes
from validators.runners import Feed, KerasRunner, NotExecutableError, Runner, runner_for


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_EXECUTED = "not-executed"


@dataclass(frozen=True)
class TaskMetrics:
    pck_reference: float  # PCK@0.2 of the Keras reference on the same samples
    pck: float
    pck_delta: float  # in points: 100 x (artifact - reference)
    agreement: float  # share of keypoints within ``agreement_px`` of the reference's
    agreement_px: float


@dataclass(frozen=True)
class ValidationResult:
    status: Status
    runtime: str | None
    samples: int = 0
    outputs: tuple[OutputComparison, ...] = ()
    task: TaskMetrics | None = None
    failures: tuple[str, ...] = ()
    mean_inference_ms: float | None = None
    reason: str | None = None  # why an artifact was not executed

    @classmethod
    def not_executed(cls, reason: str) -> ValidationResult:
        return cls(Status.NOT_EXECUTED, None, reason=reason)


@dataclass(frozen=True)
class Reference:
    """The Keras model's outputs and decoded keypoints, computed once per run."""

    spec: ModelSpec
    decoder: Any
    samples: SampleSet
    inputs: np.ndarray  # [N, H, W, 3] float32, the model's normalised input
    outputs: Feed  # stacked [N, ...]
    keypoints: np.ndarray = field(repr=False)  # [N, K, 3] decoded, input pixels

    @classmethod
    def compute(cls, model: Any, spec: ModelSpec, decoder: Any, samples: SampleSet) -> Reference:
        inputs = spec.input.normalise(samples.pixels)
        outputs = KerasRunner(model).infer_batch(inputs)
        return cls(spec, decoder, samples, inputs, outputs, decode_all(decoder, outputs))

    @property
    def pck(self) -> float:
        return _pck(self, self.keypoints)


def validate(path: Path, reference: Reference, tolerance: Tolerance, threads: int = 1) -> ValidationResult:
    """One artifact's verdict. A file its runtime cannot load, or an op the Core ML
    reference evaluator does not know, fails this artifact (never passes it) and
    leaves the others to be validated."""
    try:
        runner = runner_for(path, threads)
    except NotExecutableError as error:
        return ValidationResult.not_executed(str(error))
    try:
        return validate_with(runner, reference, tolerance)
    except (UnreadableArtifactError, UnsupportedOpError) as error:
        return ValidationResult(Status.FAILED, runner.runtime, failures=(str(error),))


def validate_with(runner: Runner, reference: Reference, tolerance: Tolerance) -> ValidationResult:
    input_name = reference.spec.input.name
    with runner:
        per_sample = [runner.infer({input_name: x[None]}) for x in reference.inputs]
    actual = {name: np.concatenate([o[name] for o in per_sample]) for name in per_sample[0]}
    failures = compare_names(reference.outputs, actual)
    comparisons = tuple(
        compare_output(name, reference.outputs[name], actual[name], tolerance)
        for name in reference.outputs if name in actual
    )
    failures += [f for c in comparisons for f in c.failures]
    task = None
    if not compare_names(reference.outputs, actual) and all(np.isfinite(c.max_abs) for c in comparisons):
        task = _task(reference, decode_all(reference.decoder, actual), tolerance)
        failures += _task_failures(task, tolerance)
    return ValidationResult(
        status=Status.FAILED if failures else Status.PASSED,
        runtime=runner.runtime,
        samples=len(reference.inputs),
        outputs=comparisons,
        task=task,
        failures=tuple(failures),
        mean_inference_ms=1000.0 * float(np.mean(runner.inference_times)),
    )


def decode_all(decoder: Any, outputs: Feed) -> np.ndarray:
    """Top-down: the one person of each sample, [N, K, 3] in input pixels."""
    n = len(next(iter(outputs.values())))
    return np.stack([decoder.decode({k: v[i] for k, v in outputs.items()})[0] for i in range(n)])


def _pck(reference: Reference, keypoints: np.ndarray) -> float:
    samples = reference.samples
    in_image = np.stack([t.to_image(k) for t, k in zip(samples.transforms, keypoints, strict=True)])
    return pck(in_image, samples.keypoints, torso_sizes(samples.keypoints, reference.spec.keypoints))


def _task(reference: Reference, keypoints: np.ndarray, tolerance: Tolerance) -> TaskMetrics:
    ref_pck, art_pck = reference.pck, _pck(reference, keypoints)
    return TaskMetrics(
        pck_reference=ref_pck,
        pck=art_pck,
        pck_delta=100.0 * (art_pck - ref_pck),
        agreement=agreement(keypoints, reference.keypoints, tolerance.agreement_px),
        agreement_px=tolerance.agreement_px,
    )


def _task_failures(task: TaskMetrics, tolerance: Tolerance) -> list[str]:
    failures = []
    if not task.agreement >= tolerance.min_agreement:
        failures.append(
            f"keypoint agreement {100 * task.agreement:.2f}% < {100 * tolerance.min_agreement:g}%"
            f" (within {tolerance.agreement_px:g} px of the reference)"
        )
    if not task.pck_delta >= -tolerance.max_pck_drop:
        failures.append(f"PCK@0.2 drop {-task.pck_delta:.2f} points > {tolerance.max_pck_drop:g}")
    return failures
