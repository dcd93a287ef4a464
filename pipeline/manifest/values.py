"""Numbers as the manifest writes them: JSON has no infinity or NaN, so a metric
that is one (an SNR of identical outputs, an error that overflowed) is written
as the string ``"inf"``, ``"-inf"`` or ``"nan"`` and read back as the float."""

from __future__ import annotations

import math
from typing import Any

NON_FINITE = ("inf", "-inf", "nan")


def finite(value: Any) -> Any:
    """JSON has no infinity or NaN: write them as strings a reader can parse back."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def number(value: Any) -> Any:
    """A manifest number back as a Python one: ``"inf"`` -> ``float("inf")``;
    ``None`` and real numbers stay as they are."""
    return float(value) if isinstance(value, str) and value in NON_FINITE else value
