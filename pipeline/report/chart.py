"""The report's chart, inline SVG: size against latency, and size against the task score (PCK@0.2 or OKS AP),
one point per artifact coloured by format, so the trade-off of each precision
is one look. No plotting library: a few scaled shapes are enough, and the page
stays self-contained."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from posepipe.validators.accuracy.task import TaskMetric
from posepipe.validators.validate import Status

WIDTH, HEIGHT, PAD = 440, 280, 48
FORMAT_COLOURS = {"tflite": "#1f77b4", "onnx": "#ff7f0e", "coreml": "#2ca02c", "coreml-nn": "#9467bd",
                  "ort": "#8c564b"}


@dataclass(frozen=True)
class Point:
    label: str
    format: str
    size_mb: float
    latency_ms: float | None
    score: float | None  # the task metric (PCK@0.2 or OKS AP)
    passed: bool


def points(manifest: dict[str, Any], latency_of: Any) -> list[Point]:
    """Every artifact with a file; ``latency_of(entry)`` gives (ms, basis) or None."""
    found = []
    for entry in manifest["artifacts"]:
        if "bytes" not in entry:
            continue
        task = entry["validation"].get("task") or {}
        latency = latency_of(entry)
        found.append(Point(entry["precision"], entry["format"], entry["bytes"] / 1e6,
                           latency[0] if latency else None, task.get(task.get("metric", "pck")),
                           entry["validation"]["status"] == Status.PASSED))
    return found


def chart(found: list[Point], latency_label: str, metric: TaskMetric, reference_score: float | None) -> str:
    latency = _panel([(p, p.latency_ms) for p in found if p.latency_ms is not None], latency_label, None)
    accuracy = _panel([(p, p.score) for p in found if p.score is not None], metric.label, reference_score)
    legend = " ".join(f'<span class="key" style="background:{c}"></span>{escape(f)}'
                      for f, c in FORMAT_COLOURS.items() if any(p.format == f for p in found))
    return (f'<div class="charts">{latency}{accuracy}</div>'
            f'<p class="legend">{legend} <span class="key failed"></span>failed its checks</p>')


def _panel(values: list[tuple[Point, float]], y_label: str, reference: float | None) -> str:
    title = f"size vs {y_label}"
    if not values:
        return f'<figure class="chart"><figcaption>{escape(title)}: no data</figcaption></figure>'
    xs = [p.size_mb for p, _ in values]
    ys = [y for _, y in values] + ([reference] if reference is not None else [])
    x_of, y_of = _scale(0.0, max(xs), PAD, WIDTH - 12), _scale(min(ys), max(ys), HEIGHT - PAD, 12)
    shapes = [_axes(max(xs), min(ys), max(ys), y_label, x_of, y_of)]
    if reference is not None:
        y = y_of(reference)
        shapes.append(f'<line class="reference" x1="{PAD}" x2="{WIDTH - 12}" y1="{y:.1f}" y2="{y:.1f}"/>'
                      f'<text x="{WIDTH - 14}" y="{y - 4:.1f}" text-anchor="end">reference</text>')
    for point, value in values:
        x, y = x_of(point.size_mb), y_of(value)
        stroke = ' stroke="#d62728" stroke-width="3"' if not point.passed else ""
        shapes.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{FORMAT_COLOURS.get(point.format, "#777")}"'
                      f'{stroke}><title>{escape(point.label)} {escape(point.format)}: {point.size_mb:.2f} MB, '
                      f'{value:.3g}</title></circle>'
                      f'<text x="{x + 8:.1f}" y="{y - 6:.1f}">{escape(point.label)}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">{"".join(shapes)}</svg>')
    return f'<figure class="chart">{svg}<figcaption>{escape(title)}</figcaption></figure>'


def _axes(x_max: float, y_min: float, y_max: float, y_label: str, x_of: Any, y_of: Any) -> str:
    parts = [f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - 12}" y2="{HEIGHT - PAD}"/>',
             f'<line class="axis" x1="{PAD}" y1="12" x2="{PAD}" y2="{HEIGHT - PAD}"/>',
             f'<text x="{(PAD + WIDTH) / 2:.0f}" y="{HEIGHT - 10}" text-anchor="middle">size (MB)</text>',
             f'<text x="14" y="{(HEIGHT - PAD) / 2:.0f}" transform="rotate(-90 14 {(HEIGHT - PAD) / 2:.0f})" '
             f'text-anchor="middle">{escape(y_label)}</text>']
    for tick in _ticks(0.0, x_max):
        parts.append(f'<text x="{x_of(tick):.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{tick:g}</text>')
    for tick in _ticks(y_min, y_max):
        parts.append(f'<text x="{PAD - 6}" y="{y_of(tick) + 4:.1f}" text-anchor="end">{tick:.3g}</text>')
    return "".join(parts)


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> Any:
    """Linear map with a 10% margin; a flat range gets a unit span around it."""
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    margin = 0.1 * (hi - lo)
    lo, hi = lo - margin if lo != 0 else lo, hi + margin
    return lambda v: out_lo + (v - lo) / (hi - lo) * (out_hi - out_lo)


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi - lo < 1e-9:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / count))
    step *= next(m for m in (1, 2, 5, 10) if (hi - lo) / (step * m) <= count)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(count + 1) if first + i * step <= hi + 1e-9]
