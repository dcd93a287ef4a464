"""MobileNetV2-based Convolutional Pose Machine ("cpm-b0" of Mobile Pose Estimation
for TensorFlow 2.0): a MobileNetV2 trunk to stride 4, then 1-5 stages that each
predict belief maps (heatmaps) for the 17 COCO keypoints; every stage after the
first sees the trunk's features and the previous stage's belief maps, so it can
correct one keypoint from the others.

Training supervises every stage (Wei et al.'s intermediate supervision, which is
what keeps the gradient alive through a deep stack of stages); the deployed model
is the same graph with only the last stage's maps as its output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from posepipe.models import losses
from posepipe.models.backbones.blocks import conv_bn_relu6, functional, heads, inverted_residual, scaled, submodel
from posepipe.models.codecs.heatmaps import HeatmapDecoder, HeatmapEncoder, Refinement
from posepipe.models.codecs.targets import SharedTarget
from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import COCO_17
from posepipe.models.limits import Limit
from posepipe.models.policy.budgets import budgets
from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES
from posepipe.models.spec import (
    Activation,
    InputSpec,
    ModelConfig,
    ModelSpec,
    OutputKind,
    OutputSpec,
    Topology,
    TrainingGraph,
    TrainSchedule,
)

STRIDE = 4
OUTPUT = "heatmaps"
MAX_STAGES = 5
# Valid values of the fields (models/limits.py adds input_size, width and sigma); _check the rest.
LIMITS = {"channels": Limit(8, 512), "stage_blocks": Limit(1, 8), "stage_kernel": Limit(choices=(1, 3, 5, 7, 9)),
          "expansion": Limit(1, 8)}
ORIGIN = "Mobile Pose Estimation for TensorFlow 2.0"


@dataclass(frozen=True)
class CPMConfig(ModelConfig):
    input_size: tuple[int, int] = (128, 128)  # as the hourglass: trains in minutes on a CPU
    width: float = 1.0  # multiplies every channel count
    channels: int = 64  # trunk features every stage reads, before ``width``
    stages: int = 1  # ORIGIN's default CPM is "cpm-b0, Stage 1"; 2-5 add refining stages
    stage_blocks: int = 3  # inverted-residual blocks per stage
    stage_kernel: int = 5  # depthwise kernel in the stages (CPM uses 7x7 convolutions; a 7x7 depthwise ran
    # 9x slower than 5x5 in LiteRT fp32 on the x86 host, 300 vs 32 ms at 128x128, for 8% fewer parameters)
    expansion: int = 4  # inverted-residual expansion inside the stages
    num_keypoints: int = 17
    sigma: float = 2.0  # target Gaussian, in heatmap cells
    # DARK decoding (models/codecs/dark.py) rather than the quarter-cell step: it is
    # continuous in the heatmap, so where two cells tie at the peak, float16 or int8
    # rounding moves the keypoint by a fraction of a pixel instead of by a whole cell
    refine: Refinement = Refinement.DARK


def stage_output(stage: int, config: CPMConfig) -> str:
    """The last stage's maps are the deployed ``heatmaps``; earlier ones are
    training-only outputs ``stage1_heatmaps``, ``stage2_heatmaps``, ..."""
    return OUTPUT if stage == config.stages else f"stage{stage}_{OUTPUT}"


def build_training(config: CPMConfig) -> keras.Model:
    """Every stage's belief maps as an output: the graph intermediate supervision trains."""
    _check(config)
    h, w = config.input_size
    image = keras.Input((h, w, 3), name="image")
    features = _trunk(image, config)
    outputs: dict[str, Any] = {}
    beliefs = None
    for stage in range(1, config.stages + 1):
        x = features if beliefs is None else layers.Concatenate(name=f"stage{stage}_input")([features, beliefs])
        x = _stage(x, stage, config)
        name = stage_output(stage, config)
        beliefs = heads(x, {name: config.num_keypoints})[name]
        outputs[name] = beliefs
    return functional(image, outputs, "cpm")


def build(config: CPMConfig) -> keras.Model:
    """The deployed model: the last stage's heatmaps only."""
    return submodel(build_training(config), [OUTPUT], "cpm")


def _check(config: CPMConfig) -> None:
    if not 1 <= config.stages <= MAX_STAGES:
        raise ConfigError(f"cpm: stages={config.stages}; a CPM has 1 to {MAX_STAGES} stages (as in {ORIGIN})")
    h, w = config.input_size
    if h % STRIDE or w % STRIDE:
        raise ConfigError(f"cpm: input_size {h}x{w} must be a multiple of {STRIDE}")


def _trunk(image: Any, config: CPMConfig) -> Any:
    """MobileNetV2's first blocks, down to stride 4."""
    x = conv_bn_relu6(image, scaled(16, config.width), 3, 2, "stem")
    x = inverted_residual(x, scaled(16, config.width), 1, 1, "stem_ir1")
    x = inverted_residual(x, scaled(24, config.width), 6, 2, "stem_ir2")
    x = inverted_residual(x, scaled(24, config.width), 6, 1, "stem_ir3")
    x = inverted_residual(x, scaled(config.channels, config.width), 6, 1, "stem_ir4")
    return inverted_residual(x, scaled(config.channels, config.width), 6, 1, "stem_ir5")


def _stage(x: Any, stage: int, config: CPMConfig) -> Any:
    channels = scaled(config.channels, config.width)
    for block in range(1, config.stage_blocks + 1):
        x = inverted_residual(x, channels, config.expansion, 1, f"stage{stage}_ir{block}", config.stage_kernel)
    return x


def _heatmap_size(config: CPMConfig) -> tuple[int, int]:
    return config.input_size[0] // STRIDE, config.input_size[1] // STRIDE


def _encoder(config: CPMConfig) -> SharedTarget:
    final = HeatmapEncoder(OUTPUT, STRIDE, _heatmap_size(config), config.sigma)
    return SharedTarget(final, OUTPUT, tuple(stage_output(s, config) for s in range(1, config.stages)))


def _losses(config: CPMConfig) -> dict[str, Any]:
    """The same spatial-softmax cross-entropy on every stage, equally weighted."""
    return {stage_output(s, config): losses.spatial_softmax_ce for s in range(1, config.stages + 1)}


SPEC = ModelSpec(
    name="cpm",
    summary="MobileNetV2 convolutional pose machine, 1-5 stages, heatmaps at stride 4",
    origin=ORIGIN,
    topology=Topology.TOP_DOWN,
    build=build,
    limits=LIMITS,
    check=_check,
    training=TrainingGraph(build_training, _losses),
    default=CPMConfig(),
    tiny=CPMConfig(input_size=(64, 64), width=0.5, channels=16, stages=2, stage_blocks=1, stage_kernel=5,
                   expansion=2),
    input=InputSpec(),
    outputs=(OutputSpec(OUTPUT, OutputKind.HEATMAPS, STRIDE, Activation.SPATIAL_SOFTMAX),),
    keypoints=COCO_17,
    make_decoder=lambda c: HeatmapDecoder(OUTPUT, STRIDE, c.refine, logits=True, sigma=c.sigma),
    make_encoder=_encoder,
    losses={OUTPUT: losses.spatial_softmax_ce},
    schedule=TrainSchedule(epochs=5, batch_size=16, learning_rate=4e-3, train_images=2400, val_images=200),
    # 1e-2 for the tests' 18 steps: at 2e-3 the tiny model's heatmaps stayed flat to 6e-4 (val PCK@0.2
    # 0.004), so runtimes that agree to 1e-9 still broke argmax ties differently; now 0.09 apart
    tiny_schedule=TrainSchedule(epochs=3, batch_size=8, learning_rate=1e-2, train_images=48, val_images=16),
    tolerances=DEFAULT_TOLERANCES,
    # host p50 1t, 2t (measured), pixel5, rpi4 fp32 estimates (ms): models/policy/budgets.py
    budgets=budgets(31.7, 19.0, 14.2, 59.8),
)
