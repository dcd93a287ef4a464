"""The report's accelerator coverage table: per file and accelerator, how many nodes
the runtime's own tool says the accelerator takes, in how many partitions, and
which ops fall back to the CPU (validators/perf/coverage.py)."""

from __future__ import annotations

from html import escape
from typing import Any

FLAGGED_SHOWN = 4


def coverage_section(manifest: dict[str, Any]) -> str:
    """A table, or a sentence when no file has coverage (a manifest from before it, or Core ML only)."""
    rows = [_row(entry["file"], name, result) for entry in manifest["artifacts"]
            for name, result in (entry.get("coverage") or {}).items()]
    if not rows:
        return "<p class='meta'>No accelerator coverage recorded (only .tflite, .onnx and .ort files are analysed).</p>"
    head = "".join(f"<th>{h}</th>" for h in ("file", "accelerator", "verdict", "nodes on it", "partitions",
                                               "falls back to the CPU", "tool"))
    return (f"<table id='coverage'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "<p class='meta'>Every phone estimate above is a CPU estimate: no delegate figure has a published "
            "basis here.</p>")


def _row(file: str, name: str, result: dict[str, Any]) -> str:
    status = "pass" if result["fully_delegated"] else "fail"  # the verdict cell's colour (td.pass, td.fail)
    nodes = "" if result["nodes"] is None else f"{result['supported']} of {result['nodes']}"
    flagged = result["unsupported"]
    fallback = ", ".join(flagged[:FLAGGED_SHOWN]) + (" ..." if len(flagged) > FLAGGED_SHOWN else "")
    cells = (file, name, result["verdict"], nodes, "" if result["partitions"] is None else str(result["partitions"]),
             fallback, result["tool"])
    tds = [f"<td class='{status if i == 2 else 'text'}'>{escape(c)}</td>" for i, c in enumerate(cells)]
    return f"<tr>{''.join(tds)}</tr>"
