"""A bottom-up model through ``posepipe run``: OKS AP for the reference and every
artifact, decoded-pose agreement, and the decoder timed apart from the model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.harness import TinyZoo, invoke, read_manifest
from tests.support.verdicts import not_task_checks, verdicts_agree

OUTPUT_BOUND = re.compile(r"(heatmap|offset|displacement_fwd|displacement_bwd): "
                          r"(cosine [\d.]+ < [\d.]+ \(worst: sample \d+\)|SNR [\d.]+ dB < [\d.]+ dB)")


def test_a_tiny_posenet_run_scores_every_file_with_oks_ap(zoo: TinyZoo, in_tmp: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, *zoo.run_args("posenet", "--formats", "tflite,onnx", "--precisions", "fp32,int8"))
    manifest = read_manifest(in_tmp, "posenet")
    assert sorted(e["file"] for e in manifest["artifacts"]) == ["posenet-fp32.onnx", "posenet-fp32.tflite",
                                                               "posenet-int8.onnx", "posenet-int8.tflite"]
    # Only an int8 file may fail, judged and named (exit 10 then), and only on its bounds: the task
    # checks (the tiny model's poses are noise) or the cosine / SNR of an output, never a missing or
    # misshapen output or a runtime error. Measured here: the tiny int8 .tflite's offset and
    # displacement outputs at cosine 0.91-0.97, SNR 10-15 dB (bounds 0.99, 20 dB).
    failed = verdicts_agree(result, manifest)
    assert all("-int8." in name for name in failed), failed
    for entry in manifest["artifacts"]:
        bounds = [f for f in not_task_checks(entry["validation"]["failures"]) if not OUTPUT_BOUND.fullmatch(f)]
        assert bounds == [], (entry["file"], bounds)
    reference = manifest["reference"]
    assert reference["metric"] == "oks_ap" and 0.0 <= reference["oks_ap"] <= 1.0
    assert reference["decoder"]["name"] == "posenet-multipose" and reference["decoder"]["p50_ms"] > 0
    assert "decoder: posenet-multipose p50" in result.out + result.err
    assert manifest["input"]["crop_padding"] is None  # whole images, letterboxed
    assert [o["name"] for o in manifest["outputs"]] == ["heatmap", "offset", "displacement_fwd", "displacement_bwd"]
    for entry in manifest["artifacts"]:
        task = entry["validation"]["task"]
        assert task["metric"] == "oks_ap" and task["oks_ap_reference"] == reference["oks_ap"]
        assert task["oks_ap_delta"] == pytest.approx(100 * (task["oks_ap"] - reference["oks_ap"]))
        if entry["precision"] == "fp32":
            assert entry["validation"]["status"] == "passed", entry["validation"]["failures"]
            assert task["agreement"] >= 0.999 and task["oks_ap_delta"] == pytest.approx(0.0, abs=1e-9)
            assert task["people_agreement"] == 1.0
    report = (in_tmp / "artifacts" / "posenet" / "report.html").read_text()
    assert "OKS AP (delta)" in report and "PCK" not in report
    assert "% people)" in report and "% people)" in result.out
