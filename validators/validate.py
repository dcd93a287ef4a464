"""Validation of one artifact: its runtime beside the Keras reference on labelled
val images, compared tensor by tensor and on the task (decoded keypoints; PCK
or OKS AP, by the model's topology: validators/accuracy/task.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.calibration.samples import SampleSet
from posepipe.models.app import KEYPOINTS, people
from posepipe.models.formats import Variant
from posepipe.models.spec import ModelSpec, Tolerance, Topology
from posepipe.validators.accuracy.compare import OutputComparison, compare_names, compare_output
from posepipe.validators.accuracy.peaks import PEAKS, peak_agreement
from posepipe.validators.accuracy.task import Task, TaskMetric, task_for
from posepipe.validators.coreml_eval.errors import UnreadableArtifactError, UnsupportedOpError
from posepipe.validators.runners import Feed, KerasRunner, NotExecutableError, Runner, runner_for


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_EXECUTED = "not-executed"
    NOT_VALIDATED = "not-validated"  # built but never checked (the manifest says so; it does not pass)


@dataclass(frozen=True)
class TaskMetrics:
    metric: TaskMetric
    reference: float  # the Keras reference's score on the same samples
    value: float
    delta: float  # in points: 100 x (artifact - reference)
    agreement: float  # share of (paired people's) keypoints within ``agreement_px`` of the reference's
    agreement_px: float
    people: float | None = None  # share of people both decodings found; None for a top-down crop
    # PCKh@0.5 beside the main metric, where the keypoint set has a head segment (else None)
    pckh: float | None = None
    pckh_reference: float | None = None
    # a bottom-up keypoints file: share of the reference's candidate peaks it has within ``agreement_px``
    peaks: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Keys named after the metric (``pck``, ``pck_delta``, ``oks_ap``, ...), so a
        manifest says what it measured; ``pckh`` keys too where it was measured."""
        m = str(self.metric)
        people = {} if self.people is None else {"people_agreement": self.people}
        people |= {} if self.peaks is None else {"peak_agreement": self.peaks}
        head = {} if self.pckh is None or self.pckh_reference is None else {
            "pckh": self.pckh, "pckh_reference": self.pckh_reference,
            "pckh_delta": 100.0 * (self.pckh - self.pckh_reference)}
        return {"metric": m, f"{m}_reference": self.reference, m: self.value, f"{m}_delta": self.delta,
                "agreement": self.agreement, "agreement_px": self.agreement_px} | people | head

    def failures(self, tolerance: Tolerance) -> list[str]:
        """The task bounds this artifact breaks, one line each."""
        failures = []
        if not self.agreement >= tolerance.min_agreement:
            failures.append(
                f"keypoint agreement {100 * self.agreement:.2f}% < {100 * tolerance.min_agreement:g}%"
                f" (within {tolerance.agreement_px:g} px of the reference)"
            )
        if self.peaks is not None and not self.peaks >= tolerance.min_agreement:
            failures.append(f"peak agreement {100 * self.peaks:.2f}% < {100 * tolerance.min_agreement:g}%"
                            f" (the reference's candidate peaks within {tolerance.agreement_px:g} px)")
        if self.people is not None and not self.people >= tolerance.min_agreement:
            failures.append(f"people agreement {100 * self.people:.2f}% < {100 * tolerance.min_agreement:g}%"
                            " (people both decodings found)")
        if not self.delta >= -tolerance.max_pck_drop:
            failures.append(f"{self.metric.label} drop {-self.delta:.2f} points > {tolerance.max_pck_drop:g}")
        return failures


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
    keypoints: Any = field(repr=False)  # decoded, input pixels: [N, K, 3], or [P_i, K, 3] per sample

    @classmethod
    def compute(cls, model: Any, spec: ModelSpec, decoder: Any, samples: SampleSet) -> Reference:
        inputs = spec.input.normalise(samples.pixels)
        outputs = KerasRunner(model).infer_batch(inputs)
        return cls(spec, decoder, samples, inputs, outputs, task_for(spec.topology).decode_all(decoder, outputs))

    @property
    def task(self) -> Task:
        return task_for(self.spec.topology, self.spec.keypoints)

    @cached_property
    def score(self) -> float:
        """The reference's task score: PCK@0.2 (top-down) or OKS AP (bottom-up)."""
        return self.task.score(self.samples, self.keypoints, self.spec.keypoints)

    @cached_property
    def head_score(self) -> float | None:
        """The reference's PCKh@0.5, or None when the keypoint set has no head segment."""
        return self.task.head_score(self.samples, self.keypoints, self.spec.keypoints)


def validate(path: Path, reference: Reference, tolerance: Tolerance, threads: int = 1,
             variant: Variant = Variant.TENSOR) -> ValidationResult:
    """One artifact's verdict. A file its runtime cannot load, or an op the Core ML
    reference evaluator does not know, fails this artifact (never passes it) and
    leaves the others to be validated."""
    try:
        runner = runner_for(path, threads)
    except NotExecutableError as error:
        return ValidationResult.not_executed(str(error))
    try:
        if variant is Variant.KEYPOINTS:
            return validate_keypoints(runner, reference, tolerance)
        return validate_with(runner, reference, tolerance)
    except (UnreadableArtifactError, UnsupportedOpError) as error:
        return ValidationResult(Status.FAILED, runner.runtime, failures=(str(error),))


def validate_with(runner: Runner, reference: Reference, tolerance: Tolerance) -> ValidationResult:
    per_sample = _run_all(runner, reference)
    actual = {name: np.concatenate([o[name] for o in per_sample]) for name in per_sample[0]}
    failures = compare_names(reference.outputs, actual)
    comparisons = tuple(
        compare_output(name, reference.outputs[name], actual[name], tolerance)
        for name in reference.outputs if name in actual
    )
    failures += [f for c in comparisons for f in c.failures]
    task = None
    if not compare_names(reference.outputs, actual) and all(np.isfinite(c.max_abs) for c in comparisons):
        task = _task(reference, reference.task.decode_all(reference.decoder, actual), tolerance)
        failures += task.failures(tolerance)
    return ValidationResult(
        status=Status.FAILED if failures else Status.PASSED,
        runtime=runner.runtime,
        samples=len(reference.inputs),
        outputs=comparisons,
        task=task,
        failures=tuple(failures),
        mean_inference_ms=1000.0 * float(np.mean(runner.inference_times)),
    )


def validate_keypoints(runner: Runner, reference: Reference, tolerance: Tolerance) -> ValidationResult:
    """A keypoints file, from the crops' pixels: its decoded keypoints against the reference's
    (Keras plus the Python decoder), on the same bounds as every file of its precision. A
    bottom-up file's candidate peaks are held to the reference's peaks, and the people the
    app-side grouping makes of them to the people it makes of the reference's peaks."""
    per_sample = _run_all(runner, reference)
    if reference.spec.topology is Topology.TOP_DOWN:
        missing = [] if KEYPOINTS in per_sample[0] else [f"{KEYPOINTS}: no such output in the file"]
        found = [people(reference.spec, reference.decoder, Variant.KEYPOINTS, {k: v[0] for k, v in o.items()})[0]
                 for o in per_sample] if not missing else []
        task = None if missing else _task(reference, np.stack(found), tolerance)
    else:
        missing = [] if PEAKS in per_sample[0] else [f"{PEAKS}: no such output in the file"]
        task = None if missing else _peaks_task(reference, per_sample, tolerance)
    failures = missing + ([] if task is None else task.failures(tolerance))
    return ValidationResult(Status.FAILED if failures else Status.PASSED, runner.runtime, len(reference.inputs),
                            task=task, failures=tuple(failures),
                            mean_inference_ms=1000.0 * float(np.mean(runner.inference_times)))


def _run_all(runner: Runner, reference: Reference) -> list[Feed]:
    """The file's outputs for every val sample. An image input (Core ML) or an app file's pixel
    input gets the crop's uint8 pixels and normalises them itself; others the normalised tensor."""
    input_name, pixels = reference.spec.input.name, reference.samples.pixels
    with runner:
        return [runner.infer(runner.feed(input_name, pixels[i][None], x[None])) for i, x in enumerate(reference.inputs)]


def _peaks_task(reference: Reference, per_sample: list[Feed], tolerance: Tolerance) -> TaskMetrics:
    decoder = reference.decoder
    found = [{name: value[0] for name, value in o.items()} for o in per_sample]
    expected = [decoder.peaks({name: value[i] for name, value in reference.outputs.items()})
                for i in range(len(reference.inputs))]
    grouped = [people(reference.spec, decoder, Variant.KEYPOINTS, f) for f in found]
    reference_grouped = [people(reference.spec, decoder, Variant.KEYPOINTS, e) for e in expected]
    return replace(_task(reference, grouped, tolerance, reference_grouped),
                   peaks=peak_agreement(found, expected, tolerance.agreement_px, decoder.peak_threshold))


def _task(reference: Reference, keypoints: Any, tolerance: Tolerance, against: Any = None) -> TaskMetrics:
    """``keypoints`` scored and compared with the reference's decoding, or with ``against``
    (the reference's outputs through the same app-side steps as the file's)."""
    task = reference.task
    score = task.score(reference.samples, keypoints, reference.spec.keypoints)
    if against is None:
        against, ref_score, ref_head = reference.keypoints, reference.score, reference.head_score
    else:
        ref_score = task.score(reference.samples, against, reference.spec.keypoints)
        ref_head = task.head_score(reference.samples, against, reference.spec.keypoints)
    agreement = task.agreement(keypoints, against, tolerance.agreement_px)
    return TaskMetrics(
        metric=task.metric,
        reference=ref_score,
        value=score,
        delta=100.0 * (score - ref_score),
        agreement=agreement.keypoints,
        agreement_px=tolerance.agreement_px,
        people=agreement.people,
        pckh=task.head_score(reference.samples, keypoints, reference.spec.keypoints),
        pckh_reference=ref_head,
    )
