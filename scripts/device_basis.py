"""Recount the MACs behind the estimated device targets (validators/perf/targets.py).

The published on-device figures (../shared/reference/published_benchmarks.md) give
PoseNet's latency on a Pixel 5 and a Raspberry Pi 4; dividing the network's MACs by
them gives each device's achieved GMAC/s. This script builds that network, the
MobileNetV1 (depth multiplier 1.0) of the published TFLite PoseNet at 257x257 with
output stride 16 (the last stride-2 block dilated instead) and its four 1x1 heads,
and counts its MACs with the same counter posepipe uses for every model, so the
constant in validators/perf/targets.py can be checked (tests/validators/test_benchmarking.py does).

    python scripts/device_basis.py
"""

from __future__ import annotations

import keras
from keras import layers

from posepipe.validators.perf.macs import count

# MobileNetV1's 13 depthwise-separable blocks: (pointwise filters, stride)
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))
HEADS = {"heatmaps": 17, "offsets": 34, "displacement_fwd": 32, "displacement_bwd": 32}


def published_posenet(size: int = 257, output_stride: int = 16) -> keras.Model:
    image = keras.Input((size, size, 3))
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(image)
    stride, rate = 2, 1
    for filters, step in BLOCKS:
        if stride * step > output_stride:  # keep the resolution, dilate instead (atrous)
            step, rate = 1, rate * 2
        else:
            stride *= step
        x = layers.DepthwiseConv2D(3, strides=step, dilation_rate=rate if step == 1 else 1, padding="same")(x)
        x = layers.Conv2D(filters, 1)(x)
    return keras.Model(image, [layers.Conv2D(c, 1, name=n)(x) for n, c in HEADS.items()])


def main() -> None:
    cost = count(published_posenet())
    print(f"PoseNet MobileNetV1 1.0, 257x257, output stride 16: {cost.macs} MACs ({cost.gmacs:.3f} GMAC), "
          f"{cost.params} params ({cost.params * 4 / 1e6:.1f} MB at fp32)")


if __name__ == "__main__":
    main()
