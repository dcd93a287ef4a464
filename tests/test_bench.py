"""``posepipe bench``: every artifact of the last run measured, numbers from the
manifest beside the timing; no manifest is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import TinyZoo, invoke, read_manifest


def test_bench_times_every_artifact_of_the_last_run(zoo: TinyZoo, in_tmp: Path,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    run = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "tflite,onnx,coreml-nn", "--precisions", "fp32,fp16")
    assert run.code in (0, 10), run.err  # the tiny model's flat heatmaps may fail fp16 agreement: still timed
    result = invoke(capfd, "bench", "hourglass", "--runs", "3", "--json", "bench.json")
    assert result.code == 0, result.err
    rows = {r["file"]: r for r in json.loads((in_tmp / "bench.json").read_text())}
    manifest = {a["file"]: a for a in read_manifest(in_tmp, "hourglass")["artifacts"]}
    assert sorted(rows) == sorted(manifest)
    for name in ("hourglass-fp32.tflite", "hourglass-fp16.onnx"):
        assert rows[name]["median_ms"] > 0 and rows[name]["p90_ms"] >= rows[name]["median_ms"]
        assert rows[name]["pck"] == manifest[name]["validation"]["task"]["pck"]
    fp16 = rows["hourglass-fp16.tflite"]
    assert fp16["size_ratio"] == manifest["hourglass-fp16.tflite"]["bytes"] / manifest["hourglass-fp32.tflite"]["bytes"]
    assert rows["hourglass-fp32.mlmodel"]["median_ms"] is None  # the reference evaluator is no phone
    assert "hourglass-fp16.tflite" in result.out and "n/a" in result.out


def test_bench_without_a_run_says_so(in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "bench", "hourglass")
    assert result.code == 19
    assert result.error_lines == ["posepipe: error: artifacts/hourglass/manifest.json: no manifest; "
                                  "run `posepipe run MODEL` first"]
