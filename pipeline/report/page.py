"""``artifacts/<model>/report.html``: one self-contained page (inline styles,
images as data URIs, SVG chart; no script, no network) that a person opens from
disk to see what a run made and proved: every artifact with its size, precision,
runtime, fidelity and task metrics, latency per target against its budget, and
pass/fail colour; skeleton overlays; size against latency and accuracy; the
code an app calls each file with (snippets.py).

Written by ``posepipe run`` and again by ``posepipe report MODEL``. A manifest
without latency blocks (or from before they existed) still renders.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from posepipe.pipeline.engine.atomic import atomic_path
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.manifest import agreement_cell, read_manifest, score_cell, task_metric
from posepipe.pipeline.report.chart import chart, points
from posepipe.pipeline.report.coverage import coverage_section
from posepipe.pipeline.report.overlay import Overlays, overlays
from posepipe.pipeline.report.snippets import section as snippet_section
from posepipe.pipeline.report.variants import variants_section
from posepipe.validators.validate import Reference, Status

REPORT = "report.html"
PREFERRED_TARGET = "host-cpu-1t"
UNTIMED_RUNTIMES = ("coreml-reference",)  # NumPy op by op: its time says nothing about a phone
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222}
h1{margin:0 0 4px}h2{margin-top:28px}.meta{color:#555}
table{border-collapse:collapse;margin-top:8px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.name,td.text{text-align:left}
tr.passed td.status,td.pass{background:#d9f2d9;color:#14571a}
tr.failed td.status,td.fail{background:#f8d4d4;color:#8b0000;font-weight:600}
tr.failed td.name{color:#8b0000}tr.not-executed td.status,td.none{background:#f4f4f4;color:#666}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff}
.badge.passed{background:#2e7d32}.badge.failed{background:#c62828}
.failures{color:#8b0000;font-size:12px;text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{color:#555;font-size:12px}
svg text{font-size:11px;fill:#333}svg .axis{stroke:#333}svg .reference{stroke:#2e7d32;stroke-dasharray:4 3}
.legend .key{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px 0 10px}
.legend .key.failed{border:3px solid #d62728;width:6px;height:6px}
.overlays{display:flex;flex-wrap:wrap;gap:10px}.overlays figure{text-align:center}
.overlays img{display:block;border:1px solid #ccc;image-rendering:pixelated}
details{margin:4px 0}summary{cursor:pointer}details details{margin-left:16px}
pre{background:#f6f8fa;border:1px solid #ddd;padding:8px;overflow:auto;font-size:12px;line-height:1.35}
"""


def write_report(manifest_path: Path, console: Console, samples: int = 3,
                 reference: Reference | None = None) -> Path:
    manifest = read_manifest(manifest_path)
    drawn = overlays(manifest, manifest_path.parent, samples, console, reference)
    final = manifest_path.parent / REPORT
    with atomic_path(final) as temp:
        temp.write_text(render(manifest, drawn))
    return final


def render(manifest: dict[str, Any], drawn: Overlays) -> str:
    model = escape(manifest["model"])
    status = Status.PASSED if manifest.get("passed") else Status.FAILED
    target = _chart_target(manifest)
    latency_label = f"ms on {target}" if target else "mean ms, validation on this host"
    body = [
        f"<h1>posepipe report: {model} <span class='badge {status}'>{status}</span></h1>",
        f"<p class='meta'>{escape(_summary(manifest))}</p>",
        "<h2>Artifacts</h2>", _table(manifest), _disabled(manifest),
        "<h2>Accelerator coverage</h2>", coverage_section(manifest),
        "<h2>Which file for which app</h2>", variants_section(manifest),
        "<h2>Size, latency and accuracy</h2>",
        chart(points(manifest, lambda e: _latency(e, target)), latency_label, task_metric(manifest),
              manifest["reference"].get(task_metric(manifest))),
        "<h2>Decoded skeletons</h2>", _overlay_section(manifest, drawn),
        "<h2>Calling code</h2>", snippet_section(manifest),
        f"<h2>Tools</h2><p class='meta'>{escape(', '.join(f'{k} {v}' for k, v in manifest['tools'].items()))}</p>",
    ]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>posepipe report: {model}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _disabled(manifest: dict[str, Any]) -> str:
    """The default paths the model leaves out, so a missing precision is explained."""
    items = "".join(f"<li>{escape(d['format'])} {escape(d['precision'])}: {escape(d['reason'])}</li>"
                    for d in manifest.get("disabled", []))
    if not items:
        return ""
    return f"<p class='meta'>left out of the default matrix by the model:</p><ul class='disabled'>{items}</ul>"


def _summary(manifest: dict[str, Any]) -> str:
    checkpoint = manifest["checkpoint"]
    data = manifest.get("data", {})
    metric = task_metric(manifest)
    parts = [f"{manifest['model']} {manifest.get('version', '')}".strip(), f"preset {manifest.get('preset')}",
             f"run {manifest.get('created')}", f"checkpoint sha256 {checkpoint['sha256'][:16]}",
             f"reference (keras) {metric.label} {manifest['reference'][metric]:.3f} on {data.get('val_samples')}"
             " val samples"]
    stats = manifest.get("model_stats")
    if stats:
        parts.append(f"{stats.get('params', 0) / 1e6:.2f} M params, {stats.get('macs', 0) / 1e6:.0f} M MACs")
    return "; ".join(parts)


def _targets(manifest: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for entry in manifest["artifacts"]:
        seen |= dict.fromkeys((entry.get("latency") or {}).get("targets", {}))
    return list(seen)


def _chart_target(manifest: dict[str, Any]) -> str | None:
    targets = _targets(manifest)
    return PREFERRED_TARGET if PREFERRED_TARGET in targets else (targets[0] if targets else None)


def _figure_ms(block: dict[str, Any] | None) -> float | None:
    """A latency block's headline figure: p50 measured on the host, the estimate
    for a device estimate, the mean a phone's benchmark reports (its ``statistic``)."""
    if not block:
        return None
    value = block.get("figure_ms", block.get("p50_ms"))
    return float(value) if value is not None else None


def _latency(entry: dict[str, Any], target: str | None) -> tuple[float, str] | None:
    if target is not None:
        figure = _figure_ms((entry.get("latency") or {}).get("targets", {}).get(target))
        return (figure, target) if figure is not None else None
    validation = entry["validation"]
    if validation.get("mean_inference_ms") is None or validation.get("runtime") in UNTIMED_RUNTIMES:
        return None
    return float(validation["mean_inference_ms"]), "validation"


HEADERS = ("artifact", "format", "precision", "size", "runtime", "max |err|", "min cosine", "min SNR dB",
           "agreement")


def _table(manifest: dict[str, Any]) -> str:
    targets = _targets(manifest)
    head = "".join(f"<th>{h}</th>" for h in (*HEADERS, f"{task_metric(manifest).label} (delta)",
                                             *(f"{t} ms / budget" for t in targets),
                                             "budget", "status", "failures"))
    rows = [_row(entry, targets) for entry in manifest["artifacts"]]
    return f"<table id='artifacts'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(entry: dict[str, Any], targets: list[str]) -> str:
    validation = entry["validation"]
    status = validation["status"]
    outputs = validation.get("outputs") or []
    task = validation.get("task") or {}
    quant = entry.get("quantization") or {}
    size = f"{entry['bytes'] / 1e6:.2f} MB" if "bytes" in entry else "-"
    if quant.get("size_ratio"):
        size += f" ({quant['size_ratio']:.2f}x)"
    cells = [
        f"<td class='name'>{escape(entry['file'])}{_companions(entry)}</td>", _text(entry["format"]),
        _text(entry["precision"]),
        _num(size), _text(validation.get("runtime") or "-"),
        _num(f"{max(o['max_abs'] for o in outputs):.2e}" if outputs else "-"),
        _num(f"{min(o['cosine'] for o in outputs):.6f}" if outputs else "-"),
        _num(_snr(outputs)),
        _num(agreement_cell(task)),
        _num(score_cell(task)),
    ]
    blocks = (entry.get("latency") or {}).get("targets", {})
    cells += [_latency_cell(blocks.get(t)) for t in targets]
    verdicts = {b.get("status") for b in blocks.values()}
    budget = "fail" if "fail" in verdicts else ("pass" if "pass" in verdicts else "none")
    cells.append(f"<td class='{budget}'>{ {'fail': 'over', 'pass': 'within', 'none': '-'}[budget] }</td>")
    cells.append(f"<td class='status text'>{escape(status)}</td>")
    failures = validation.get("failures") or ([validation["reason"]] if validation.get("reason") else [])
    cells.append(f"<td class='failures'>{'<br>'.join(escape(f) for f in failures)}</td>")
    return f"<tr class='{escape(status)}' data-artifact='{escape(entry['file'])}'>{''.join(cells)}</tr>"


def _companions(entry: dict[str, Any]) -> str:
    """The files that ship beside it (an .ort's required-operators config), under its name."""
    return "".join(f"<div class='meta'>+ {escape(c['file'])}</div>" for c in entry.get("companions", ()))


def _latency_cell(block: dict[str, Any] | None) -> str:
    figure = _figure_ms(block)
    if block is None or figure is None:
        status, reason = (block or {}).get("status", "-"), (block or {}).get("reason", "")
        return f"<td class='none' title='{escape(str(reason))}'>{escape(str(status))}</td>"
    budget = block.get("budget_ms")
    text = f"{figure:.2f}" + (f" / {budget:g}" if budget is not None else "")
    text += {"estimated": " (est.)"}.get(block.get("kind", ""), "")
    if block.get("statistic") == "mean":
        text += " (mean)"
    css = {"pass": "pass", "fail": "fail"}.get(block.get("status", ""), "none")
    title = escape(str(block.get("basis") or f"{block.get('kind', '')} {block.get('statistic', '')}".strip()))
    return f"<td class='{css}' title='{title}'>{escape(text)}</td>"


def _snr(outputs: list[dict[str, Any]]) -> str:
    values = [o["snr_db"] for o in outputs if isinstance(o.get("snr_db"), (int, float))]
    return f"{min(values):.1f}" if values else ("inf" if outputs else "-")


def _text(value: str) -> str:
    return f"<td class='text'>{escape(value)}</td>"


def _num(value: str) -> str:
    return f"<td>{escape(value)}</td>"


def _overlay_section(manifest: dict[str, Any], drawn: Overlays) -> str:
    if drawn.note:
        return f"<p class='meta'>{escape(drawn.note)}</p>"
    legend = ("<p class='meta'><span style='color:#1a9850'>&#9679; reference (keras)</span> "
              "<span style='color:#d01c8b'>&#9679; artifact</span>, each on the first val crops</p>")
    blocks = []
    for i, ref in enumerate(drawn.reference):
        figures = [_figure(ref, "reference", "reference (keras)", i)]
        figures += [_figure(images[i], name, name, i) for name, images in drawn.artifacts.items()]
        blocks.append(f"<h3>val sample {i + 1}</h3><div class='overlays'>{''.join(figures)}</div>")
    missing = "".join(f"<li>{escape(name)}: {escape(why)}</li>" for name, why in drawn.missing.items())
    return legend + "".join(blocks) + (f"<p class='meta'>not drawn:</p><ul>{missing}</ul>" if missing else "")


def _figure(uri: str, key: str, caption: str, sample: int) -> str:
    return (f"<figure><img src='{uri}' alt='{escape(caption)}, sample {sample + 1}' "
            f"data-overlay='{escape(key)}' data-sample='{sample}'><figcaption>{escape(caption)}</figcaption></figure>")
