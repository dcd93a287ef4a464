"""``posepipe bench MODEL|ARTIFACT...``: every artifact timed on every target
(measured on this host, estimated on named devices), its budget verdict, its
speed against the format's fp32 file and the Keras reference, and the per-op
profile's hot spots. Artifacts are found through their run's manifest, which
gives the model (for its budgets), the MACs and the input signature.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from posepipe import models
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.errors import ManifestError
from posepipe.pipeline.manifest import read_manifest
from posepipe.pipeline.run.latency import LatencyOptions, artifact_latency, breaches, plan
from posepipe.validators.perf.macs import ModelCost
from posepipe.validators.perf.profile import excess

SLOWER_THAN_ORT = 1.3  # fp32 TFLite slower than fp32 ONNX Runtime by more: name the op responsible


def bench(items: tuple[str, ...], out: Path, options: LatencyOptions, console: Console) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    timed: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    decoders: dict[str, Any] = {}
    coverage: dict[str, Any] = {}  # each file's accelerator coverage, as its run measured it
    for manifest_path, files in _artifacts(items, out):
        manifest = read_manifest(manifest_path)
        if manifest["reference"].get("decoder"):
            decoders[manifest["model"]] = manifest["reference"]["decoder"]
        latency = plan(models.get(manifest["model"]), options)
        cost = ModelCost(manifest["model_stats"]["macs"], manifest["model_stats"]["params"])
        for entry in files:
            console.step(f"bench: {entry['file']}")
            if entry.get("coverage"):
                coverage[entry["file"]] = entry["coverage"]
            shape = tuple(entry["inputs"][0]["shape"])
            block = artifact_latency(manifest_path.parent / entry["file"], Precision(entry["precision"]),
                                     entry["inputs"][0]["name"], shape, cost, latency, console)
            timed.append({"file": entry["file"], "latency": block})
            rows.extend(_rows(manifest, entry, block))
            if "profile" in block:
                profiles[entry["file"]] = block["profile"]
    _speedups(rows)
    return {"rows": rows, "comparisons": _comparisons(rows, profiles), "profiles": profiles, "decoders": decoders,
            "breaches": breaches(timed), "settings": asdict(options.settings), "coverage": coverage}


def _artifacts(items: tuple[str, ...], out: Path) -> list[tuple[Path, list[dict[str, Any]]]]:
    """(manifest, its entries to time) per item: a model name means every built
    artifact of its last run; a file means that artifact, by its manifest beside it."""
    found = []
    for item in items:
        path = Path(item)
        if path.exists() and _is_artifact(path):
            manifest = path.parent / "manifest.json"
            entries = [e for e in _entries(manifest) if e["file"] == path.name and "bytes" in e]
            if not entries:
                raise ManifestError(f"{manifest}: does not list {path.name}; bench reads a file's model, MACs and "
                                    "input from its run's manifest")
            found.append((manifest, entries))
        else:
            manifest = out / item / "manifest.json"
            found.append((manifest, [e for e in _entries(manifest) if "bytes" in e]))
    return found


def _is_artifact(path: Path) -> bool:
    try:
        Format.from_path(path.name)
    except ValueError:
        return False
    return True


def _entries(manifest: Path) -> list[dict[str, Any]]:
    return read_manifest(manifest)["artifacts"]


def _rows(manifest: dict[str, Any], entry: dict[str, Any], block: dict[str, Any]) -> list[dict[str, Any]]:
    reference = (manifest["reference"].get("latency") or {}).get("p50_ms")
    rows = []
    for target, result in block["targets"].items():
        figure = result.get("figure_ms")
        rows.append({"model": manifest["model"], "file": entry["file"], "format": entry["format"],
                     "precision": entry["precision"], "bytes": entry["bytes"], "target": target,
                     "runtime": entry["validation"].get("runtime"), **result,
                     "vs_reference": figure / reference if figure and reference else None})
    return rows


def _speedups(rows: list[dict[str, Any]]) -> None:
    """Each row's figure against the same format's fp32 file on the same target."""
    fp32 = {(r["model"], r["format"], r["target"]): r.get("figure_ms") for r in rows if r["precision"] == "fp32"}
    for r in rows:
        base = fp32.get((r["model"], r["format"], r["target"]))
        r["vs_fp32"] = r["figure_ms"] / base if r.get("figure_ms") and base else None


def _comparisons(rows: list[dict[str, Any]], profiles: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model and measured host target: int8 against fp32 TFLite, and fp32
    TFLite against fp32 ONNX Runtime with the TFLite profile's hot spot when it
    is more than 1.3x slower."""
    found = []
    by_key = {(r["model"], r["format"], r["precision"], r["target"]): r for r in rows if r.get("figure_ms")}
    for (model, fmt, precision, target), row in by_key.items():
        if fmt != Format.TFLITE or precision != Precision.FP32 or row["kind"] != "measured":
            continue
        int8 = by_key.get((model, fmt, "int8", target))
        if int8:
            found.append({"model": model, "target": target, "what": "int8 / fp32 TFLite",
                          "ratio": int8["figure_ms"] / row["figure_ms"]})
        onnx = by_key.get((model, Format.ONNX.value, "fp32", target))
        if onnx:
            ratio = row["figure_ms"] / onnx["figure_ms"]
            comparison = {"model": model, "target": target, "what": "fp32 TFLite / fp32 ONNX Runtime",
                          "ratio": ratio, "over_limit": ratio > SLOWER_THAN_ORT}
            if ratio > SLOWER_THAN_ORT and row["file"] in profiles and onnx["file"] in profiles:
                comparison["responsible"] = _responsible(profiles[row["file"]], profiles[onnx["file"]])
            found.append(comparison)
    return found


def _responsible(lite: dict[str, Any], ort: dict[str, Any]) -> dict[str, Any]:
    """The kind of op TFLite spends most extra time on, when it is a real share of
    its time (a tenth); otherwise the profiles clear the kernels of the gap."""
    kind, lite_ms, ort_ms = excess(lite, ort)[0]
    found = {"tflite_profile_ms": lite["total_ms"], "onnxruntime_profile_ms": ort["total_ms"],
             "tflite_top_ops": lite["top_ops"][:3]}
    if lite_ms - ort_ms < 0.1 * lite["total_ms"]:
        return found | {"op_kind": None}
    return found | {"op_kind": kind, "tflite_ms": lite_ms, "onnxruntime_ms": ort_ms}


def print_bench(console: Console, document: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="latency per artifact and target (p50 measured on this host, or estimated)")
    columns = ("artifact", "runtime", "target", "kind", "thr", "p50 ms", "p90 ms", "GMAC/s", "vs fp32", "size",
               "budget", "status")
    for column in columns:
        table.add_column(column, justify="left" if column in ("artifact", "runtime", "target", "kind", "status")
                         else "right")
    for r in document["rows"]:
        table.add_row(r["file"], r["runtime"] or "-", r["target"], r["kind"], str(r.get("threads", "-")),
                      _num(r.get("figure_ms"), "{:.2f}"), _num(r.get("p90_ms"), "{:.2f}"),
                      _num(r.get("gmacs_per_s"), "{:.1f}"), _num(r.get("vs_fp32"), "{:.2f}x"),
                      f"{r['bytes'] / 1e6:.2f} MB", _num(r.get("budget_ms"), "{:g} ms"), _status(r))
    console.out.print(table)
    for model, d in document.get("decoders", {}).items():  # post-processing, apart from the model times above
        console.note(f"{model} decoder {d['name']}: p50 {d['p50_ms']:.2f} ms, p90 {d['p90_ms']:.2f} ms per image "
                     f"(NumPy on this host, {d['images']} val images, timed by the run); add it to a file's p50 "
                     "for keypoints from pixels")
    for c in document["comparisons"]:
        console.note(f"{c['model']} on {c['target']}: {c['what']} = {c['ratio']:.2f}x")
        r = c.get("responsible")
        if r and r["op_kind"] is None:
            console.note(f"  over {SLOWER_THAN_ORT}x, but no kind of op takes TFLite a tenth more than ONNX Runtime in "
                         f"the 1-thread op profiles ({r['tflite_profile_ms']:.2f} against "
                         f"{r['onnxruntime_profile_ms']:.2f} ms in all): the gap is not in the kernels")
        elif r:
            console.note(f"  over {SLOWER_THAN_ORT}x: {r['op_kind']} ops take {r['tflite_ms']:.2f} ms in TFLite "
                         f"against {r['onnxruntime_ms']:.2f} ms in ONNX Runtime (1-thread op profiles); slowest: "
                         + ", ".join(f"{op['op_type']} {op['layers']} {op['ms']:.2f} ms"
                                     for op in r["tflite_top_ops"]))
    _print_profiles(console, document["profiles"])
    for name, found in document.get("coverage", {}).items():  # the host times say nothing of a phone's accelerator
        console.note(f"coverage {name}: " + ", ".join(
            f"{a} {r['verdict']} ({r['supported']} of {r['nodes']}, {r['partitions']} partition(s))"
            for a, r in found.items()))
    reasons = {r["reason"] for r in document["rows"] if r["status"] == "skipped"}
    for reason in sorted(reasons):
        console.note(f"skipped: {reason}")


def _print_profiles(console: Console, profiles: dict[str, Any]) -> None:
    for name, p in profiles.items():
        kinds = ", ".join(f"{t['op_type']} {t['ms']:.2f} ms x{t['count']}" for t in p["by_type"][:3])
        top = p["top_ops"][0]
        console.note(f"profile {name} ({p['runtime']}, 1 thread, ops sum {p['total_ms']:.2f} ms): {kinds}; "
                     f"slowest {top['op_type']} {top['layers']} {top['ms']:.2f} ms")


def _status(row: dict[str, Any]) -> str:
    style = {"pass": "green", "fail": "bold red", "skipped": "yellow"}.get(row["status"])
    return f"[{style}]{row['status']}[/]" if style else row["status"]


def _num(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)
