"""One artifact's manifest entry as typed records: what file it is, how it was
checked, how it was quantized, how fast it ran.

``to_json()`` gives the entry exactly as the manifest holds it (keys, their
order, values; non-finite floats stay floats until ``values.finite`` writes
them); ``from_json()`` reads one back, which is how an entry kept by an
up-to-date stage record (a plain dict) rejoins the typed document. The
validation block has four shapes, one record each: checked against the
reference, not executed (no runtime on this OS), not validated, and a
conversion that failed (no file, so no runtime either).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from posepipe.converters.checks import Check
from posepipe.converters.signature import ImageFormat, TensorInfo
from posepipe.models.formats import Format, Precision, Variant
from posepipe.pipeline.manifest.values import number
from posepipe.validators.accuracy.compare import OutputComparison
from posepipe.validators.accuracy.task import TaskMetric
from posepipe.validators.validate import Status, TaskMetrics


@dataclass(frozen=True)
class OutputCheck:
    """One output of the artifact against the reference's."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float
    cosine: float
    worst_sample: int | None
    snr_db: float
    passed: bool

    @classmethod
    def of(cls, c: OutputComparison) -> OutputCheck:
        return cls(c.name, tuple(c.shape), c.max_abs, c.mean_abs, c.cosine, c.worst_sample, c.snr_db, c.passed)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "max_abs": self.max_abs, "mean_abs": self.mean_abs,
                "cosine": self.cosine, "worst_sample": self.worst_sample, "snr_db": self.snr_db,
                "passed": self.passed}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> OutputCheck:
        return cls(d["name"], tuple(d["shape"]), number(d["max_abs"]), number(d["mean_abs"]), number(d["cosine"]),
                   d["worst_sample"], number(d["snr_db"]), d["passed"])


def task_from_json(d: Mapping[str, Any]) -> TaskMetrics:
    """The inverse of ``TaskMetrics.to_json``: its keys are named after the metric."""
    m = TaskMetric(d["metric"])
    return TaskMetrics(m, number(d[f"{m}_reference"]), number(d[m]), number(d[f"{m}_delta"]),
                       number(d["agreement"]), number(d["agreement_px"]), number(d.get("people_agreement")),
                       number(d.get("pckh")), number(d.get("pckh_reference")), number(d.get("peak_agreement")))


@dataclass(frozen=True)
class Checked:
    """Run beside the Keras reference: passed or failed, with every number."""

    status: Status  # PASSED or FAILED
    runtime: str | None
    samples: int
    outputs: tuple[OutputCheck, ...]
    task: TaskMetrics | None
    mean_inference_ms: float | None
    failures: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "runtime": self.runtime, "samples": self.samples,
                "outputs": [o.to_json() for o in self.outputs], "task": self.task.to_json() if self.task else None,
                "mean_inference_ms": self.mean_inference_ms, "failures": list(self.failures)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Checked:
        outputs = tuple(OutputCheck.from_json(o) for o in d["outputs"])
        task = task_from_json(d["task"]) if d["task"] else None
        return cls(Status(d["status"]), d["runtime"], d["samples"], outputs, task, number(d["mean_inference_ms"]),
                   tuple(d["failures"]))


@dataclass(frozen=True)
class NotExecuted:
    """Built, but no runtime for it here (Core ML predict off macOS): neither passes nor fails."""

    runtime: str | None
    reason: str | None
    status: ClassVar[Status] = Status.NOT_EXECUTED

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "runtime": self.runtime, "reason": self.reason}


@dataclass(frozen=True)
class NotValidated:
    """Built, and never checked: counts as not passed."""

    status: ClassVar[Status] = Status.NOT_VALIDATED

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status)}


@dataclass(frozen=True)
class NotBuilt:
    """The conversion failed: no file, so nothing ran; the failure says why."""

    failures: tuple[str, ...]
    status: ClassVar[Status] = Status.FAILED

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "failures": list(self.failures)}


Validation = Checked | NotExecuted | NotValidated | NotBuilt


def validation_from_json(d: Mapping[str, Any]) -> Validation:
    status = Status(d["status"])
    if status is Status.NOT_EXECUTED:
        return NotExecuted(d["runtime"], d["reason"])
    if status is Status.NOT_VALIDATED:
        return NotValidated()
    return Checked.from_json(d) if "samples" in d else NotBuilt(tuple(d["failures"]))


@dataclass(frozen=True)
class BuiltFile:
    """What a built file is: its size, digest and signature read back from it."""

    bytes: int
    sha256: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    def to_json(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "sha256": self.sha256, "inputs": [t.to_json() for t in self.inputs],
                "outputs": [t.to_json() for t in self.outputs]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BuiltFile:
        return cls(d["bytes"], d["sha256"], tuple(tensor_from_json(t) for t in d["inputs"]),
                   tuple(tensor_from_json(t) for t in d["outputs"]))


def tensor_from_json(d: Mapping[str, Any]) -> TensorInfo:
    q, image = d.get("quantization"), d.get("image")
    return TensorInfo(d["name"], tuple(d["shape"]), d["dtype"], (q["scale"], q["zero_point"]) if q else None,
                      ImageFormat.from_json(image) if image else None)


@dataclass(frozen=True)
class QuantizationRecord:
    """How a quantized file was made: the recipe beside it, its calibration set,
    the layers kept in float, its size against its format's fp32 file."""

    precision: Precision
    recipe: str  # the recipe file's name, beside the artifact
    calibration: Mapping[str, Any] | None  # sha256, samples, source of the calibration set
    method: Mapping[str, Any]  # the recipe's settings for this format: open-ended, per converter
    keep_float: tuple[str, ...]
    size_ratio: float | None
    sensitivity: str | None  # the per-layer report's file name, when the file failed
    sensitive_layers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"precision": str(self.precision), "recipe": self.recipe, "calibration": self.calibration,
                "method": dict(self.method), "keep_float": list(self.keep_float), "size_ratio": self.size_ratio,
                "sensitivity": self.sensitivity, "sensitive_layers": list(self.sensitive_layers)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> QuantizationRecord:
        return cls(Precision(d["precision"]), d["recipe"], d["calibration"], d["method"], tuple(d["keep_float"]),
                   number(d["size_ratio"]), d["sensitivity"], tuple(d["sensitive_layers"]))


@dataclass(frozen=True)
class LatencyBlock:
    """An artifact's timings: a typed wrapper over open-ended dicts, since each
    target kind (measured, estimated, phone, skipped) records different numbers
    (pipeline/run/latency.py), and the op profile is the profiler's own shape."""

    targets: Mapping[str, Mapping[str, Any]]
    profile: Mapping[str, Any] | None = None
    # a keypoints file's whole path per target: invoke + app-side remainder (pipeline/run/end_to_end.py)
    end_to_end: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        block: dict[str, Any] = {"targets": {name: dict(t) for name, t in self.targets.items()}}
        block |= {} if self.profile is None else {"profile": dict(self.profile)}
        return block if self.end_to_end is None else block | {"end_to_end": dict(self.end_to_end)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LatencyBlock:
        return cls(d["targets"], d.get("profile"), d.get("end_to_end"))


@dataclass(frozen=True)
class Companion:
    """A file that ships beside the artifact (an .ort's required-operators config):
    listed with its digest, indexed and pulled with the artifact."""

    file: str
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Companion:
        return cls(d["file"], d["bytes"], d["sha256"])


@dataclass(frozen=True)
class ArtifactRecord:
    """One artifact's manifest entry."""

    file: str
    format: Format
    precision: Precision
    validation: Validation
    built: BuiltFile | None = None  # None: the conversion failed
    quantization: QuantizationRecord | None = None  # None: fp32, or not built
    latency: LatencyBlock | None = None  # None: not built, or not timed yet
    checker: Check | None = None  # the format's own validity check (validation.checker); None: no file to check
    coverage: Mapping[str, Mapping[str, Any]] | None = None  # accelerator -> Coverage.to_json (validators/perf)
    companions: tuple[Companion, ...] = ()  # files shipped beside it
    variant: Variant = Variant.TENSOR  # what it takes and gives (models/formats.py)
    input_sha256: str | None = None  # of the input it takes from the golden crop (pipeline/run/contract.py)

    @property
    def status(self) -> Status:
        return self.validation.status

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"file": self.file, "format": str(self.format), "precision": str(self.precision),
                                 "variant": str(self.variant)}
        if self.built is not None:
            entry |= self.built.to_json()
        if self.input_sha256 is not None:
            entry["input_sha256"] = self.input_sha256
        if self.companions:
            entry["companions"] = [c.to_json() for c in self.companions]
        entry["validation"] = self.validation.to_json()
        if self.checker is not None:
            entry["validation"]["checker"] = self.checker.to_json()
        if self.quantization is not None:
            entry["quantization"] = self.quantization.to_json()
        if self.latency is not None:
            entry["latency"] = self.latency.to_json()
        if self.coverage is not None:
            entry["coverage"] = {name: dict(c) for name, c in self.coverage.items()}
        return entry

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ArtifactRecord:
        return cls(d["file"], Format(d["format"]), Precision(d["precision"]), validation_from_json(d["validation"]),
                   BuiltFile.from_json(d) if "sha256" in d else None,
                   QuantizationRecord.from_json(d["quantization"]) if "quantization" in d else None,
                   LatencyBlock.from_json(d["latency"]) if "latency" in d else None,
                   Check.from_json(d["validation"]["checker"]) if "checker" in d["validation"] else None,
                   d.get("coverage"), tuple(Companion.from_json(c) for c in d.get("companions", ())),
                   Variant(d.get("variant", Variant.TENSOR)), d.get("input_sha256"))
