"""``posepipe bench``: per artifact of a run's manifest, its size, size against
the format's fp32 file, host latency in its runtime, and PCK with its delta."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from pipeline.console import Console
from pipeline.errors import ManifestError
from validators.latency import measure


def bench(manifest_path: Path, console: Console, runs: int = 50, threads: int = 1) -> list[dict[str, Any]]:
    if not manifest_path.is_file():
        raise ManifestError(f"{manifest_path}: no manifest; run `posepipe run MODEL` first")
    manifest = json.loads(manifest_path.read_text())
    folder = manifest_path.parent
    rows = []
    for entry in manifest["artifacts"]:
        if "bytes" not in entry:
            continue  # a failed conversion has no file to time
        console.step(f"bench: {entry['file']}")
        name, shape = entry["inputs"][0]["name"], tuple(entry["inputs"][0]["shape"])
        latency = measure(folder / entry["file"], name, shape, runs=runs, threads=threads)
        task = entry["validation"].get("task") or {}
        rows.append({"file": entry["file"], "bytes": entry["bytes"],
                     "size_ratio": (entry.get("quantization") or {}).get("size_ratio"),
                     "runtime": latency.runtime, "median_ms": latency.median_ms if latency.measured else None,
                     "p90_ms": latency.p90_ms if latency.measured else None,
                     "pck": task.get("pck"), "pck_delta": task.get("pck_delta"),
                     "status": entry["validation"]["status"]})
    _print(console, manifest, rows, runs, threads)
    return rows


def _print(console: Console, manifest: dict[str, Any], rows: list[dict[str, Any]], runs: int, threads: int) -> None:
    table = Table(title=f"{manifest['model']}: host latency, median of {runs} runs, {threads} thread(s); "
                        f"reference PCK@0.2 {manifest['reference']['pck']:.3f}")
    for column in ("artifact", "size", "ratio", "runtime", "median ms", "p90 ms", "PCK@0.2", "delta", "status"):
        table.add_column(column, justify="left" if column in ("artifact", "runtime", "status") else "right")
    for r in rows:
        table.add_row(r["file"], f"{r['bytes'] / 1e6:.2f} MB", _num(r["size_ratio"], "{:.2f}x", "1.00x"),
                      r["runtime"], _num(r["median_ms"], "{:.2f}", "n/a"), _num(r["p90_ms"], "{:.2f}", "n/a"),
                      _num(r["pck"], "{:.3f}"), _num(r["pck_delta"], "{:+.2f}"), r["status"])
    console.out.print(table)
    if any(r["median_ms"] is None for r in rows):
        console.note("n/a: Core ML ran in the NumPy reference evaluator (no Core ML runtime off macOS); "
                     "its time says nothing about a phone")


def _num(value: float | None, form: str, missing: str = "-") -> str:
    return missing if value is None else form.format(value)
