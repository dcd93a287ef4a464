"""ModelSpec: everything converters, validators and the pipeline need about a model.

Converters and validators never name a model; they read its spec. Adding a model
is one module that builds a Functional Keras model and registers a spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision, Variant
from posepipe.models.keypoints import KeypointSet, keypoint_set
from posepipe.models.limits import COMMON, Limit, check_limits, check_rules

if TYPE_CHECKING:
    import keras


# The -o key that chooses a model's keypoint set (``ModelSpec.configured``), e.g. -o keypoints=aic-14.
KEYPOINTS_OPTION = "keypoints"


class OutputKind(StrEnum):
    HEATMAPS = "heatmaps"
    OFFSETS = "offsets"
    DISPLACEMENTS = "displacements"
    PAFS = "pafs"
    COORDS = "coords"  # [K, 2] per person: regressed keypoints, not a spatial map
    VISIBILITY = "visibility"  # [K] per person: the probability each keypoint is visible
    # What a keypoints file (models/app.py) gives: its decoder's graph part
    KEYPOINTS = "keypoints"  # [K, 3] decoded: x, y in input pixels and the score
    PEAKS = "peaks"  # [K, N, 3] each keypoint's top-N candidate peaks: x, y in input pixels and the score
    CANDIDATES = "candidates"  # [K, N, ...] values read at each candidate peak's cell (named by the output)

    @property
    def decoded(self) -> bool:
        """What a keypoints file's in-graph decoder gives, not a model's own output."""
        return self in (OutputKind.KEYPOINTS, OutputKind.PEAKS, OutputKind.CANDIDATES)

    @property
    def spatial(self) -> bool:
        """A map over the input at some stride (everything but regressed or decoded keypoints)."""
        return self not in (OutputKind.COORDS, OutputKind.VISIBILITY) and not self.decoded


class Topology(StrEnum):
    """How a model sees people: one cropped person, or a whole image of many."""

    TOP_DOWN = "top-down"
    BOTTOM_UP = "bottom-up"


@dataclass(frozen=True)
class InputSpec:
    """One NHWC image input and the normalisation that training used."""

    name: str = "image"
    color: str = "RGB"
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    layout: str = "NHWC"

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 RGB pixels [..., H, W, 3] -> float32 model input (channels reversed
        first for a model that takes BGR, as OpenCV-trained ones do; mean and std are
        then in the model's channel order)."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        ordered = pixels[..., ::-1] if self.color == "BGR" else pixels
        return (ordered.astype(np.float32) - mean) / std

    def pixels(self, normalised: np.ndarray) -> np.ndarray:
        """The inverse of ``normalise``: the uint8 RGB pixels a model input was made from
        (exact for inputs made from pixels; what an app file is fed and calibrated on)."""
        std, mean = np.asarray(self.std, np.float32), np.asarray(self.mean, np.float32)
        restored = np.asarray(normalised, np.float32) * std + mean
        ordered = restored[..., ::-1] if self.color == "BGR" else restored
        return np.clip(np.round(ordered), 0, 255).astype(np.uint8)


class Activation(StrEnum):
    """What an output's values are, so an app applies what the decoder applies (the
    loss the output trained with decides it): logits need the named function first."""

    NONE = "none"  # read as they are: input pixels, unit vectors, coordinates
    PROBABILITY = "probability"  # already probabilities in [0, 1] (a sigmoid inside the model)
    SIGMOID = "sigmoid"  # logits: a sigmoid per value gives each one's probability
    SPATIAL_SOFTMAX = "spatial-softmax"  # logits: a softmax over each channel's H x W cells


@dataclass(frozen=True)
class OutputSpec:
    name: str
    kind: OutputKind
    stride: int | None  # input pixels per output cell; None for non-spatial outputs
    activation: Activation = Activation.NONE
    # Outputs laid out per edge (displacements, PAFs): the (from, to) keypoint indices of each
    # edge in channel order; the vectors point from the first keypoint towards the second.
    edges: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if (self.stride is None) == self.kind.spatial:
            raise ValueError(f"output {self.name!r}: a {self.kind} output {'needs' if self.kind.spatial else 'has no'}"
                             " stride")
        if self.edges and self.kind not in (OutputKind.DISPLACEMENTS, OutputKind.PAFS):
            raise ValueError(f"output {self.name!r}: a {self.kind} output has no edges")


@dataclass(frozen=True)
class ModelConfig:
    """Fields every model's config has; each model subclasses it with its own."""

    input_size: tuple[int, int] = (192, 192)  # (height, width)


@dataclass(frozen=True)
class Tolerance:
    """What an artifact at one precision must meet against the Keras reference.

    Tensor checks: ``atol``/``rtol`` elementwise (None: not checked elementwise),
    ``min_cosine`` and ``min_snr_db`` over each whole output. Task checks:
    ``min_agreement``, the share of decoded keypoints within ``agreement_px`` input
    pixels of the reference's (for a bottom-up model, of the people both decodings
    found; the share of people found by both is held to it too), and
    ``max_pck_drop``, task-score points lost against the reference on the labelled
    val split: PCK@0.2 for a top-down model, OKS AP for a bottom-up one.
    """

    atol: float | None
    rtol: float
    min_cosine: float
    min_snr_db: float | None
    min_agreement: float
    max_pck_drop: float
    agreement_px: float = 2.0


@dataclass(frozen=True)
class TrainStage:
    """One phase of a staged schedule, as BlazePose trains: heatmap pre-training,
    then coordinate-regression fine-tuning on frozen features.

    A stage minimises the losses of ``outputs`` (names in the training graph) and
    trains only the layers those outputs depend on, minus the layers whose names
    start with one of ``frozen``. Its learning rate is the schedule's times
    ``learning_rate_scale``, decayed over the stage. Plain data, no callables, so a
    schedule stays part of the checkpoint's cache key and training record.
    """

    name: str
    epochs: int
    outputs: tuple[str, ...]
    frozen: tuple[str, ...] = ()
    learning_rate_scale: float = 1.0


@dataclass(frozen=True)
class Augmentation:
    """Random geometry applied to each training crop, about the crop's centre.

    Modest on purpose: the short default schedules must still learn as well as
    without it, since every int8 artifact is held within a point of the reference.
    Measured on the default hourglass (five epochs): flips only 0.739 val PCK@0.2,
    these defaults 0.738, zoom 0.75-1.25 with ±30° 0.693.
    ``flip``: the chance of a horizontal mirror (left and right keypoints swapped);
    ``scale``: the zoom range (above 1 magnifies); ``rotation``: the largest
    rotation either way, in degrees. A keypoint pushed out of the crop is unlabelled.
    """

    flip: float = 0.5
    scale: tuple[float, float] = (0.9, 1.1)
    rotation: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip <= 1.0 or not 0.0 < self.scale[0] <= self.scale[1] or self.rotation < 0:
            raise ValueError(f"augmentation: flip {self.flip} must be in [0, 1], scale {self.scale} a range "
                             f"above 0, rotation {self.rotation} at least 0")


@dataclass(frozen=True)
class TrainSchedule:
    """The default short schedule that makes the pipeline's own checkpoint.

    ``stages`` empty: one stage of ``epochs`` that trains every output. Otherwise
    the stages run in order and ``epochs`` is their total (epochs are numbered
    across stages, so "resume from epoch 7" means one place in the plan).
    ``precise_bn_batches``: after every epoch, BatchNorm's moving statistics are
    recomputed as plain averages over this many training batches (0: never).
    Depthwise MobileNetV1 layers left moving variances several times the batch
    variances after a short schedule, which flattened inference features
    (pipeline/training/precise_bn.py).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    train_images: int
    val_images: int
    stages: tuple[TrainStage, ...] = ()
    augmentation: Augmentation = field(default_factory=Augmentation)
    precise_bn_batches: int = 0

    def __post_init__(self) -> None:
        if self.precise_bn_batches < 0:
            raise ValueError(f"schedule: precise_bn_batches {self.precise_bn_batches} must be at least 0")
        if self.stages and self.epochs != sum(s.epochs for s in self.stages):
            total = sum(s.epochs for s in self.stages)
            raise ValueError(f"schedule: epochs {self.epochs} != the stages' total {total}")
        if len({s.name for s in self.stages}) != len(self.stages):
            raise ValueError("schedule: stage names repeat")

    def plan(self, outputs: tuple[str, ...]) -> tuple[TrainStage, ...]:
        """The stages to run; ``outputs`` are the training graph's, for an unstaged schedule."""
        return self.stages or (TrainStage("train", self.epochs, outputs),)

    def with_epochs(self, epochs: int) -> TrainSchedule:
        """The schedule with ``epochs`` epochs, or ``epochs`` per stage when staged."""
        if not self.stages:
            return dataclasses.replace(self, epochs=epochs)
        stages = tuple(dataclasses.replace(s, epochs=epochs) for s in self.stages)
        return dataclasses.replace(self, epochs=epochs * len(stages), stages=stages)


class Decoder(Protocol):
    """Model outputs of one image -> keypoints [persons, K, 3] as (x, y, score)
    in input pixels."""

    name: str

    def decode(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray: ...


class Encoder(Protocol):
    """Keypoints [persons, K, 3] (x, y, visibility) in input pixels -> training
    targets for each output of one image."""

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]: ...


Loss = Callable[..., Any]


@dataclass(frozen=True)
class TrainingGraph:
    """A model that trains as a bigger graph than it deploys.

    ``build(config)`` returns the deployed outputs plus training-only ones (CPM's
    per-stage belief maps for intermediate supervision; BlazePose's heatmaps when
    they are not deployed), and ``losses(config)`` a loss for every output it has.
    The deployed model is cut out of the trained one by output name
    (``ModelSpec.deployed``), sharing its layers and weights, so the checkpoint and
    every converted file carry exactly the deployed outputs and nothing else.
    """

    build: Callable[[Any], keras.Model]
    losses: Callable[[Any], Mapping[str, Loss]]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    origin: str  # the published system this model follows, by name (``posepipe list`` shows it)
    topology: Topology
    build: Callable[[Any], keras.Model]
    default: ModelConfig
    tiny: ModelConfig
    outputs: tuple[OutputSpec, ...]
    keypoints: KeypointSet
    make_decoder: Callable[[Any], Decoder]
    make_encoder: Callable[[Any], Encoder]
    losses: Mapping[str, Loss]
    schedule: TrainSchedule
    tiny_schedule: TrainSchedule
    tolerances: Mapping[Precision, Tolerance]
    input: InputSpec = field(default_factory=InputSpec)
    # Latency budgets: target name (validators/perf/targets.py, e.g. "host-cpu-1t",
    # "pixel5-cpu-4t") -> the p50 milliseconds every artifact run or estimated on
    # that target must meet. A target without a budget is measured and reported only.
    budgets: Mapping[str, float] = field(default_factory=dict)
    # The same, for a keypoints file's whole path: its invoke with the in-graph decoder plus the
    # app-side remainder (a bottom-up model's grouping); pipeline/run/end_to_end.py.
    end_to_end_budgets: Mapping[str, float] = field(default_factory=dict)
    # Precisions left out of the default matrix, each with the measured reason (as
    # Qualcomm AI Hub disables a model's path whose task metric drops too far).
    # Named in --precisions, one is still built and validated like any other.
    disabled: Mapping[Precision, str] = field(default_factory=dict)
    # The same for single files of the default matrix: (format, precision, variant) -> the measured reason.
    disabled_files: Mapping[tuple[Format, Precision, Variant], str] = field(default_factory=dict)
    # Accelerators (validators/perf/coverage.py: "litert-gpu", "nnapi", "coreml-nn",
    # "coreml-mlprogram") on which every file of their format must be fully delegated,
    # or the run fails (CoverageNotMetError) once everything is written. None by default:
    # coverage is reported for every file either way.
    coverage_required: tuple[str, ...] = ()
    # What every artifact says it is (embedded metadata): the model's version, to
    # bump when its architecture or training changes what its outputs mean, and the
    # licence its files ship under (posepipe trains its own weights: the project's).
    version: str = "1.0"
    license: str = "Apache-2.0"
    # Trains as a bigger graph than it deploys (None: trains the deployed model).
    training: TrainingGraph | None = None
    # The deployed outputs under a config, when some are optional (None: all of ``outputs``).
    deployed_outputs: Callable[[Any], tuple[str, ...]] | None = None
    # The spatial outputs' stride under a config, when the config sets it (None: each output's own).
    output_stride: Callable[[Any], int] | None = None
    # Extra decoders whose val PCK the training record shows per epoch, by label
    # (a staged model's pre-training outputs, which the deployed decoder never reads).
    make_monitors: Callable[[Any], Mapping[str, Decoder]] | None = None
    # Valid values of config fields, by name, over models/limits.py's COMMON ones (input_size,
    # width, sigma) and num_keypoints (the keypoint set's size); checked by ``config()``.
    limits: Mapping[str, Limit] = field(default_factory=dict)
    # Rules between config fields (ConfigError), run by ``config()`` once every field is in range.
    check: Callable[[Any], None] | None = None
    # Xcode's preview of the Core ML files under a config: its type and parameters (the keys of
    # coremltools' "Xcode Model Preview Types", e.g. "poseEstimation", {"width_multiplier": 0.5,
    # "output_stride": 16}); None: Xcode shows no preview.
    xcode_preview: Callable[[Any], tuple[str, Mapping[str, Any]]] | None = None

    def __post_init__(self) -> None:
        names = [o.name for o in self.outputs]
        if sorted(names) != sorted(self.losses):
            raise ValueError(f"{self.name}: losses {sorted(self.losses)} != outputs {names}")
        if type(self.tiny) is not type(self.default):
            raise ValueError(f"{self.name}: tiny config is not a {type(self.default).__name__}")
        missing = [str(p) for p in Precision if p not in self.tolerances]
        if missing:  # an artifact is never validated without a bound
            raise ValueError(f"{self.name}: no tolerance for {', '.join(missing)}")
        bad = [f"{t}={ms}" for t, ms in (*self.budgets.items(), *self.end_to_end_budgets.items()) if not ms > 0]
        if bad:
            raise ValueError(f"{self.name}: budgets must be positive milliseconds: {', '.join(bad)}")
        unknown = sorted(set(self.limits) - {f.name for f in dataclasses.fields(self.default)})
        if unknown:
            raise ValueError(f"{self.name}: limits for fields its config lacks: {', '.join(unknown)}")

    def config(self, preset: str = "default", overrides: Mapping[str, str] | None = None) -> Any:
        """The named preset ('default' or 'tiny') with string overrides applied.

        A ``keypoints`` override must name this spec's own set: ``configured`` applies
        another set to the spec first (a config alone cannot change what keypoints mean).
        """
        if preset not in ("default", "tiny"):
            raise ConfigError(f"{self.name}: unknown preset {preset!r}; use 'default' or 'tiny'")
        overrides = dict(overrides or {})
        wanted = overrides.pop(KEYPOINTS_OPTION, None)
        if wanted is not None and not self.keypoints.called(wanted):
            raise ConfigError(f"{self.name}: {KEYPOINTS_OPTION}={wanted} on a spec of {self.keypoints.name}; "
                              "resolve it with ModelSpec.configured")
        base = self.default if preset == "default" else self.tiny
        config = apply_overrides(base, overrides)
        check_limits(self.name, config, self.field_limits(), overrides)
        if self.check is not None:
            check_rules(self.name, config, self.check, overrides)
        return config

    def configured(self, preset: str = "default", overrides: Mapping[str, str] | None = None) -> tuple[ModelSpec, Any]:
        """The spec on the keypoint set a ``keypoints=NAME`` override chooses (``with_keypoints``)
        and its config with the other overrides: what every command resolves ``-o`` with."""
        wanted = (overrides or {}).get(KEYPOINTS_OPTION)
        spec = self if wanted is None or self.keypoints.called(wanted) else self.with_keypoints(keypoint_set(wanted))
        return spec, spec.config(preset, overrides)

    def with_keypoints(self, keypoints: KeypointSet) -> ModelSpec:
        """This model on another keypoint set: the spec with that set, and its configs'
        ``num_keypoints`` following it. Outputs laid out per edge (PoseNet's displacements
        along COCO's pose tree, OpenPose's PAF limbs) are fixed to the set their edges
        index, so such a model refuses another set (ConfigError) rather than mislabel it."""
        if keypoints == self.keypoints:
            return self
        fixed = [o.name for o in self.outputs if o.edges or o.kind in (OutputKind.DISPLACEMENTS, OutputKind.PAFS)]
        if fixed:
            raise ConfigError(f"{self.name}: keypoints={keypoints.name} is not available: its {', '.join(fixed)} "
                              f"output{'s follow' if len(fixed) > 1 else ' follows'} the edges of "
                              f"{self.keypoints.name}; it is trained on {self.keypoints.name} only")
        if not any(f.name == "num_keypoints" for f in dataclasses.fields(self.default)):
            raise ConfigError(f"{self.name}: keypoints={keypoints.name} is not available: its config has no "
                              "num_keypoints, so its outputs are fixed to " + self.keypoints.name)
        size = {"num_keypoints": len(keypoints)}
        return dataclasses.replace(self, keypoints=keypoints, default=dataclasses.replace(self.default, **size),
                                   tiny=dataclasses.replace(self.tiny, **size))

    def field_limits(self) -> dict[str, Limit]:
        """Every config field's valid values: the common ones, the keypoint count, the model's own."""
        names = {f.name for f in dataclasses.fields(self.default)}
        keypoints = {"num_keypoints": Limit(choices=(len(self.keypoints),), why="the size of its keypoint set")}
        return {k: v for k, v in (COMMON | keypoints | dict(self.limits)).items() if k in names}

    def schedule_for(self, preset: str) -> TrainSchedule:
        return self.tiny_schedule if preset == "tiny" else self.schedule

    def output(self, name: str) -> OutputSpec:
        return next(o for o in self.outputs if o.name == name)

    def outputs_for(self, config: Any) -> tuple[OutputSpec, ...]:
        """The outputs the deployed model has under ``config``, with the stride it sets."""
        chosen = None if self.deployed_outputs is None else self.deployed_outputs(config)
        outputs = tuple(o for o in self.outputs if chosen is None or o.name in chosen)
        if self.output_stride is None:
            return outputs
        stride = self.output_stride(config)
        return tuple(dataclasses.replace(o, stride=stride) if o.kind.spatial else o for o in outputs)

    def training_model(self, config: Any) -> keras.Model:
        """The graph training fits: the deployed model, or the bigger training graph."""
        return self.training.build(config) if self.training else self.build(config)

    def training_losses(self, config: Any) -> dict[str, Loss]:
        return dict(self.training.losses(config) if self.training else self.losses)

    def deployed(self, model: keras.Model, config: Any) -> keras.Model:
        """The deployed model inside a trained one: the same layers and weights, only
        the deployed outputs. Identity when training used the deployed model."""
        from posepipe.models.backbones.blocks import submodel

        names = [o.name for o in self.outputs_for(config)]
        return model if sorted(model.output) == sorted(names) else submodel(model, names, self.name)


def apply_overrides(config: Any, overrides: Mapping[str, str]) -> Any:
    """Replace config fields from ``key=value`` strings, parsed by the field's type."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for key, text in overrides.items():
        if key not in fields:
            raise ConfigError(
                f"{type(config).__name__} has no field {key!r}; fields: {', '.join(fields)}"
            )
        changes[key] = _parse(key, text, getattr(config, key))
    return dataclasses.replace(config, **changes)


def _parse(key: str, text: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if isinstance(current, tuple):  # sizes: "192" or "256x192" (one value for every element)
            parts = [int(p) for p in text.lower().split("x")]
            if len(parts) not in (1, len(current)):
                raise ValueError(text)
            return tuple(parts * len(current) if len(parts) == 1 else parts)
        return type(current)(text)
    except ValueError:
        if isinstance(current, Enum):
            choices = ", ".join(str(c.value) for c in type(current))
            raise ConfigError(f"{key}={text!r}: expected one of {choices}") from None
        raise ConfigError(f"{key}={text!r}: expected a value like {current!r}") from None
