"""``artifacts/<model>/report.html`` renders in headless Chromium: every manifest
artifact in the table with its status colour, every overlay image decoded, the
chart drawn, nothing fetched from outside the file; latency blocks (issue 5) show
per target with their budget status, and their absence is no error."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support.browser import check_report, rendered
from tests.support.harness import invoke, read_manifest


def test_the_run_writes_a_report_that_renders(tiny_run: Path, tmp_path: Path) -> None:
    manifest = read_manifest(tiny_run, "hourglass")
    page = check_report(tiny_run / "artifacts" / "hourglass" / "report.html", manifest, tmp_path)
    targets = {t for a in manifest["artifacts"] for t in a.get("latency", {}).get("targets", {})}
    assert targets and "PCK@0.2 (delta)" in page.headers
    assert {f"{t} ms / budget" for t in targets} <= set(page.headers)


def test_a_manifest_without_latency_still_renders(tiny_run: Path) -> None:
    """Manifests from before latency blocks existed (or runs that skipped them)."""
    from posepipe.pipeline.report.overlay import Overlays
    from posepipe.pipeline.report.page import render

    manifest = read_manifest(tiny_run, "hourglass")
    for entry in manifest["artifacts"]:
        entry.pop("latency", None)
    manifest.pop("model_stats", None)
    html = render(manifest, Overlays((), {}, {}, note="no overlays: data gone"))
    assert "ms / budget" not in html and "no overlays: data gone" in html
    assert html.count("<tr class='passed'") == len(manifest["artifacts"])
    assert "mean ms, validation on this host" in html
    assert "left out of the default matrix" not in html
    manifest["disabled"] = [{"format": "onnx", "precision": "int8", "reason": "loses <20> points"}]
    assert "<li>onnx int8: loses &lt;20&gt; points</li>" in render(manifest, Overlays((), {}, {}, note=""))


def test_report_regenerates_with_latency_per_target_and_budget_status(
        tiny_run: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The manifest shape issue 5 adds: a latency block per artifact, some
    measured, some estimated, one over budget; ``posepipe report`` redraws the
    overlays from the files and the checkpoint alone."""
    root = tmp_path / "artifacts"
    shutil.copytree(tiny_run / "artifacts" / "hourglass", root / "hourglass")
    (root / "hourglass" / "report.html").unlink()
    path = root / "hourglass" / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["artifacts"]:
        over = entry["format"] == "onnx"
        entry["latency"] = {"targets": {
            "host-cpu-1t": {"kind": "measured", "threads": 1, "p50_ms": 1.5, "p90_ms": 1.9, "budget_ms": 40.0,
                            "status": "pass"},
            "pixel5-cpu-4t": {"kind": "estimated", "threads": 4, "figure_ms": 55.0 if over else 12.0,
                              "statistic": "estimate", "budget_ms": 50.0, "status": "fail" if over else "pass",
                              "basis": "MACs x rate"},
            "rpi4-cpu-4t": {"kind": "measured", "status": "skipped", "reason": "no device", "budget_ms": None},
        }}
    manifest["model_stats"] = {"macs": 12_000_000, "params": 40_000}
    path.write_text(json.dumps(manifest))
    result = invoke(capfd, "report", "hourglass", "--out", root, "--samples", "2")
    assert result.code == 0, result.err
    report = root / "hourglass" / "report.html"
    page = check_report(report, manifest, tmp_path, samples=2)
    assert {"host-cpu-1t ms / budget", "pixel5-cpu-4t ms / budget", "rpi4-cpu-4t ms / budget"} <= set(page.headers)
    html = report.read_text()
    onnx_row = re.search(r"<tr class='passed' data-artifact='hourglass-fp32.onnx'>(.*?)</tr>", html).group(1)
    assert "<td class='fail' title='MACs x rate'>55.00 / 50 (est.)</td>" in onnx_row
    assert "<td class='fail'>over</td>" in onnx_row
    tflite_row = re.search(r"data-artifact='hourglass-fp32.tflite'>(.*?)</tr>", html).group(1)
    assert "<td class='pass'>within</td>" in tflite_row and "1.50 / 40" in tflite_row
    assert "<td class='none' title='no device'>skipped</td>" in tflite_row
    assert "ms on host-cpu-1t" in html and "0.04 M params" in html


def test_a_broken_image_is_caught_by_the_probe(tmp_path: Path) -> None:
    """The image check can fail: one good and one corrupt data URI."""
    import numpy as np

    from posepipe.pipeline.report.overlay import draw
    from tests.converters.test_metadata import SPEC

    good = draw(np.zeros((8, 8, 3), np.uint8), SPEC, np.zeros((17, 3)), None)
    page = tmp_path / "page.html"
    page.write_text(f"<html><body><img alt='good' src='{good}'><img alt='bad' src='data:image/png;base64,AAAA'>"
                    "</body></html>")
    body = rendered(page, tmp_path).body
    assert (body["data-images"], body["data-loaded"], body["data-broken"]) == ("2", "1", "bad")


def test_report_without_a_manifest_is_an_error(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "report", "hourglass", "--out", tmp_path)
    assert result.code == 19 and "no manifest" in result.error_lines[0]
