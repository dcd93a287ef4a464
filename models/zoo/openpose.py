"""OpenPose (Cao et al., CVPR 2017): confidence maps and part affinity
fields at stride 8, refined over stages, grouped into people bottom-up
(models/codecs/paf.py).

Two trunks. ``mobilenet`` is Osokin's lightweight OpenPose (2018): MobileNetV1 to
stride 8 with dilation, a "CPM" block, an initial stage and ``refinements``
refinement stages of residual 3x3 blocks; BatchNorm follows its stage convolutions
(without it the CPM block's ReLUs died in training). ``vgg19`` is the paper's:
VGG19's first ten convolutions, conv4_3_CPM / conv4_4_CPM, a 3x3 first stage and
7x7 refinement stages, no BatchNorm. Every stage after the first reads the
features and the previous stage's maps, and every stage is supervised (as CPM's,
models/zoo/cpm.py); the deployed model is the last stage's maps only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import keras
from keras import layers

from posepipe.models import losses
from posepipe.models.backbones.blocks import functional, scaled, submodel
from posepipe.models.backbones.mobilenet_v1 import mobilenet_v1
from posepipe.models.codecs.paf import HEATMAPS, LIMBS, PAFS, PafDecoder, PafEncoder
from posepipe.models.codecs.targets import SharedTarget
from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import COCO_17
from posepipe.models.limits import Limit
from posepipe.models.policy.budgets import budgets
from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES
from posepipe.models.spec import (
    Activation,
    Augmentation,
    InputSpec,
    ModelConfig,
    ModelSpec,
    OutputKind,
    OutputSpec,
    Topology,
    TrainingGraph,
    TrainSchedule,
)

STRIDE = 8
MAX_REFINEMENTS = 5  # the paper's six stages
# Valid values of the fields (models/limits.py adds input_size, width and sigma); _check the rest.
LIMITS = {"channels": Limit(8, 512), "limb_width": Limit(0, 16, above=True), "peak_threshold": Limit(0, 1),
          "min_paf": Limit(-1, 1, why="a mean dot product of unit vectors"),
          "min_parts": Limit(1, len(COCO_17)), "min_person_score": Limit(0, 1)}
TRUNK_BLOCKS = 11  # MobileNetV1 through conv5_5 (its last 512-channel block), as Osokin's
VGG_TRUNK = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512))  # conv1_1..conv4_2, pooled between
REFINEMENT_BLOCKS = 5  # residual blocks per lightweight refinement stage (Osokin's)
PRIOR_LOGIT = -4.6  # heatmap bias at start: sigmoid 0.01, as models/zoo/posenet.py says why
# PAF MSE weight. The fields are unit vectors on ~1.5% of the elements: a person filling the default 192
# crop gives targets of mean square 0.0083 (about 180 covered limb cells of 24x24x19), so the plain mean is
# ~120x below the error per covered limb cell. 100 puts the PAFs back near the heatmap loss's footing, which
# heatmap_focal sets per unit of target mass (~230 for that person), and their gradients then match at start.
PAF_WEIGHT = 100.0


class Backbone(StrEnum):
    MOBILENET = "mobilenet"  # lightweight OpenPose (Osokin 2018)
    VGG19 = "vgg19"  # the paper's


@dataclass(frozen=True)
class OpenPoseConfig(ModelConfig):
    input_size: tuple[int, int] = (192, 192)  # a multiple of 8
    backbone: Backbone = Backbone.MOBILENET
    refinements: int = 1  # stages after the first: 0 to 5 (Osokin's lightweight 1; the paper's VGG19 5)
    width: float = 1.0  # multiplies the trunk's channels
    channels: int = 128  # features every stage works on (the paper's and Osokin's 128)
    num_keypoints: int = 17
    sigma: float = 1.5  # confidence-map Gaussian, in cells
    limb_width: float = 1.0  # PAF half-width, in cells
    peak_threshold: float = 0.1  # decoder (models/codecs/paf.py): OpenPose's thre1
    min_paf: float = 0.05  # OpenPose's thre2
    min_parts: int = 3
    min_person_score: float = 0.2


def stage_output(stage: int, kind: str, config: OpenPoseConfig) -> str:
    """The last stage's maps are the deployed ``heatmaps`` / ``pafs``; earlier ones
    are training-only ``stage1_heatmaps``, ``stage1_pafs``, ..."""
    return kind if stage == config.refinements + 1 else f"stage{stage}_{kind}"


def build_training(config: OpenPoseConfig) -> keras.Model:
    """Every stage's maps as outputs: the graph intermediate supervision trains."""
    _check(config)
    h, w = config.input_size
    image = keras.Input((h, w, 3), name="image")
    mobile = config.backbone == Backbone.MOBILENET
    features = _mobile_features(image, config) if mobile else _vgg_features(image, config)
    maps: list[Any] = []
    outputs: dict[str, Any] = {}
    for stage in range(1, config.refinements + 2):
        x = features if not maps else layers.Concatenate(name=f"stage{stage}_input")([features, *maps])
        x = _mobile_stage(x, stage, config) if mobile else x  # the paper's stages are all in its branches
        maps = _branches(x, stage, config, mobile)
        outputs |= {stage_output(stage, HEATMAPS, config): maps[0], stage_output(stage, PAFS, config): maps[1]}
    return functional(image, outputs, "openpose")


def build(config: OpenPoseConfig) -> keras.Model:
    """The deployed model: the last stage's heatmaps and PAFs only."""
    return submodel(build_training(config), [HEATMAPS, PAFS], "openpose")


def _check(config: OpenPoseConfig) -> None:
    h, w = config.input_size
    if h % STRIDE or w % STRIDE:
        raise ConfigError(f"openpose: input_size {h}x{w} must be a multiple of {STRIDE}")
    if config.backbone not in tuple(Backbone):
        raise ConfigError(f"openpose: backbone={config.backbone!r}; allowed: {', '.join(Backbone)}")
    if not 0 <= config.refinements <= MAX_REFINEMENTS:
        raise ConfigError(f"openpose: refinements={config.refinements}; allowed: 0 to {MAX_REFINEMENTS}")
    if config.width <= 0 or config.channels < 8:
        raise ConfigError(f"openpose: width={config.width:g} must be above 0 and channels={config.channels} "
                          "at least 8")


def _conv(x: Any, filters: int, kernel: int, name: str, norm: bool, rate: int = 1) -> Any:
    """Convolution and ReLU, batch-normalised when ``norm`` (then without a bias)."""
    x = layers.Conv2D(filters, kernel, padding="same", dilation_rate=rate, use_bias=not norm, name=f"{name}_conv")(x)
    if norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _mobile_features(image: Any, config: OpenPoseConfig) -> Any:
    """MobileNetV1 to stride 8 (later blocks dilated), then Osokin's CPM block: a
    1x1 alignment plus a residual of three depthwise-separable 3x3s, then a 3x3."""
    x = mobilenet_v1(image, config.width, STRIDE, "trunk", stop_at=TRUNK_BLOCKS)
    c = config.channels
    align = _conv(x, c, 1, "cpm_align", norm=True)
    t = align
    for i in range(1, 4):
        t = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"cpm_trunk{i}_dw")(t)
        t = layers.BatchNormalization(name=f"cpm_trunk{i}_dw_bn")(t)
        t = layers.ReLU(name=f"cpm_trunk{i}_dw_relu")(t)
        t = _conv(t, c, 1, f"cpm_trunk{i}_pw", norm=True)
    x = layers.Add(name="cpm_add")([align, t])
    return _conv(x, c, 3, "cpm_out", norm=True)


def _vgg_features(image: Any, config: OpenPoseConfig) -> Any:
    """VGG19's conv1_1..conv4_2 with three max-pools (stride 8), then conv4_3_CPM
    (2 x channels) and conv4_4_CPM (channels), as the paper."""
    x = image
    for group, widths in enumerate(VGG_TRUNK, start=1):
        if group > 1:
            x = layers.MaxPooling2D(2, name=f"pool{group - 1}")(x)
        for i, filters in enumerate(widths, start=1):
            x = _conv(x, scaled(filters, config.width), 3, f"conv{group}_{i}", norm=False)
    x = _conv(x, 2 * config.channels, 3, "conv4_3_CPM", norm=False)
    return _conv(x, config.channels, 3, "conv4_4_CPM", norm=False)


def _mobile_stage(x: Any, stage: int, config: OpenPoseConfig) -> Any:
    """Stage 1: three 3x3s. Later stages: residual blocks (1x1, then a 3x3 and a
    dilated 3x3 added back), which see as far as the paper's 7x7s for less."""
    c, name = config.channels, f"stage{stage}"
    if stage == 1:
        for i in range(1, 4):
            x = _conv(x, c, 3, f"{name}_conv{i}", norm=True)
        return x
    for i in range(1, REFINEMENT_BLOCKS + 1):
        x = _conv(x, c, 1, f"{name}_block{i}_in", norm=True)
        t = _conv(x, c, 3, f"{name}_block{i}_a", norm=True)
        t = _conv(t, c, 3, f"{name}_block{i}_b", norm=True, rate=2)
        x = layers.Add(name=f"{name}_block{i}_add")([x, t])
    return x


def _branches(x: Any, stage: int, config: OpenPoseConfig, mobile: bool) -> list[Any]:
    """Heatmaps (K logits) and PAFs (2L) of one stage.

    Lightweight: each branch a 1x1 hidden layer then the 1x1 output (hidden 4 x
    channels in stage 1, channels later). VGG19: each branch its own 3x3 x3 (stage
    1) or 7x7 x5 (later) convolutions, a 1x1 (4 x channels in stage 1) and the
    1x1 output.
    """
    c, first = config.channels, stage == 1
    hidden = 4 * c if first else c
    maps = []
    for kind, n, bias in ((HEATMAPS, config.num_keypoints, PRIOR_LOGIT), (PAFS, 2 * len(LIMBS), 0.0)):
        name = f"stage{stage}_{kind}"
        h = x
        if not mobile:
            for i in range(1, 4 if first else 6):
                h = _conv(h, c, 3 if first else 7, f"{name}_conv{i}", norm=False)
        h = _conv(h, hidden, 1, f"{name}_hidden", norm=mobile)
        maps.append(layers.Conv2D(n, 1, name=stage_output(stage, kind, config),
                                  kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                  bias_initializer=keras.initializers.Constant(bias))(h))
    return maps


def _grid(config: OpenPoseConfig) -> tuple[int, int]:
    return config.input_size[0] // STRIDE, config.input_size[1] // STRIDE


def _encoder(config: OpenPoseConfig) -> SharedTarget:
    """The final targets under every stage's names too: two SharedTargets, one per map."""
    _check(config)
    earlier = range(1, config.refinements + 1)
    final = PafEncoder(STRIDE, _grid(config), config.sigma, config.limb_width)
    heatmaps = SharedTarget(final, HEATMAPS, tuple(stage_output(s, HEATMAPS, config) for s in earlier))
    return SharedTarget(heatmaps, PAFS, tuple(stage_output(s, PAFS, config) for s in earlier))


def _decoder(config: OpenPoseConfig) -> PafDecoder:
    return PafDecoder(STRIDE, logits=True, peak_threshold=config.peak_threshold, min_paf=config.min_paf,
                      min_parts=config.min_parts, min_person_score=config.min_person_score)


HEATMAP_LOSS = losses.heatmap_focal
PAF_LOSS = losses.Weighted(losses.pixel_mse, PAF_WEIGHT)


def _losses(config: OpenPoseConfig) -> dict[str, Any]:
    """The same two losses on every stage, equally weighted."""
    stages = range(1, config.refinements + 2)
    return ({stage_output(s, HEATMAPS, config): HEATMAP_LOSS for s in stages}
            | {stage_output(s, PAFS, config): PAF_LOSS for s in stages})


SPEC = ModelSpec(
    name="openpose",
    summary="OpenPose: heatmaps and part affinity fields at stride 8, lightweight MobileNetV1 or VGG19 trunk",
    origin="OpenPose using TensorFlow and TensorLayer",
    topology=Topology.BOTTOM_UP,
    build=build,
    limits=LIMITS,
    check=_check,
    training=TrainingGraph(build_training, _losses),
    default=OpenPoseConfig(),
    tiny=OpenPoseConfig(input_size=(64, 64), width=0.25, channels=32, refinements=1),
    input=InputSpec(),
    outputs=(OutputSpec(HEATMAPS, OutputKind.HEATMAPS, STRIDE, Activation.SIGMOID),
             OutputSpec(PAFS, OutputKind.PAFS, STRIDE, edges=LIMBS)),
    keypoints=COCO_17,
    make_decoder=_decoder,
    make_encoder=_encoder,
    losses={HEATMAPS: HEATMAP_LOSS, PAFS: PAF_LOSS},
    # Flips only (zoom and rotation measured to hurt these short schedules); precise BN as PoseNet's.
    schedule=TrainSchedule(epochs=6, batch_size=16, learning_rate=2e-3, train_images=2400, val_images=200,
                           augmentation=Augmentation(scale=(1.0, 1.0), rotation=0.0), precise_bn_batches=30),
    tiny_schedule=TrainSchedule(epochs=2, batch_size=8, learning_rate=2e-3, train_images=32, val_images=8,
                                precise_bn_batches=2),
    tolerances=DEFAULT_TOLERANCES,
    # models/policy/budgets.py's rule: fp32 .tflite p50 22.98 ms (1 thread) and 24.81 ms (2 threads, beside a Core ML
    # conversion), Pixel 5 and Raspberry Pi 4 estimates 162.2 and 685.4 ms (2.42 GMAC)
    budgets=budgets(22.98, 24.81, 162.2, 685.4),
)
