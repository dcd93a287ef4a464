"""ModelSpec: everything converters, validators and the pipeline need about a model.

Converters and validators never name a model; they read its spec. Adding a model
is one module that builds a Functional Keras model and registers a spec.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from models.errors import ConfigError
from models.formats import Precision
from models.keypoints import KeypointSet

if TYPE_CHECKING:
    import keras


class OutputKind(StrEnum):
    HEATMAPS = "heatmaps"
    OFFSETS = "offsets"
    DISPLACEMENTS = "displacements"
    PAFS = "pafs"
    COORDS = "coords"


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
        """uint8 RGB pixels [..., H, W, 3] -> float32 model input."""
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return (pixels.astype(np.float32) - mean) / std


@dataclass(frozen=True)
class OutputSpec:
    name: str
    kind: OutputKind
    stride: int


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
    pixels of the reference's, and ``max_pck_drop``, PCK@0.2 points lost against
    the reference on the labelled val split.
    """

    atol: float | None
    rtol: float
    min_cosine: float
    min_snr_db: float | None
    min_agreement: float
    max_pck_drop: float
    agreement_px: float = 2.0


@dataclass(frozen=True)
class TrainSchedule:
    """The default short schedule that makes the pipeline's own checkpoint."""

    epochs: int
    batch_size: int
    learning_rate: float
    train_images: int
    val_images: int


class Decoder(Protocol):
    """Model outputs of one image -> keypoints [persons, K, 3] as (x, y, score)
    in input pixels."""

    name: str

    def decode(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray: ...


class Encoder(Protocol):
    """Keypoints [persons, K, 3] (x, y, visibility) in input pixels -> training
    targets for each output of one image."""

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    seed: str  # the seed document this system comes from
    topology: Topology
    build: Callable[[Any], keras.Model]
    default: ModelConfig
    tiny: ModelConfig
    outputs: tuple[OutputSpec, ...]
    keypoints: KeypointSet
    make_decoder: Callable[[Any], Decoder]
    make_encoder: Callable[[Any], Encoder]
    losses: Mapping[str, Callable[..., Any]]
    schedule: TrainSchedule
    tiny_schedule: TrainSchedule
    tolerances: Mapping[Precision, Tolerance]
    input: InputSpec = field(default_factory=InputSpec)
    # Latency budgets: target name (validators/targets.py, e.g. "host-cpu-1t",
    # "pixel5-cpu-4t") -> the p50 milliseconds every artifact run or estimated on
    # that target must meet. A target without a budget is measured and reported only.
    budgets: Mapping[str, float] = field(default_factory=dict)
    # What every artifact says it is (embedded metadata): the model's version, to
    # bump when its architecture or training changes what its outputs mean, and the
    # licence its files ship under (posepipe trains its own weights: the project's).
    version: str = "1.0"
    license: str = "Apache-2.0"

    def __post_init__(self) -> None:
        names = [o.name for o in self.outputs]
        if sorted(names) != sorted(self.losses):
            raise ValueError(f"{self.name}: losses {sorted(self.losses)} != outputs {names}")
        if type(self.tiny) is not type(self.default):
            raise ValueError(f"{self.name}: tiny config is not a {type(self.default).__name__}")
        missing = [str(p) for p in Precision if p not in self.tolerances]
        if missing:  # an artifact is never validated without a bound
            raise ValueError(f"{self.name}: no tolerance for {', '.join(missing)}")
        bad = [f"{t}={ms}" for t, ms in self.budgets.items() if not ms > 0]
        if bad:
            raise ValueError(f"{self.name}: budgets must be positive milliseconds: {', '.join(bad)}")

    def config(self, preset: str = "default", overrides: Mapping[str, str] | None = None) -> Any:
        """The named preset ('default' or 'tiny') with string overrides applied."""
        if preset not in ("default", "tiny"):
            raise ConfigError(f"{self.name}: unknown preset {preset!r}; use 'default' or 'tiny'")
        base = self.default if preset == "default" else self.tiny
        return apply_overrides(base, overrides or {})

    def schedule_for(self, preset: str) -> TrainSchedule:
        return self.tiny_schedule if preset == "tiny" else self.schedule

    def output(self, name: str) -> OutputSpec:
        return next(o for o in self.outputs if o.name == name)


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
        if isinstance(current, tuple):  # sizes: "192" or "256x192"
            parts = [int(p) for p in text.lower().split("x")]
            return tuple(parts * 2 if len(parts) == 1 else parts)
        return type(current)(text)
    except ValueError:
        raise ConfigError(f"{key}={text!r}: expected a value like {current!r}") from None
