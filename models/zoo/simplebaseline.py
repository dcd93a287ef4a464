"""SimpleBaseline (Xiao et al. 2018): a ResNet backbone and three 4x4 stride-2
deconvolutions, heatmaps at stride 4, decoded with DARK.

DARK works both ways here: training targets are centred at each keypoint's
sub-cell position (``encoding=unbiased``; ``quantised`` rounds them to a cell as
the original SimpleBaseline did), and the decoder recovers the sub-cell position
from the predicted Gaussian (``refine=dark``; ``quarter`` and ``argmax`` are the
classic alternatives). ``posepipe dark-check`` measures the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from posepipe.models import losses
from posepipe.models.backbones.blocks import functional, heads, scaled
from posepipe.models.backbones.resnet import LAYOUTS, resnet
from posepipe.models.backbones.resnet import STRIDE as BACKBONE_STRIDE
from posepipe.models.codecs.heatmaps import Centre, HeatmapDecoder, HeatmapEncoder, Refinement
from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import COCO_17
from posepipe.models.limits import MAX_SIDE, Limit
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
    TrainSchedule,
)

STRIDE = 4
OUTPUT = "heatmaps"
# Valid values of the fields (models/limits.py adds width and sigma).
LIMITS = {"input_size": Limit(BACKBONE_STRIDE, MAX_SIDE, step=BACKBONE_STRIDE, why="the ResNet's stride"),
          "depth": Limit(choices=tuple(LAYOUTS), why="the ResNets"), "deconv_filters": Limit(8, 1024),
          "deconv_layers": Limit(choices=(3,), why="three bring stride 32 to 4")}


@dataclass(frozen=True)
class SimpleBaselineConfig(ModelConfig):
    # 128x96 is DarkPose TensorFlow's own smallest configuration (res50_128x96_d256x3).
    input_size: tuple[int, int] = (128, 96)
    depth: int = 50  # ResNet-50; 101 and 152 as in DarkPose TensorFlow, 18 and 34 for small models
    width: float = 0.5  # multiplies the backbone's channels: a full-width ResNet-50 does not train in CPU minutes
    deconv_filters: int = 256  # "d256x3": three deconvolutions of 256 channels, before ``width``
    deconv_layers: int = 3
    num_keypoints: int = 17
    sigma: float = 2.0  # target Gaussian, in heatmap cells; DARK smooths with the same
    encoding: Centre = Centre.UNBIASED
    refine: Refinement = Refinement.DARK


def build(config: SimpleBaselineConfig) -> keras.Model:
    h, w = config.input_size
    if h % BACKBONE_STRIDE or w % BACKBONE_STRIDE:
        raise ConfigError(f"simplebaseline: input_size {h}x{w} must be a multiple of {BACKBONE_STRIDE}")
    if BACKBONE_STRIDE // 2**config.deconv_layers != STRIDE:
        raise ConfigError(f"simplebaseline: deconv_layers={config.deconv_layers}; 3 bring stride 32 to {STRIDE}")
    image = keras.Input((h, w, 3), name="image")
    x = resnet(image, config.depth, config.width)
    filters = scaled(config.deconv_filters, config.width)
    for index in range(1, config.deconv_layers + 1):
        x = layers.Conv2DTranspose(filters, 4, 2, padding="same", use_bias=False, name=f"deconv{index}")(x)
        x = layers.BatchNormalization(name=f"deconv{index}_bn")(x)
        x = layers.ReLU(name=f"deconv{index}_relu")(x)
    return functional(image, heads(x, {OUTPUT: config.num_keypoints}), "simplebaseline")


def _heatmap_size(config: SimpleBaselineConfig) -> tuple[int, int]:
    return config.input_size[0] // STRIDE, config.input_size[1] // STRIDE


SPEC = ModelSpec(
    name="simplebaseline",
    summary="ResNet + three deconvolutions, heatmaps at stride 4, DARK encoding and decoding",
    origin="DarkPose TensorFlow (SimpleBaseline with DARK)",
    topology=Topology.TOP_DOWN,
    build=build,
    limits=LIMITS,
    default=SimpleBaselineConfig(),
    tiny=SimpleBaselineConfig(input_size=(64, 32), depth=18, width=0.25),  # 0.125 crashes oneDNN training
    input=InputSpec(),
    outputs=(OutputSpec(OUTPUT, OutputKind.HEATMAPS, STRIDE, Activation.SPATIAL_SOFTMAX),),
    keypoints=COCO_17,
    make_decoder=lambda c: HeatmapDecoder(OUTPUT, STRIDE, c.refine, logits=True, sigma=c.sigma),
    make_encoder=lambda c: HeatmapEncoder(OUTPUT, STRIDE, _heatmap_size(c), c.sigma, c.encoding),
    losses={OUTPUT: losses.spatial_softmax_ce},
    schedule=TrainSchedule(epochs=5, batch_size=16, learning_rate=4e-3, train_images=2400, val_images=200),
    tiny_schedule=TrainSchedule(epochs=3, batch_size=8, learning_rate=2e-3, train_images=48, val_images=16),
    tolerances=DEFAULT_TOLERANCES,
    # host p50 1t, 2t (measured), pixel5, rpi4 fp32 estimates (ms): models/policy/budgets.py
    budgets=budgets(88.5, 44.0, 23.3, 98.5),
)
