"""PoseNet (Papandreou et al.'s PersonLab, as TensorFlow.js published
it): a MobileNetV1 trunk at output stride 8, 16 or 32 and four 1x1 heads that
together find every person in the image bottom-up.

``heatmap`` (K logits) marks a disk around each keypoint, ``offset`` (2K) points
from each cell of a disk to its keypoint, and ``displacement_fwd`` /
``displacement_bwd`` (2E each) jump along the 16 edges of the pose tree, so the
decoder (models/codecs/posenet.py) can walk from any confident keypoint to the
rest of its person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from posepipe.models import losses
from posepipe.models.backbones.blocks import functional, heads
from posepipe.models.backbones.mobilenet_v1 import OUTPUT_STRIDES, mobilenet_v1
from posepipe.models.codecs.posenet import (
    BWD,
    FWD,
    HEATMAP,
    OFFSET,
    POSE_CHAIN,
    PoseNetDecoder,
    PoseNetEncoder,
    grid_size,
)
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision, Variant
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
)

# PoseNet PyTorch's models 50, 75, 100 and 101. "101" is not wider than 100: it is the
# same MobileNetV1 1.0 architecture with weights TensorFlow.js trained separately
# (posenet-pytorch builds both from one layer table), so 1.01 builds 1.0.
MULTIPLIERS = (0.5, 0.75, 1.0, 1.01)
STRIDE = 16  # the spec's static stride: the default config's (see SPEC)
PRIOR_LOGIT = -4.6  # heatmap bias at start: sigmoid 0.01, about the share of cells inside a disk (RetinaNet's
# prior), so the first steps do not spend themselves pushing ~99% background cells down from 0.5
# Loss weights as PersonLab's: heatmap 4, short-range offsets 1, mid-range displacements 0.25 (they are
# longer and noisier, and the offsets correct them anyway).
HEATMAP_WEIGHT, OFFSET_WEIGHT, DISPLACEMENT_WEIGHT = 4.0, 1.0, 0.25
# The vector losses' unit: Huber is quadratic below it and linear above. A quarter cell, not the disk
# radius: in units of 24 px, an offset 7 px off had a gradient a third of the linear one's and the
# default schedule ended with offsets 7.4 px off at the keypoint's cell (median, val), where an eye's
# OKS is near 0; linear down to 4 px keeps them refining to what OKS rewards.
VECTOR_SCALE = 4.0  # input pixels
# Valid values of the fields (models/limits.py adds input_size); _check the rest (multiplier, stride, grid).
LIMITS = {"width": Limit(0, 1, above=True, why="on top of depth_multiplier"),
          "disk_radius": Limit(0, MAX_SIDE, above=True), "score_threshold": Limit(0, 1),
          "pose_threshold": Limit(0, 1), "nms_radius": Limit(0, MAX_SIDE), "max_poses": Limit(1, 100)}


@dataclass(frozen=True)
class PoseNetConfig(ModelConfig):
    input_size: tuple[int, int] = (257, 257)  # PoseNet's: n * stride + 1 puts cell i on input pixel stride * i
    depth_multiplier: float = 0.5  # one of MULTIPLIERS (PoseNet PyTorch's --model 50/75/100/101)
    output_stride: int = 16  # 8, 16 or 32: finer grids cost quadratically more in the last blocks
    width: float = 1.0  # extra trunk width on top of depth_multiplier: 1.0 is the published
    # model; below only so the tiny test preset stays small (0.5 alone is 0.9 M parameters)
    num_keypoints: int = 17  # the pose tree (POSE_CHAIN) is COCO's 17
    # 1.5 cells at stride 16. Scaling PersonLab's 32 px (4 cells of its stride 8 on 801 px crops) to 257
    # would give 10 px, under one cell, so the radius is chosen in cells: every keypoint is within 0.71 cells
    # of a cell centre, so about seven cells learn it (a local maximum and several offset samples), and the
    # disk stays under the ~40 px between a shoulder and an elbow at 257.
    disk_radius: float = 24.0  # input pixels
    score_threshold: float = 0.5  # a root keypoint's minimum heatmap probability (PoseNet's)
    pose_threshold: float = 0.25  # a pose's minimum score (models/codecs/posenet.py says why)
    nms_radius: float = 20.0  # input pixels (PoseNet's)
    max_poses: int = 10


def build(config: PoseNetConfig) -> keras.Model:
    _check(config)
    h, w = config.input_size
    image = keras.Input((h, w, 3), name="image")
    features = mobilenet_v1(image, _multiplier(config), config.output_stride, "mobilenet")
    edges = len(POSE_CHAIN)
    heatmap = layers.Conv2D(config.num_keypoints, 1, name=HEATMAP,
                            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                            bias_initializer=keras.initializers.Constant(PRIOR_LOGIT))(features)
    vectors = heads(features, {OFFSET: 2 * config.num_keypoints, FWD: 2 * edges, BWD: 2 * edges})
    return functional(image, {HEATMAP: heatmap} | vectors, "posenet")


def _output_stride(config: PoseNetConfig) -> int:
    return config.output_stride


def _multiplier(config: PoseNetConfig) -> float:
    return (1.0 if config.depth_multiplier == 1.01 else config.depth_multiplier) * config.width


def _check(config: PoseNetConfig) -> None:
    if config.depth_multiplier not in MULTIPLIERS:
        raise ConfigError(f"posenet: depth_multiplier={config.depth_multiplier:g}; "
                          f"allowed: {', '.join(f'{m:g}' for m in MULTIPLIERS)}")
    if config.output_stride not in OUTPUT_STRIDES:
        raise ConfigError(f"posenet: output_stride={config.output_stride}; "
                          f"allowed: {', '.join(map(str, OUTPUT_STRIDES))}")
    if not 0.0 < config.width <= 1.0:
        raise ConfigError(f"posenet: width={config.width:g}; allowed: above 0, at most 1")
    if config.num_keypoints != len(COCO_17):
        raise ConfigError(f"posenet: num_keypoints={config.num_keypoints}; the pose tree is COCO's {len(COCO_17)}")
    h, w = config.input_size
    if (h - 1) % config.output_stride or (w - 1) % config.output_stride or min(h, w) <= config.output_stride:
        raise ConfigError(f"posenet: input_size {h}x{w}: each side must be a multiple of output_stride "
                          f"{config.output_stride} plus 1 (as 257), so cell i sits on input pixel "
                          f"{config.output_stride} * i where the encoder and decoder put it")


def _encoder(config: PoseNetConfig) -> PoseNetEncoder:
    _check(config)
    size = grid_size(config.input_size, config.output_stride)
    return PoseNetEncoder(config.output_stride, size, config.disk_radius)


def _decoder(config: PoseNetConfig) -> PoseNetDecoder:
    _check(config)
    return PoseNetDecoder(config.output_stride, score_threshold=config.score_threshold,
                          pose_threshold=config.pose_threshold, nms_radius=config.nms_radius,
                          max_poses=config.max_poses)


def _losses(config: PoseNetConfig) -> dict[str, Any]:
    """Focal heatmap loss; Huber on the vectors in units of VECTOR_SCALE, NaN (outside every disk)
    unsupervised."""
    vectors = losses.masked_huber(VECTOR_SCALE)
    return {
        HEATMAP: losses.Weighted(losses.heatmap_focal, HEATMAP_WEIGHT),
        OFFSET: losses.Weighted(vectors, OFFSET_WEIGHT),
        FWD: losses.Weighted(vectors, DISPLACEMENT_WEIGHT),
        BWD: losses.Weighted(vectors, DISPLACEMENT_WEIGHT),
    }


# Flips only: zoom and rotation measured to hurt these short schedules. precise_bn_batches: depthwise
# MobileNetV1 layers otherwise leave moving variances far above the batch ones (models/spec.py).
# Measured on the default model (posepipe run posenet): TFLite's selective int8 keeps the walk in float
# but feeds it maps it cannot read (peak agreement 0.4%, OKS AP -17.9); the int8 .onnx keypoints file
# passes (95.3% of peaks, OKS AP +0.09), as do both int8 app files.
KEYPOINTS_INT8_TFLITE = ("the in-graph walk loses its maps in TFLite's selective int8 (peak agreement 0.4%, "
                         "measured); the int8 .tflite app file and the int8 .onnx keypoints file carry int8")
_FLIPS = Augmentation(scale=(1.0, 1.0), rotation=0.0)

SPEC = ModelSpec(
    name="posenet",
    summary="MobileNetV1 PoseNet, multi-person: heatmaps, offsets, displacements at stride 8/16/32",
    origin="PoseNet PyTorch (TensorFlow.js PoseNet, multi-pose)",
    topology=Topology.BOTTOM_UP,
    build=build,
    limits=LIMITS,
    check=_check,
    training=TrainingGraph(build, _losses),  # the deployed graph, with its weighted losses
    default=PoseNetConfig(),
    tiny=PoseNetConfig(input_size=(65, 65), width=0.25),
    input=InputSpec(),  # RGB scaled to [-1, 1], as the published model
    outputs=(  # at the default stride; output_stride gives a config's (manifest, embedded metadata)
        OutputSpec(HEATMAP, OutputKind.HEATMAPS, STRIDE, Activation.SIGMOID),
        OutputSpec(OFFSET, OutputKind.OFFSETS, STRIDE),
        OutputSpec(FWD, OutputKind.DISPLACEMENTS, STRIDE, edges=POSE_CHAIN),  # parent -> child
        OutputSpec(BWD, OutputKind.DISPLACEMENTS, STRIDE, edges=tuple((c, p) for p, c in POSE_CHAIN)),  # reversed
    ),
    output_stride=_output_stride,
    xcode_preview=lambda c: ("poseEstimation", {"width_multiplier": _multiplier(c), "output_stride": c.output_stride}),
    keypoints=COCO_17,
    make_decoder=_decoder,
    make_encoder=_encoder,
    losses=_losses(PoseNetConfig()),
    schedule=TrainSchedule(epochs=10, batch_size=16, learning_rate=2e-3, train_images=2400, val_images=200,
                           augmentation=_FLIPS, precise_bn_batches=30),
    tiny_schedule=TrainSchedule(epochs=2, batch_size=8, learning_rate=2e-3, train_images=32, val_images=8,
                                precise_bn_batches=2),
    tolerances=DEFAULT_TOLERANCES,
    # host p50 1t, 2t (fp32 TFLite, measured beside an OpenPose run), pixel5, rpi4 fp32 estimates (ms):
    # models/policy/budgets.py
    budgets=budgets(6.34, 3.11, 21.3, 89.9),
    disabled_files={(Format.TFLITE, Precision.INT8, Variant.KEYPOINTS): KEYPOINTS_INT8_TFLITE},
)
