"""The table ``posepipe run`` prints: one row per artifact, worst news visible."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.manifest import agreement_cell, score_cell, task_metric
from posepipe.validators.validate import Status

STYLES = {Status.PASSED: "green", Status.FAILED: "bold red", Status.NOT_EXECUTED: "yellow",
          Status.NOT_VALIDATED: "yellow"}


def print_summary(console: Console, manifest: dict[str, Any]) -> None:
    metric = task_metric(manifest)
    table = Table(title=f"{manifest['model']}: reference {metric.label} {manifest['reference'][metric]:.3f}")
    for column in ("artifact", "size", "runtime", "max |err|", "cosine", "agree", f"{metric.label} (delta)",
                   "p50 1t", "budgets", "status"):
        table.add_column(column, justify="left" if column in ("artifact", "runtime", "status") else "right")
    for entry in manifest["artifacts"]:
        table.add_row(*_row(entry))
    console.out.print(table)


def _row(entry: dict[str, Any]) -> list[str]:
    v = entry["validation"]
    status = v["status"]
    size = f"{entry['bytes'] / 1e6:.2f} MB" if "bytes" in entry else "-"
    outputs = v.get("outputs") or []
    task = v.get("task") or {}
    max_err = f"{max(o['max_abs'] for o in outputs):.2e}" if outputs else "-"
    cosine = f"{min(o['cosine'] for o in outputs):.6f}" if outputs else "-"
    agree = agreement_cell(task)
    score = score_cell(task)
    style = STYLES.get(status, "")
    return [entry["file"], size, v.get("runtime") or "-", max_err, cosine, agree, score, *_latency(entry),
            f"[{style}]{status}[/]" if style else status]


def _latency(entry: dict[str, Any]) -> list[str]:
    """The host's one-thread p50, and how many budgets it met ("-" without any)."""
    targets = (entry.get("latency") or {}).get("targets", {})
    host = targets.get("host-cpu-1t", {})
    p50 = f"{host['figure_ms']:.2f} ms" if "figure_ms" in host else "-"
    judged = [t for t in targets.values() if t["status"] in ("pass", "fail")]
    over = [name for name, t in targets.items() if t["status"] == "fail"]
    if over:
        return [p50, f"[bold red]over: {', '.join(over)}[/]"]
    return [p50, f"[green]{len(judged)}/{len(judged)} met[/]" if judged else "-"]
