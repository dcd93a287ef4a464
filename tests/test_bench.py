"""``posepipe bench``: every artifact of the last run (or the files named) timed
on every target, with budget verdicts, speed ratios and per-op profiles; no
manifest is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import TinyZoo, invoke, read_manifest


def test_bench_times_every_artifact_on_every_target(zoo: TinyZoo, in_tmp: Path,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    run = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "tflite,onnx,coreml-nn", "--precisions", "fp32,fp16")
    assert run.code in (0, 10), run.err  # the tiny model's flat heatmaps may fail fp16 agreement: still timed
    result = invoke(capfd, "bench", "hourglass", "--bench-runs", "3", "--json", "bench.json")
    assert result.code == 0, result.err
    document = json.loads((in_tmp / "bench.json").read_text())
    manifest = read_manifest(in_tmp, "hourglass")
    targets = [t["name"] for t in manifest["latency"]["targets"]]
    rows = {(r["file"], r["target"]): r for r in document["rows"]}
    assert sorted(rows) == sorted((a["file"], t) for a in manifest["artifacts"] for t in targets)
    fp32, fp16 = rows[("hourglass-fp32.tflite", "host-cpu-1t")], rows[("hourglass-fp16.tflite", "host-cpu-1t")]
    assert fp32["runs"] == 3 and fp32["vs_fp32"] == 1.0
    assert fp16["vs_fp32"] == pytest.approx(fp16["figure_ms"] / fp32["figure_ms"])
    assert fp32["vs_reference"] == pytest.approx(fp32["figure_ms"] / manifest["reference"]["latency"]["p50_ms"])
    assert rows[("hourglass-fp32.mlmodel", "host-cpu-1t")]["status"] == "skipped"
    onnx = rows[("hourglass-fp32.onnx", "host-cpu-2t")]
    versus = next(c for c in document["comparisons"]
                  if c["what"] == "fp32 TFLite / fp32 ONNX Runtime" and c["target"] == "host-cpu-2t")
    assert versus["ratio"] == pytest.approx(rows[("hourglass-fp32.tflite", "host-cpu-2t")]["figure_ms"]
                                            / onnx["figure_ms"])
    assert set(document["profiles"]) == {"hourglass-fp32.tflite", "hourglass-fp16.tflite", "hourglass-fp32.onnx",
                                         "hourglass-fp16.onnx"}
    assert "latency per artifact and target" in result.out
    assert "profile hourglass-fp16.tflite (litert" in result.err
    assert "fp32 TFLite / fp32 ONNX Runtime" in result.err


def test_bench_takes_artifact_files_and_enforces_budgets(zoo: TinyZoo, in_tmp: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    assert invoke(capfd, *zoo.run_args("hourglass"), "--formats", "onnx").code == 0
    artifact = in_tmp / "artifacts" / "hourglass" / "hourglass-fp32.onnx"
    over = invoke(capfd, "bench", str(artifact), "--bench-runs", "2", "--no-profile", "--targets", "host-cpu-2t",
                  "--budget", "host-cpu-2t=0.0001")
    assert over.code == 11, over.err
    assert over.error_lines[0].startswith("posepipe: error: hourglass-fp32.onnx on host-cpu-2t: p50 ")
    report = invoke(capfd, "bench", str(artifact), "--bench-runs", "2", "--no-profile", "--targets", "host-cpu-2t",
                    "--budget", "host-cpu-2t=0.0001", "--budgets-report-only")
    assert report.code == 0 and "over budget (report only)" in report.err


def test_bench_without_a_run_says_so(in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "bench", "hourglass")
    assert result.code == 19
    assert result.error_lines == ["posepipe: error: artifacts/hourglass/manifest.json: no manifest; "
                                  "run `posepipe run MODEL` first"]
    (in_tmp / "lonely-fp32.onnx").write_bytes(b"")
    result = invoke(capfd, "bench", "lonely-fp32.onnx")
    assert result.code == 19 and "manifest.json: no manifest" in result.err
