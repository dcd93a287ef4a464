"""Full-size runs: the default hourglass end to end, audited independently, its
report rendered in headless Chromium.
Deselected by default (pyproject addopts); run with `make test-slow`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.browser import check_report
from tests.support.harness import invoke

pytestmark = pytest.mark.slow


def test_the_default_hourglass_learns_converts_and_passes(in_tmp: Path, tmp_path_factory: pytest.TempPathFactory,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "run", "hourglass")
    assert result.code == 0, result.err
    manifest = json.loads((in_tmp / "artifacts" / "hourglass" / "manifest.json").read_text())
    record = json.loads(Path(manifest["checkpoint"]["record"]).read_text())
    assert record["val_pck"] >= 0.70
    statuses = {a["file"]: a["validation"]["status"] for a in manifest["artifacts"]}
    assert statuses["hourglass-fp32.tflite"] == statuses["hourglass-fp32.onnx"] == "passed"
    assert statuses["hourglass-fp32.mlpackage"] == statuses["hourglass-fp32.mlmodel"] == "passed"
    by_file = {a["file"]: a for a in manifest["artifacts"]}
    int8 = by_file["hourglass-int8.tflite"]
    assert int8["quantization"]["size_ratio"] <= 0.30 and int8["validation"]["task"]["pck_delta"] >= -1.0
    for name in ("hourglass-fp16.tflite", "hourglass-int8.tflite", "hourglass-fp16.onnx", "hourglass-int8.onnx",
                 "hourglass-fp16.mlpackage", "hourglass-w8.mlpackage"):
        assert statuses[name] == "passed", by_file[name]["validation"]
    core_ml = [a for a in manifest["artifacts"] if a["file"].endswith((".mlpackage", ".mlmodel"))]
    runtimes = {a["validation"]["runtime"] for a in core_ml}
    assert runtimes <= {"coreml", "coreml-reference"}
    audit = subprocess.run([sys.executable, str(Path(__file__).parents[2] / "scripts" / "audit_manifest.py"),
                            "artifacts/hourglass/manifest.json"], capture_output=True, text=True, check=False)
    assert audit.returncode == 0, audit.stdout
    check_report(in_tmp / "artifacts" / "hourglass" / "report.html", manifest, tmp_path_factory.mktemp("chromium"))
