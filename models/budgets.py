"""Latency budgets from host measurements, by one stated rule.

Budgets are p50 milliseconds per target (validators/targets.py names them). The
zoo's were set from the fp32 TFLite file of each default config, timed in LiteRT
on this project's 2-core x86 host (p50 of 50 invokes after 5 warm-up, while other
jobs shared the cores, so the figures are high): the host budgets are 1.5x those
medians. No phone was at hand, so the phone budgets follow the host-1-thread one
by assumed factors, to be replaced by measurements on the devices: a Pixel 5's
four big-and-middle cores together are taken as fast as one host core (1x), a
Raspberry Pi 4's four Cortex-A72 cores as three times slower (3x).
"""

from __future__ import annotations

import math

HEADROOM = 1.5
PIXEL5_PER_HOST_1T = 1.0
RPI4_PER_HOST_1T = 3.0


def from_host(one_thread_ms: float, two_threads_ms: float) -> dict[str, float]:
    """Budgets for every target from measured host p50s (one and two threads)."""
    host_1t = _round(HEADROOM * one_thread_ms)
    return {
        "host-cpu-1t": host_1t,
        "host-cpu-2t": _round(HEADROOM * two_threads_ms),
        "pixel5-cpu-4t": _round(PIXEL5_PER_HOST_1T * host_1t),
        "rpi4-cpu-4t": _round(RPI4_PER_HOST_1T * host_1t),
    }


def _round(ms: float) -> float:
    """Up to a multiple of 5 ms: budgets are bounds, not measurements."""
    return float(5 * math.ceil(ms / 5))
