"""Latency budgets from measurements and the latency stage's estimates, by one stated rule.

Budgets are p50 milliseconds per target (validators/perf/targets.py names them).
Host targets: the fp32 TFLite file of the default config was timed in LiteRT on
this project's 2-core x86 host (p50 of 50 invokes after 5 warm-up) while other
jobs loaded it (load average 6-13; p90 reached 3x p50), so a host budget is 3x
that p50: it holds on a busy runner and still catches a 5x regression (CPM's 7x7
depthwise stages measured 9x slower). Phone targets: 1.5x the latency stage's own
fp32 estimate for the model (its MACs over the device's published GMAC/s,
validators/perf/targets.py), since no phone was at hand to measure.
"""

from __future__ import annotations

import math

HOST_HEADROOM = 3.0
ESTIMATE_HEADROOM = 1.5


def budgets(host_1t_ms: float, host_2t_ms: float, pixel5_estimate_ms: float, rpi4_estimate_ms: float
            ) -> dict[str, float]:
    """Every target's budget from the measured host p50s and the estimated phone figures."""
    return {
        "host-cpu-1t": _round(HOST_HEADROOM * host_1t_ms),
        "host-cpu-2t": _round(HOST_HEADROOM * host_2t_ms),
        "pixel5-cpu-4t": _round(ESTIMATE_HEADROOM * pixel5_estimate_ms),
        "rpi4-cpu-4t": _round(ESTIMATE_HEADROOM * rpi4_estimate_ms),
    }


def _round(ms: float) -> float:
    """Up to a multiple of 5 ms: budgets are bounds, not measurements."""
    return float(5 * math.ceil(ms / 5))
