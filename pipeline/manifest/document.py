"""The whole manifest as typed records: the model and its checkpoint, the input
it expects, what it outputs, the reference it was checked against, every
artifact, the tools that built them, and the verdict.

``Manifest.to_json()`` is the document ``posepipe run`` writes (schema.json
beside this file publishes its shape); ``Manifest.from_json()`` reads one back.
Where a part is open-ended (the model's config, latency settings and targets,
tool versions), the record holds it as a mapping: its keys depend on the model,
the target kinds or the environment, not on posepipe's manifest format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from posepipe.calibration.preprocess import PADDING
from posepipe.models.formats import Format, Precision, Variant
from posepipe.models.keypoints import KeypointSet
from posepipe.models.spec import Activation, ModelSpec, OutputKind, OutputSpec, Topology
from posepipe.pipeline.manifest.records import ArtifactRecord
from posepipe.pipeline.manifest.values import number
from posepipe.pipeline.run.checkpoint import Checkpoint
from posepipe.pipeline.run.latency import LatencyPlan
from posepipe.validators.accuracy.task import TaskMetric
from posepipe.validators.perf.macs import ModelCost


@dataclass(frozen=True)
class CheckpointRecord:
    path: str
    sha256: str  # of the container (a .keras or .h5 file, a SavedModel folder's files): provenance
    weights_sha256: str | None  # of the weight arrays: what the artifacts are made of and keyed by
    trained_here: bool
    record: str | None  # the training record beside a checkpoint trained by posepipe
    format: str | None = None  # keras, h5, h5-weights or savedmodel (None in manifests from before it)

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> CheckpointRecord:
        return cls(str(checkpoint.path), checkpoint.sha256, checkpoint.weights_sha256, checkpoint.trained_here,
                   str(checkpoint.record) if checkpoint.record else None, str(checkpoint.format))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "weights_sha256": self.weights_sha256,
                "trained_here": self.trained_here, "record": self.record, "format": self.format}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CheckpointRecord:
        return cls(d["path"], d["sha256"], d["weights_sha256"], d["trained_here"], d["record"], d.get("format"))


@dataclass(frozen=True)
class InputRecord:
    """The image an app feeds: NHWC, its normalisation, and for a top-down model
    the padding round a person's box that the crop takes."""

    name: str
    color: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: str
    size: tuple[int, ...]
    crop_padding: float | None

    @classmethod
    def of(cls, spec: ModelSpec, config: Any) -> InputRecord:
        i = spec.input
        padding = PADDING if spec.topology is Topology.TOP_DOWN else None
        return cls(i.name, i.color, tuple(i.mean), tuple(i.std), i.layout, tuple(config.input_size), padding)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "color": self.color, "mean": list(self.mean), "std": list(self.std),
                "layout": self.layout, "size": list(self.size), "crop_padding": self.crop_padding}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InputRecord:
        return cls(d["name"], d["color"], tuple(d["mean"]), tuple(d["std"]), d["layout"], tuple(d["size"]),
                   d["crop_padding"])


@dataclass(frozen=True)
class ModelOutput:
    """One output the model produces, by kind and stride (its comparison with the reference is records.OutputCheck)."""

    name: str
    kind: OutputKind
    stride: int | None
    activation: Activation = Activation.NONE  # logits or probabilities: what an app applies first

    @classmethod
    def of(cls, output: OutputSpec) -> ModelOutput:
        return cls(output.name, output.kind, output.stride, output.activation)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": str(self.kind), "stride": self.stride, "activation": str(self.activation)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ModelOutput:
        return cls(d["name"], OutputKind(d["kind"]), d["stride"], Activation(d.get("activation", Activation.NONE)))


@dataclass(frozen=True)
class KeypointsRecord:
    """The keypoint set: its name, and what it lets a run measure: OKS AP needs
    ``sigmas`` (None: not available, PCK instead), PCKh the ``head`` segment."""

    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    set: str | None = None  # None: a manifest from before keypoint sets had names (COCO-17)
    sigmas: tuple[float, ...] | None = None
    head: tuple[int, int] | None = None

    @classmethod
    def of(cls, keypoints: KeypointSet) -> KeypointsRecord:
        return cls(tuple(keypoints.names), tuple(keypoints.skeleton), keypoints.name, keypoints.sigmas,
                   keypoints.head)

    def to_json(self) -> dict[str, Any]:
        named = {} if self.set is None else {
            "set": self.set, "sigmas": None if self.sigmas is None else list(self.sigmas),
            "head": None if self.head is None else list(self.head)}
        return {"names": list(self.names), "skeleton": [list(e) for e in self.skeleton]} | named

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> KeypointsRecord:
        sigmas, head = d.get("sigmas"), d.get("head")
        return cls(tuple(d["names"]), tuple((a, b) for a, b in d["skeleton"]), d.get("set"),
                   None if sigmas is None else tuple(sigmas), None if head is None else (head[0], head[1]))


@dataclass(frozen=True)
class DataRecord:
    root: str
    synthetic: bool
    val_split: str
    val_samples: int

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "synthetic": self.synthetic, "val_split": self.val_split,
                "val_samples": self.val_samples}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DataRecord:
        return cls(d["root"], d["synthetic"], d["val_split"], d["val_samples"])


@dataclass(frozen=True)
class ReferenceRecord:
    """The Keras model's own score, time and decoder time: what every artifact is held to."""

    metric: TaskMetric
    score: float
    latency: Mapping[str, Any] | None  # a timing block (pipeline/run/latency.py)
    decoder: Mapping[str, Any] | None  # the decoder's time per image
    runtime: str = "keras"
    pckh: float | None = None  # PCKh@0.5 beside the main score, where the keypoint set has a head segment

    def to_json(self) -> dict[str, Any]:
        """The score under the metric's own key (``pck`` or ``oks_ap``), as the artifacts' task blocks name it."""
        head = {} if self.pckh is None else {"pckh": self.pckh}
        return {"runtime": self.runtime, "metric": str(self.metric), str(self.metric): self.score,
                "latency": self.latency, "decoder": self.decoder} | head

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ReferenceRecord:
        metric = TaskMetric(d["metric"])
        return cls(metric, number(d[metric]), d["latency"], d["decoder"], d["runtime"], number(d.get("pckh")))


@dataclass(frozen=True)
class LatencyPlanRecord:
    """The run's latency plan: open-ended parts (settings, budgets and targets by name) as mappings."""

    settings: Mapping[str, Any]
    budgets: Mapping[str, float]
    enforced: bool
    targets: tuple[Mapping[str, Any], ...]
    skipped_targets: Mapping[str, str]

    @classmethod
    def of(cls, plan: LatencyPlan) -> LatencyPlanRecord:
        """The plan as the run reads it back: LatencyPlan.to_json describes its targets."""
        return cls.from_json(plan.to_json())

    def to_json(self) -> dict[str, Any]:
        return {"settings": dict(self.settings), "budgets": dict(self.budgets), "enforced": self.enforced,
                "targets": [dict(t) for t in self.targets], "skipped_targets": dict(self.skipped_targets)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LatencyPlanRecord:
        return cls(d["settings"], d["budgets"], d["enforced"], tuple(d["targets"]), d["skipped_targets"])


@dataclass(frozen=True)
class Disabled:
    """A default path the model leaves out, and why."""

    format: Format
    precision: Precision
    reason: str
    variant: Variant = Variant.TENSOR  # a single app or keypoints file left out (ModelSpec.disabled_files)

    def to_json(self) -> dict[str, Any]:
        variant = {} if self.variant is Variant.TENSOR else {"variant": str(self.variant)}
        return {"format": str(self.format), "precision": str(self.precision), "reason": self.reason} | variant

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Disabled:
        return cls(Format(d["format"]), Precision(d["precision"]), d["reason"], Variant(d.get("variant", "tensor")))


@dataclass(frozen=True)
class ContractRecord:
    """The preprocessing contract (pipeline/run/contract.py): the golden image
    beside the manifest, the box cropped of it and the crop's pixel digest."""

    image: str  # the PNG's file name, beside the manifest
    sha256: str
    bytes: int
    seed: int  # calibration/golden.py draws the same picture again from it
    box: tuple[float, float, float, float]  # x, y, w, h in the picture
    padding: float  # the box grown by this factor, widened to the input's aspect
    crop: tuple[int, int]  # (height, width): the model's input size
    pixels: str  # the crop's channel order: RGB
    color: str  # the channel order the model's input takes (BGR: reversed before normalising)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pixels_sha256: str  # of the crop's uint8 [H, W, 3] bytes

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "sha256": self.sha256, "bytes": self.bytes, "seed": self.seed,
                "box": list(self.box), "padding": self.padding, "crop": list(self.crop), "pixels": self.pixels,
                "color": self.color, "mean": list(self.mean), "std": list(self.std),
                "pixels_sha256": self.pixels_sha256}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ContractRecord:
        x, y, w, h = d["box"]
        height, width = d["crop"]
        return cls(d["image"], d["sha256"], d["bytes"], d["seed"], (x, y, w, h), d["padding"], (height, width),
                   d["pixels"], d["color"], tuple(d["mean"]), tuple(d["std"]), d["pixels_sha256"])


@dataclass(frozen=True)
class Manifest:
    """``artifacts/<model>/manifest.json``."""

    schema: int
    model: str
    version: str
    license: str
    preset: str
    config: Mapping[str, Any]  # the model's config: its fields are the model's own
    created: str  # ISO 8601, UTC, seconds
    checkpoint: CheckpointRecord
    input: InputRecord
    outputs: tuple[ModelOutput, ...]
    keypoints: KeypointsRecord
    decoder: str
    data: DataRecord
    reference: ReferenceRecord
    model_stats: ModelCost
    latency: LatencyPlanRecord
    passed: bool
    artifacts: tuple[ArtifactRecord, ...]
    disabled: tuple[Disabled, ...]
    reproducible: Mapping[str, bool]  # per format: does its converter give the same bytes twice
    tools: Mapping[str, str]  # package -> version
    contract: ContractRecord | None = None  # None: a manifest from before the preprocessing contract

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "model": self.model, "version": self.version, "license": self.license,
            "preset": self.preset, "config": dict(self.config), "created": self.created,
            "checkpoint": self.checkpoint.to_json(), "input": self.input.to_json(),
            "outputs": [o.to_json() for o in self.outputs], "keypoints": self.keypoints.to_json(),
            "decoder": self.decoder, "data": self.data.to_json(), "reference": self.reference.to_json(),
            "model_stats": self.model_stats.to_json(), "latency": self.latency.to_json(), "passed": self.passed,
            "artifacts": [a.to_json() for a in self.artifacts], "disabled": [d.to_json() for d in self.disabled],
            "reproducible": dict(self.reproducible), "tools": dict(self.tools),
        } | ({} if self.contract is None else {"contract": self.contract.to_json()})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Manifest:
        return cls(
            d["schema"], d["model"], d["version"], d["license"], d["preset"], d["config"], d["created"],
            CheckpointRecord.from_json(d["checkpoint"]), InputRecord.from_json(d["input"]),
            tuple(ModelOutput.from_json(o) for o in d["outputs"]), KeypointsRecord.from_json(d["keypoints"]),
            d["decoder"], DataRecord.from_json(d["data"]), ReferenceRecord.from_json(d["reference"]),
            ModelCost(**d["model_stats"]), LatencyPlanRecord.from_json(d["latency"]), d["passed"],
            tuple(ArtifactRecord.from_json(a) for a in d["artifacts"]),
            tuple(Disabled.from_json(x) for x in d["disabled"]), d["reproducible"], d["tools"],
            ContractRecord.from_json(d["contract"]) if "contract" in d else None,
        )
