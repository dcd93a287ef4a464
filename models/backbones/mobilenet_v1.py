"""MobileNetV1 as PoseNet and lightweight OpenPose use it:
13 depthwise-separable blocks, every convolution batch-normalised with ReLU6,
and an output stride chosen at build time (atrous, as PoseNet does).

Training keeps BatchNorm as its own layer; the converters fold it into the
convolution before it, so a deployed file has exactly the published layers.
"""

from __future__ import annotations

from typing import Any

from keras import layers

from posepipe.models.backbones.blocks import conv_bn_relu6, scaled

STEM = 32  # the first 3x3 convolution's filters, stride 2
# The 13 blocks: (pointwise filters, stride of the depthwise 3x3)
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
OUTPUT_STRIDES = (8, 16, 32)


def mobilenet_v1(image: Any, multiplier: float, output_stride: int, prefix: str, stop_at: int = len(BLOCKS)) -> Any:
    """Features of ``image`` after blocks 1..``stop_at`` (13: the whole network).

    Once the running stride reaches ``output_stride``, a later stride-2 block keeps
    the resolution and every block after it dilates its depthwise kernel by the
    stride it gave up (rates multiply), so each block still sees the input pixels
    it would have seen: the same weights fit any output stride, which is how
    PoseNet trades speed for resolution. 'same' padding: an input of
    ``n * output_stride + 1`` pixels gives ``n + 1`` cells, cell i centred on
    input pixel ``output_stride * i``.
    """
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride {output_stride}: MobileNetV1 supports {OUTPUT_STRIDES}")
    if not 1 <= stop_at <= len(BLOCKS):
        raise ValueError(f"stop_at {stop_at}: MobileNetV1 has blocks 1 to {len(BLOCKS)}")
    x = conv_bn_relu6(image, scaled(STEM, multiplier), 3, 2, f"{prefix}_conv0")
    for index, (stride, rate) in enumerate(atrous_plan(output_stride)[:stop_at], start=1):
        filters = scaled(BLOCKS[index - 1][0], multiplier)
        x = separable_block(x, filters, stride, rate, f"{prefix}_block{index}")
    return x


def atrous_plan(output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation rate) of each block's depthwise convolution.

    The stem's stride 2 counts first. A block met at the target stride is run at
    stride 1, rate ``rate``, and the rate of the blocks after it grows by the
    stride it dropped: the atrous equivalence (a removed subsampling is made up by
    spacing every later kernel's taps that much further apart).
    """
    running, rate, plan = 2, 1, []
    for _, stride in BLOCKS:
        if running >= output_stride:
            plan.append((1, rate))
            rate *= stride
        else:
            plan.append((stride, 1))
            running *= stride
    return plan


def separable_block(x: Any, filters: int, stride: int, rate: int, name: str) -> Any:
    """Depthwise 3x3 (strided or dilated), then pointwise 1x1, each with
    BatchNorm and ReLU6: MobileNetV1's block."""
    x = layers.DepthwiseConv2D(3, stride, padding="same", dilation_rate=rate, use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    return conv_bn_relu6(x, filters, 1, 1, f"{name}_pw")
