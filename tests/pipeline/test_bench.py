"""``posepipe bench``: every artifact of the last run (or the files named) timed
on every target, with budget verdicts, speed ratios and per-op profiles; no
manifest is a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.harness import invoke, read_manifest


def test_bench_times_every_artifact_on_every_target(tiny_run: Path, in_tmp: Path,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    """Over a copy of the session's tiny run (every format, fp32)."""
    shutil.copytree(tiny_run / "artifacts", in_tmp / "artifacts")
    result = invoke(capfd, "bench", "hourglass", "--bench-runs", "3", "--json", "bench.json")
    assert result.code == 0, result.err
    document = json.loads((in_tmp / "bench.json").read_text())
    manifest = read_manifest(in_tmp, "hourglass")
    targets = [t["name"] for t in manifest["latency"]["targets"]]
    rows = {(r["file"], r["target"]): r for r in document["rows"]}
    assert sorted(rows) == sorted((a["file"], t) for a in manifest["artifacts"] for t in targets)
    fp32 = rows[("hourglass-fp32.tflite", "host-cpu-1t")]
    assert fp32["runs"] == 3 and fp32["vs_fp32"] == 1.0
    assert fp32["vs_reference"] == pytest.approx(fp32["figure_ms"] / manifest["reference"]["latency"]["p50_ms"])
    assert rows[("hourglass-fp32.mlmodel", "host-cpu-1t")]["status"] == "skipped"
    onnx = rows[("hourglass-fp32.onnx", "host-cpu-2t")]
    versus = next(c for c in document["comparisons"]
                  if c["what"] == "fp32 TFLite / fp32 ONNX Runtime" and c["target"] == "host-cpu-2t")
    assert versus["ratio"] == pytest.approx(rows[("hourglass-fp32.tflite", "host-cpu-2t")]["figure_ms"]
                                            / onnx["figure_ms"])
    assert set(document["profiles"]) == {"hourglass-fp32.tflite", "hourglass-fp32.onnx", "hourglass-fp32.ort"}
    assert "latency per artifact and target" in result.out
    assert "profile hourglass-fp32.tflite (litert" in result.err
    assert "fp32 TFLite / fp32 ONNX Runtime" in result.err
    decoder = document["decoders"]["hourglass"]  # post-processing, timed apart from the model
    assert decoder == manifest["reference"]["decoder"] and decoder["p50_ms"] > 0
    assert f"hourglass decoder {decoder['name']}: p50" in result.err
    covered = {a["file"]: a["coverage"] for a in manifest["artifacts"] if a.get("coverage")}
    assert document["coverage"] == covered and "hourglass-fp32.onnx" in covered
    nnapi = covered["hourglass-fp32.onnx"]["nnapi"]
    assert f"coverage hourglass-fp32.onnx: nnapi {nnapi['verdict']} ({nnapi['supported']} of" in result.err


def test_speed_ups_compare_each_file_with_its_formats_fp32_on_the_same_target() -> None:
    from posepipe.pipeline.diagnostics.bench import _comparisons, _speedups

    def row(fmt: str, precision: str, target: str, ms: float | None) -> dict[str, object]:
        return {"model": "m", "file": f"m-{precision}.{fmt}", "format": fmt, "precision": precision,
                "target": target, "figure_ms": ms, "kind": "measured"}

    rows = [row("tflite", "fp32", "t1", 10.0), row("tflite", "int8", "t1", 4.0), row("tflite", "fp16", "t2", 9.0),
            row("tflite", "fp32", "t2", 6.0), row("onnx", "fp32", "t1", 5.0), row("onnx", "int8", "t2", 3.0),
            row("tflite", "fp16", "t1", None)]
    _speedups(rows)
    assert [r["vs_fp32"] for r in rows] == [1.0, 0.4, 1.5, 1.0, 1.0, None, None]  # no onnx fp32 on t2
    found = {(c["target"], c["what"]): c for c in _comparisons(rows, {})}
    assert sorted(found) == [("t1", "fp32 TFLite / fp32 ONNX Runtime"), ("t1", "int8 / fp32 TFLite")]
    assert found[("t1", "int8 / fp32 TFLite")]["ratio"] == 0.4
    versus = found[("t1", "fp32 TFLite / fp32 ONNX Runtime")]
    assert versus["ratio"] == 2.0 and versus["over_limit"] is True and "responsible" not in versus  # no profiles


def test_bench_takes_artifact_files_and_enforces_budgets(tiny_run: Path, in_tmp: Path,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    artifact = tiny_run / "artifacts" / "hourglass" / "hourglass-fp32.onnx"
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
