"""The coverage stage: each built .tflite and .onnx file asked, with the runtimes'
own tools, how much of it a phone's accelerator would run
(validators/perf/coverage.py), and the model's demands judged like a budget.

The analyzers read the file only (1 ms per tiny .tflite, 20-110 ms per tiny .onnx,
measured), so they run here beside the latency stage rather than in the workers;
their answer depends on the file's bytes and the tool versions, both in the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posepipe.models.errors import ConfigError
from posepipe.models.spec import ModelSpec
from posepipe.validators.perf.coverage import ACCELERATORS, Accelerator, coverage

FLAGGED_SHOWN = 3


def attach(entries: list[dict[str, Any]], out: Path) -> None:
    """Each built file's ``coverage`` entry (none for formats without a tool, e.g. Core ML)."""
    for entry in entries:
        if "bytes" not in entry:
            continue  # a failed conversion has no file to analyse
        found = coverage(out / entry["file"])
        if found:
            entry["coverage"] = {str(name): result.to_json() for name, result in found.items()}


def required(spec: ModelSpec) -> tuple[Accelerator, ...]:
    """The accelerators the model demands full delegation on, checked against the known ones."""
    known = {str(a) for a in Accelerator}
    unknown = sorted(set(spec.coverage_required) - known)
    if unknown:
        raise ConfigError(f"{spec.name}: coverage_required names {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(Accelerator(name) for name in spec.coverage_required)


def shortfalls(entries: list[dict[str, Any]], demanded: tuple[Accelerator, ...]) -> list[str]:
    """One line per built file not fully delegated on an accelerator its format has and the model demands."""
    lines = []
    for entry in entries:
        for name, result in (entry.get("coverage") or {}).items():
            if Accelerator(name) in demanded and not result["fully_delegated"]:
                lines.append(f"{entry['file']}: not fully delegated on {name} ({_why(result)})")
    return lines


def demanded_formats(demanded: tuple[Accelerator, ...]) -> list[str]:
    return sorted({str(fmt) for fmt, accelerators in ACCELERATORS.items() if set(accelerators) & set(demanded)})


def _why(result: dict[str, Any]) -> str:
    flagged = result["unsupported"]
    if not flagged:
        return f"{result['supported']} of {result['nodes']} nodes in {result['partitions']} partitions"
    shown = ", ".join(flagged[:FLAGGED_SHOWN]) + (" ..." if len(flagged) > FLAGGED_SHOWN else "")
    return f"{len(flagged)} op(s) flagged: {shown}"
