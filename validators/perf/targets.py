"""Latency targets: where an artifact's speed is judged, and how the figure is got.

Two kinds, always labelled in the manifest:

- **measured**: this host's CPU at a thread count (``host-cpu-1t``, ``host-cpu-2t``),
  and an Android phone over adb running LiteRT's ``benchmark_model`` (validators/perf/adb.py).
- **estimated**: named devices we cannot run here. The method, calibrated on
  published figures (../shared/reference/published_benchmarks.md):

  1. A device's fp32 throughput (GMAC/s) is the MACs of the basis model, the
     published TFLite multi-person MobileNetV1 on tensorflow.org's overview
     (MobileNetV1 1.0, 257x257, output stride 16: 1.192 GMAC, counted by posepipe's
     own counter on that architecture, which also lands on its published 13.3 MB;
     ``python scripts/device_basis.py``) divided by its published latency.
  2. The model's MACs divided by that throughput is its fp32 (and fp16: LiteRT's
     CPU path dequantizes fp16 weights and computes in fp32) estimate.
  3. int8 is that divided by the device's int8 speed-up: the mean of MoveNet
     Thunder's and Lightning's fp16/int8 latency ratios published for the device.

  Only TFLite files are estimated (the published figures are LiteRT CPU figures);
  dynamic-int8 and int16x8 have no published basis and are not estimated. A model
  that uses its MACs less efficiently than the basis model will run slower
  than estimated: the basis is printed beside every estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision

BASIS_MACS = 1_191_790_016  # scripts/device_basis.py; tests/validators/test_benchmarking.py counts it by hand


class TargetKind(StrEnum):
    MEASURED = "measured"
    ESTIMATED = "estimated"


@dataclass(frozen=True)
class HostTarget:
    """This machine's CPU at a thread count, every runtime that runs here."""

    name: str
    threads: int
    kind: TargetKind = TargetKind.MEASURED


@dataclass(frozen=True)
class DeviceEstimate:
    """A named device estimated from its published figures (module docstring)."""

    name: str
    threads: int
    basis_fp32_ms: float  # published fp32 latency of the basis model on this device
    int8_speedup: float
    source: str
    kind: TargetKind = TargetKind.ESTIMATED

    @property
    def gmacs_per_s(self) -> float:
        return BASIS_MACS / 1e9 / (self.basis_fp32_ms / 1000.0)

    def estimate_ms(self, macs: int, fmt: Format, precision: Precision) -> float | None:
        """The estimate, or None when there is no published basis for this file."""
        if fmt is not Format.TFLITE or precision not in (Precision.FP32, Precision.FP16, Precision.INT8):
            return None
        fp32_ms = macs / 1e9 / self.gmacs_per_s * 1000.0
        return fp32_ms / self.int8_speedup if precision is Precision.INT8 else fp32_ms

    def basis(self, precision: Precision) -> str:
        text = (f"MACs / {self.gmacs_per_s:.1f} GMAC/s (published basis model, 1.19 GMAC, in "
                f"{self.basis_fp32_ms:g} ms on {self.source})")
        if precision is Precision.INT8:
            text += f" / {self.int8_speedup:.2f} int8 speed-up (MoveNet fp16/int8, same source)"
        return text


def _mean(*ratios: float) -> float:
    return sum(ratios) / len(ratios)


HOST_TARGETS = (HostTarget("host-cpu-1t", 1), HostTarget("host-cpu-2t", 2))
DEVICE_ESTIMATES = (
    # tensorflow.org pose estimation overview: the MobileNetV1 multi-pose model fp32 80 ms; MoveNet Thunder
    # fp16/int8 155/100 ms, Lightning 60/52 ms (Pixel 5 CPU, 4 threads)
    DeviceEstimate("pixel5-cpu-4t", 4, 80.0, _mean(155 / 100, 60 / 52), "Pixel 5 CPU, 4 threads"),
    # same page: that model 338 ms; Thunder 594/251 ms, Lightning 186/95 ms (Raspberry Pi 4, 4 threads)
    DeviceEstimate("rpi4-cpu-4t", 4, 338.0, _mean(594 / 251, 186 / 95), "Raspberry Pi 4 CPU, 4 threads"),
)
Target = HostTarget | DeviceEstimate
DEFAULT_TARGETS = tuple(t.name for t in (*HOST_TARGETS, *DEVICE_ESTIMATES))
KNOWN: dict[str, Target] = {t.name: t for t in (*HOST_TARGETS, *DEVICE_ESTIMATES)}


def resolve(names: list[str] | tuple[str, ...]) -> tuple[Target, ...]:
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        raise ConfigError(f"unknown latency target {', '.join(unknown)}; known: {', '.join(KNOWN)}")
    return tuple(KNOWN[n] for n in names)


class BudgetStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NO_BUDGET = "no-budget"  # measured or estimated, reported, not judged
    SKIPPED = "skipped"  # no figure on this target; the reason is recorded


def judge(figure_ms: float, budget_ms: float | None) -> BudgetStatus:
    if budget_ms is None:
        return BudgetStatus.NO_BUDGET
    return BudgetStatus.PASS if figure_ms <= budget_ms else BudgetStatus.FAIL
