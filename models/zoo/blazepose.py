"""BlazePose (Bazarevsky et al. 2020) as a TensorFlow implementation of it builds
it: BlazeBlocks with channel attention, a heatmap branch that upsamples back to
stride 2 with skip connections, and a regression branch that reads the heatmap
branch's features and regresses the keypoints directly.

Training runs in that implementation's two stages. Pre-training fits the heatmaps; fine-tuning
freezes the backbone and heatmap branch (the paper's stop-gradient) and fits the
regression. The deployed model outputs the regressed ``coords`` and their
``visibility`` (and, with ``-o heatmaps=true``, the heatmaps too), so a phone
needs no heatmap decoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from posepipe.models import losses
from posepipe.models.backbones.blocks import channel_attention, functional, scaled, separable, submodel
from posepipe.models.codecs.coords import CoordinateDecoder, CoordinateEncoder
from posepipe.models.codecs.heatmaps import HeatmapDecoder, HeatmapEncoder
from posepipe.models.codecs.targets import CombinedEncoder
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Precision
from posepipe.models.keypoints import COCO_17
from posepipe.models.limits import MAX_SIDE, Limit
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
    TrainStage,
)

HEATMAP_STRIDE = 2  # as the TensorFlow BlazePose: 128x128 heatmaps for a 256x256 input
BACKBONE_STRIDE = 32
COORDS, VISIBILITY, HEATMAPS = "coords", "visibility", "heatmaps"
# Layer-name prefixes: what each training stage trains or freezes.
BACKBONE, HEATMAP_BRANCH, REGRESSION = "backbone", "heatmap", "regression"
# Valid values of the fields (models/limits.py adds width and sigma).
LIMITS = {"input_size": Limit(BACKBONE_STRIDE, MAX_SIDE, step=BACKBONE_STRIDE, why="the backbone's stride"),
          "block_convs": Limit(0, 8), "tail_blocks": Limit(0, 4), "tail_convs": Limit(0, 8)}


@dataclass(frozen=True)
class BlazePoseConfig(ModelConfig):
    input_size: tuple[int, int] = (128, 128)  # the TensorFlow BlazePose's 256 halved: trains in minutes on a CPU
    width: float = 1.0  # multiplies every channel count
    num_keypoints: int = 17
    sigma: float = 2.0  # pre-training target Gaussian, in heatmap cells
    heatmaps: bool = False  # deploy the heatmaps beside the regressed coordinates
    block_convs: tuple[int, int, int, int] = (3, 4, 5, 6)  # separable convs in the four BlazeBlocks
    tail_blocks: int = 1  # BlazeBlocks after stride 32 in the regression branch: the TensorFlow BlazePose's two at 256
    # end on a 2x2 map, one does at 128x128 (two ended on 1x1, where 7 residual convolutions on single
    # values compounded int8 error to an SQNR of 11 dB)
    tail_convs: int = 7  # separable convs in each of them


def build_training(config: BlazePoseConfig) -> keras.Model:
    """Both heads: pre-training fits ``heatmaps``, fine-tuning ``coords`` and ``visibility``."""
    h, w = config.input_size
    if h % BACKBONE_STRIDE or w % BACKBONE_STRIDE:
        raise ConfigError(f"blazepose: input_size {h}x{w} must be a multiple of {BACKBONE_STRIDE}")
    c = _channels(config.width)
    image = keras.Input((h, w, 3), name="image")
    skips = _backbone(image, c, config.block_convs)
    features, heatmaps = _heatmap_branch(skips, c, config.num_keypoints)
    coords, visibility = _regression_branch(features, skips, c, config)
    return functional(image, {COORDS: coords, VISIBILITY: visibility, HEATMAPS: heatmaps}, "blazepose")


def build(config: BlazePoseConfig) -> keras.Model:
    return submodel(build_training(config), list(_deployed(config)), "blazepose")


def _deployed(config: BlazePoseConfig) -> tuple[str, ...]:
    return (COORDS, VISIBILITY, HEATMAPS) if config.heatmaps else (COORDS, VISIBILITY)


def _channels(width: float) -> dict[str, int]:
    return {k: scaled(v, width) for k, v in
            {"stem": 24, "b1": 48, "b2": 96, "b3": 192, "b4": 288, "up": 48, "fine": 8}.items()}


def blaze_block(x: Any, channels: int, convs: int, name: str) -> Any:
    """Downsample by 2 (strided separable convolution + max-pooled shortcut), then
    ``convs`` residual separable convolutions, then channel attention.

    The TensorFlow BlazePose pads the shortcut's channels with zeros through a custom layer; a
    1x1 convolution does the same job with a standard layer every converter knows.
    """
    shortcut = layers.MaxPooling2D(2, padding="same", name=f"{name}_pool")(x)
    if shortcut.shape[-1] != channels:
        shortcut = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_pool_proj")(shortcut)
    x = layers.Add(name=f"{name}_down_add")([separable(x, channels, f"{name}_down", stride=2), shortcut])
    x = layers.ReLU(name=f"{name}_down_relu")(x)
    for i in range(1, convs + 1):
        x = layers.Add(name=f"{name}_{i}_add")([x, separable(x, channels, f"{name}_{i}")])
        x = layers.ReLU(name=f"{name}_{i}_relu")(x)
    return channel_attention(x, f"{name}_attention")


def _separable_relu(x: Any, channels: int, name: str) -> Any:
    return layers.ReLU(name=f"{name}_relu")(separable(x, channels, name))


def _backbone(image: Any, c: dict[str, int], convs: tuple[int, ...]) -> list[Any]:
    """Features at strides 2, 4, 8, 16 and 32, for the skips of both branches."""
    x = layers.Conv2D(c["stem"], 3, 2, padding="same", use_bias=False, name=f"{BACKBONE}_stem_conv")(image)
    x = layers.ReLU(name=f"{BACKBONE}_stem_relu")(layers.BatchNormalization(name=f"{BACKBONE}_stem_bn")(x))
    for i in (1, 2):
        x = layers.Add(name=f"{BACKBONE}_sep{i}_add")([x, separable(x, c["stem"], f"{BACKBONE}_sep{i}")])
        x = layers.ReLU(name=f"{BACKBONE}_sep{i}_relu")(x)
    skips = [x]
    for i, (key, count) in enumerate(zip(("b1", "b2", "b3", "b4"), convs, strict=True), start=1):
        skips.append(blaze_block(skips[-1], c[key], count, f"{BACKBONE}_block{i}"))
    return skips


def _upsample(x: Any, name: str) -> Any:
    return layers.UpSampling2D(2, interpolation="bilinear", name=name)(x)


def _heatmap_branch(skips: list[Any], c: dict[str, int], keypoints: int) -> tuple[Any, Any]:
    """Up from stride 32 to 2, adding each skip: returns the stride-4 features the
    regression branch reads and the heatmap logits."""
    s2, s4, s8, s16, s32 = skips
    n = HEATMAP_BRANCH
    x = _upsample(_separable_relu(s32, c["up"], f"{n}_s32"), f"{n}_up16")
    x = layers.Add(name=f"{n}_add16")([x, _separable_relu(s16, c["up"], f"{n}_s16")])
    x = layers.Add(name=f"{n}_add8")([_upsample(x, f"{n}_up8"), _separable_relu(s8, c["up"], f"{n}_s8")])
    features = layers.Add(name=f"{n}_add4")([_upsample(x, f"{n}_up4"), _separable_relu(s4, c["up"], f"{n}_s4")])
    x = _upsample(_separable_relu(features, c["fine"], f"{n}_fine4"), f"{n}_up2")
    x = layers.Add(name=f"{n}_add2")([x, _separable_relu(s2, c["fine"], f"{n}_s2")])
    x = _separable_relu(x, c["fine"], f"{n}_out")
    heatmaps = layers.Conv2D(keypoints, 3, padding="same", name=HEATMAPS)(x)
    return features, heatmaps


def _regression_branch(features: Any, skips: list[Any], c: dict[str, int],
                       config: BlazePoseConfig) -> tuple[Any, Any]:
    """Down from stride 4 to a few cells, adding the backbone's features on the
    way; dense layers regress (x, y) and the visibility probability per keypoint."""
    _, _, s8, s16, s32 = skips
    n = REGRESSION
    x = features
    for key, convs, skip, stride in zip(("b2", "b3", "b4"), config.block_convs[1:], (s8, s16, s32), (8, 16, 32),
                                        strict=True):
        x = blaze_block(x, c[key], convs, f"{n}_s{stride}")
        x = layers.Add(name=f"{n}_s{stride}_add")([x, _separable_relu(skip, c[key], f"{n}_s{stride}_skip")])
    for i in range(1, config.tail_blocks + 1):
        x = blaze_block(x, c["b4"], config.tail_convs, f"{n}_tail{i}")
    x = layers.GlobalAveragePooling2D(name=f"{n}_pool")(x)
    keypoints = config.num_keypoints
    xy = layers.Dense(2 * keypoints, bias_initializer=keras.initializers.Constant(0.5), name=f"{n}_dense")(x)
    visibility = layers.Dense(keypoints, activation="sigmoid", name=VISIBILITY)(x)
    return layers.Reshape((keypoints, 2), name=COORDS)(xy), visibility


def _encoder(config: BlazePoseConfig) -> CombinedEncoder:
    h, w = config.input_size
    size = (h // HEATMAP_STRIDE, w // HEATMAP_STRIDE)
    return CombinedEncoder((CoordinateEncoder(COORDS, VISIBILITY, config.input_size),
                            HeatmapEncoder(HEATMAPS, HEATMAP_STRIDE, size, config.sigma)))


def _stages(pretrain: int, finetune: int) -> tuple[TrainStage, ...]:
    """The TensorFlow BlazePose's train_mode 0 then 1: each stage freezes what the other trains."""
    return (
        TrainStage("pretrain", pretrain, (HEATMAPS,), frozen=(REGRESSION,)),
        TrainStage("finetune", finetune, (COORDS, VISIBILITY), frozen=(BACKBONE, HEATMAP_BRANCH)),
    )


def _heatmap_monitor(config: BlazePoseConfig) -> dict[str, Any]:
    """The heatmaps' own PCK per epoch: what pre-training improves, and what the
    TensorFlow BlazePose picks the fine-tuning start epoch by."""
    return {HEATMAPS: HeatmapDecoder(HEATMAPS, HEATMAP_STRIDE, logits=True, sigma=config.sigma)}


# Measured with `posepipe run blazepose --precisions int8` on the PyDataset-trained checkpoint (val PCK@0.2
# 0.573: 22-32 points) and the tf.data-trained one (0.545: 41 points), and with --keep-float for every
# regression layer on a checkpoint with five fine-tuning epochs. The coordinates are regressed from fine
# differences of pooled features, which int8 activations upstream blur.
INT8_REASON = ("int8 activations cost 22-41 PCK@0.2 points (TFLite and ONNX); with the whole regression "
               "branch kept in float the ONNX file still lost 1.08 points and ran no faster than fp32 "
               "(p50 7.8 against 6.9 ms), so fp16 is this model's small file")

LOSSES = {COORDS: losses.keypoint_position, VISIBILITY: losses.keypoint_visibility, HEATMAPS: losses.spatial_softmax_ce}

SPEC = ModelSpec(
    name="blazepose",
    summary="BlazeBlocks with channel attention; heatmap pre-training, coordinate regression",
    origin="BlazePose, a TensorFlow implementation (two-stage training)",
    topology=Topology.TOP_DOWN,
    build=build,
    limits=LIMITS,
    training=TrainingGraph(build_training, lambda c: LOSSES),
    deployed_outputs=_deployed,
    make_monitors=_heatmap_monitor,
    default=BlazePoseConfig(),
    tiny=BlazePoseConfig(input_size=(64, 64), width=0.25, block_convs=(1, 1, 1, 1), tail_blocks=1, tail_convs=1),
    input=InputSpec(),
    outputs=(OutputSpec(COORDS, OutputKind.COORDS, None),
             OutputSpec(VISIBILITY, OutputKind.VISIBILITY, None, Activation.PROBABILITY),
             OutputSpec(HEATMAPS, OutputKind.HEATMAPS, HEATMAP_STRIDE, Activation.SPATIAL_SOFTMAX)),
    keypoints=COCO_17,
    make_decoder=lambda c: CoordinateDecoder(COORDS, VISIBILITY, c.input_size),
    make_encoder=_encoder,
    losses=LOSSES,
    # flips only: with the default zoom 0.9-1.1 and ±10° the regression head reached
    # val PCK@0.2 0.522 in these ten epochs, with flips only 0.545;
    # fine-tuning still gained 16 PCK points in its fifth epoch (0.357 -> 0.515): seven
    schedule=TrainSchedule(epochs=10, batch_size=16, learning_rate=4e-3, train_images=2400, val_images=200,
                           stages=_stages(3, 7), augmentation=Augmentation(scale=(1.0, 1.0), rotation=0.0)),
    tiny_schedule=TrainSchedule(epochs=4, batch_size=8, learning_rate=2e-3, train_images=48, val_images=16,
                                stages=_stages(2, 2)),
    tolerances=DEFAULT_TOLERANCES,
    # host p50 1t, 2t (measured), pixel5, rpi4 fp32 estimates (ms): models/policy/budgets.py
    budgets=budgets(21.9, 9.6, 7.4, 31.3),
    disabled={Precision.INT8: INT8_REASON},
)
