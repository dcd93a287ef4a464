"""MobileNetV2-based Hourglass ("hg-b0" of Mobile Pose Estimation for TensorFlow 2.0):
inverted-residual blocks in a recursive hourglass of depth 4, heatmaps at stride 4
for the 17 COCO keypoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from posepipe.models import losses
from posepipe.models.backbones.blocks import (
    conv_bn_relu6,
    functional,
    heads,
    inverted_residual,
    scaled,
    upsample_nearest,
)
from posepipe.models.codecs.heatmaps import HeatmapDecoder, HeatmapEncoder, Refinement
from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import COCO_17
from posepipe.models.limits import Limit
from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES
from posepipe.models.spec import (
    Activation,
    InputSpec,
    ModelConfig,
    ModelSpec,
    OutputKind,
    OutputSpec,
    Topology,
    TrainSchedule,
)

STRIDE = 4


@dataclass(frozen=True)
class HourglassConfig(ModelConfig):
    input_size: tuple[int, int] = (128, 128)  # 192 converts too; 128 trains in minutes on a CPU
    width: float = 1.0  # multiplies every channel count
    channels: int = 48  # channels inside the hourglass, before ``width``
    depth: int = 4  # how many times the hourglass halves its resolution
    expansion: int = 4  # inverted-residual expansion inside the hourglass
    growth: float = 1.6  # channels grow as resolution halves (48, 80, 128, 208): the weights
    # then sit where they cost few FLOPs, and int8 files shrink to under 0.3x, because
    # per-channel scales weigh less against wider kernels
    num_keypoints: int = 17
    sigma: float = 2.0  # target Gaussian, in heatmap cells


# Valid values of the fields (models/limits.py adds input_size, width and sigma); _check the rest.
LIMITS = {"channels": Limit(8, 512), "depth": Limit(1, 6), "expansion": Limit(1, 8), "growth": Limit(0, 3, above=True)}


def _check(config: HourglassConfig) -> None:
    h, w = config.input_size
    multiple = STRIDE * 2**config.depth
    if h % multiple or w % multiple:
        raise ConfigError(
            f"hourglass: input_size {h}x{w} must be a multiple of {multiple} for depth {config.depth}"
        )


def build(config: HourglassConfig) -> keras.Model:
    _check(config)
    h, w = config.input_size
    channels = scaled(config.channels, config.width)
    image = keras.Input((h, w, 3), name="image")
    x = conv_bn_relu6(image, scaled(16, config.width), 3, 2, "stem")
    x = inverted_residual(x, scaled(16, config.width), 1, 1, "stem_ir1")
    x = inverted_residual(x, scaled(24, config.width), 6, 2, "stem_ir2")
    x = inverted_residual(x, scaled(24, config.width), 6, 1, "stem_ir3")
    x = inverted_residual(x, channels, 6, 1, "stem_ir4")
    x = _hourglass(x, config.depth, channels, config, "hg")
    x = inverted_residual(x, channels, config.expansion, 1, "neck")
    return functional(image, heads(x, {"heatmaps": config.num_keypoints}), "hourglass")


def _hourglass(x: Any, depth: int, channels: int, config: HourglassConfig, name: str) -> Any:
    """Newell et al.'s recursion: a full-resolution branch plus a pooled branch that
    recurses, upsampled and added back."""
    expansion = config.expansion
    inner = scaled(channels, config.growth)
    upper = inverted_residual(x, channels, expansion, 1, f"{name}{depth}_upper")
    lower = layers.MaxPooling2D(2, name=f"{name}{depth}_pool")(x)
    lower = inverted_residual(lower, inner, expansion, 1, f"{name}{depth}_down")
    if depth > 1:
        lower = _hourglass(lower, depth - 1, inner, config, name)
    else:
        lower = inverted_residual(lower, inner, expansion, 1, f"{name}{depth}_bottom")
    lower = inverted_residual(lower, channels, expansion, 1, f"{name}{depth}_up")
    # one resize op in every format (ONNX Resize, not Tile): NNAPI and Core ML take it whole
    lower = upsample_nearest(lower, 2, f"{name}{depth}_upsample")
    return layers.Add(name=f"{name}{depth}_merge")([upper, lower])


def _heatmap_size(config: HourglassConfig) -> tuple[int, int]:
    return config.input_size[0] // STRIDE, config.input_size[1] // STRIDE


SPEC = ModelSpec(
    name="hourglass",
    summary="MobileNetV2 hourglass, depth 4, heatmaps at stride 4",
    origin="Mobile Pose Estimation for TensorFlow 2.0",
    topology=Topology.TOP_DOWN,
    build=build,
    limits=LIMITS,
    check=_check,
    default=HourglassConfig(),
    tiny=HourglassConfig(input_size=(64, 64), width=0.5, channels=16, depth=2, expansion=2, growth=1.0),
    input=InputSpec(),
    outputs=(OutputSpec("heatmaps", OutputKind.HEATMAPS, STRIDE, Activation.SPATIAL_SOFTMAX),),
    keypoints=COCO_17,
    # DARK, as CPM: continuous in the heatmap, so where two cells tie at the peak
    # float16 rounding moves a keypoint by a fraction of a pixel, not a whole cell
    make_decoder=lambda c: HeatmapDecoder("heatmaps", STRIDE, Refinement.DARK, logits=True, sigma=c.sigma),
    make_encoder=lambda c: HeatmapEncoder("heatmaps", STRIDE, _heatmap_size(c), c.sigma),
    losses={"heatmaps": losses.spatial_softmax_ce},
    schedule=TrainSchedule(epochs=5, batch_size=16, learning_rate=4e-3, train_images=2400, val_images=200),
    tiny_schedule=TrainSchedule(epochs=3, batch_size=8, learning_rate=2e-3, train_images=48, val_images=16),
    tolerances=DEFAULT_TOLERANCES,
    # 1.1: nearest upsampling as one resize op (NearestUpsampling) instead of UpSampling2D's
    # repeat; the same numbers, and a 1.0 checkpoint loads (its weights are the same).
    version="1.1",
    # Real time on a phone (30 fps on a Pixel 5, 10 fps on a Raspberry Pi 4; estimated
    # 10 / 7.4 ms and 42 / 20 ms fp32 / int8). The host is no phone: its budget guards
    # against regressions. The default files take 5-9 ms there idle and 20-58 ms with
    # three other jobs on the two cores (`make bench`); 100 ms holds on a busy runner
    # and still catches a fall to LiteRT's reference int16x8 kernels (140-400 ms).
    budgets={"host-cpu-1t": 100.0, "host-cpu-2t": 100.0, "pixel5-cpu-4t": 33.0, "rpi4-cpu-4t": 100.0},
)
