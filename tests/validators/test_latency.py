"""The latency stage and its budgets, on the tiny model: every executed artifact
has a figure per target, measured or estimated and labelled so, judged against
the spec's budgets; an impossible budget fails the run naming artifact and
target. The harness's logic is checked here, never the machine's speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from posepipe import models
from posepipe.validators.perf.targets import DEVICE_ESTIMATES
from tests.support.harness import TinyZoo, invoke, read_manifest

HOST = ("host-cpu-1t", "host-cpu-2t")
# The estimates' published basis (../shared/reference/published_benchmarks.md): the TFLite
# PoseNet's fp32 latency per device, and its MACs as tests/validators/test_benchmarking.py
# counts them by hand.
PUBLISHED_FP32_MS = {"pixel5-cpu-4t": 80.0, "rpi4-cpu-4t": 338.0}
BASIS_MACS_BY_HAND = 1_191_790_016


def onnx_macs(path: Path) -> int:
    """The MACs of a converted .onnx file, counted from its graph rather than by
    posepipe's counter (which reads the Keras layers): every Conv is its weight
    tensor's size (out x in/group x kh x kw) times its output's spatial cells."""
    from math import prod

    import onnx
    from onnx import shape_inference

    graph = shape_inference.infer_shapes(onnx.load(str(path))).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in (*graph.value_info, *graph.output)}
    weights = {i.name: tuple(i.dims) for i in graph.initializer}
    counted = {"Conv", "ConvTranspose", "MatMul", "Gemm"}
    assert {n.op_type for n in graph.node} & counted == {"Conv"}, "count the other kinds too"
    return sum(prod(weights[n.input[1]]) * prod(shapes[n.output[0]][2:]) for n in graph.node if n.op_type == "Conv")


def test_run_records_latency_for_every_executed_artifact(zoo: TinyZoo, tiny_run: Path) -> None:
    """The session's tiny run: every format, fp32, ``--bench-runs 5``. The MACs and
    parameters are counted apart from posepipe (the .onnx graph, Keras), and the
    estimates recomputed from the published figures."""
    manifest = read_manifest(tiny_run, "hourglass")
    spec = models.get("hourglass")
    assert manifest["latency"]["budgets"] == spec.budgets and manifest["latency"]["enforced"] is True
    macs = onnx_macs(tiny_run / "artifacts" / "hourglass" / "hourglass-fp32.onnx")
    assert manifest["model_stats"] == {"macs": macs, "params": zoo.model("hourglass").count_params()}
    assert manifest["reference"]["latency"]["runtime"] == "keras"
    by_file = {e["file"]: e["latency"]["targets"] for e in manifest["artifacts"]}
    assert sorted(by_file) == ["hourglass-fp32.mlmodel", "hourglass-fp32.mlpackage", "hourglass-fp32.onnx",
                               "hourglass-fp32.ort", "hourglass-fp32.tflite"]
    for name in ("hourglass-fp32.tflite", "hourglass-fp32.onnx", "hourglass-fp32.ort"):
        for target, threads in zip(HOST, (1, 2), strict=True):
            figure = by_file[name][target]
            assert figure["kind"] == "measured" and figure["threads"] == threads and figure["runs"] == 5
            assert 0 < figure["p50_ms"] <= figure["p90_ms"] and figure["load_ms"] > 0 and figure["first_ms"] > 0
            assert figure["figure_ms"] == figure["p50_ms"] and figure["budget_ms"] == spec.budgets[target]
            assert figure["status"] == ("pass" if figure["p50_ms"] <= spec.budgets[target] else "fail")
            assert figure["gmacs_per_s"] == pytest.approx(macs / (figure["p50_ms"] * 1e6))  # MACs per ms / 1e6
            assert figure["peak_memory_mb"] is not None and figure["peak_memory_mb"] >= 0
    assert sorted(d.name for d in DEVICE_ESTIMATES) == sorted(PUBLISHED_FP32_MS)
    for device, basis_ms in PUBLISHED_FP32_MS.items():
        estimate = by_file["hourglass-fp32.tflite"][device]
        assert estimate["kind"] == "estimated" and "published basis model" in estimate["basis"]
        # the model's share of the basis model's MACs, of the basis model's published time
        assert estimate["figure_ms"] == pytest.approx(macs / BASIS_MACS_BY_HAND * basis_ms)
        assert by_file["hourglass-fp32.onnx"][device]["status"] == "skipped"  # published figures are TFLite
    for target in HOST:  # the reference evaluator's time is no device latency
        for name in ("hourglass-fp32.mlmodel", "hourglass-fp32.mlpackage"):
            assert by_file[name][target]["status"] == "skipped"
            assert "reference evaluator" in by_file[name][target]["reason"]
    profiled = {e["file"]: e["latency"].get("profile") for e in manifest["artifacts"]}
    assert profiled["hourglass-fp32.tflite"]["runtime"] == "litert"
    assert profiled["hourglass-fp32.onnx"]["runtime"] == "onnxruntime"
    assert profiled["hourglass-fp32.mlmodel"] is None


def test_an_impossible_budget_fails_the_run_naming_artifact_and_target(zoo: TinyZoo, in_tmp: Path,
                                                                       capfd: pytest.CaptureFixture[str]) -> None:
    args = zoo.run_args("hourglass", "--formats", "tflite", "--budget", "host-cpu-1t=0.0001", "--no-profile")
    result = invoke(capfd, *args)
    assert result.code == 11, result.err
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith("posepipe: error: hourglass-fp32.tflite on host-cpu-1t: p50 ")
    assert "over its budget of 0.0001 ms" in result.error_lines[0]
    manifest = read_manifest(in_tmp, "hourglass")
    assert manifest["passed"] is False
    assert manifest["artifacts"][0]["latency"]["targets"]["host-cpu-1t"]["status"] == "fail"
    assert manifest["artifacts"][0]["validation"]["status"] == "passed"  # the numbers were fine; the speed was not

    report_only = invoke(capfd, *args, "--budgets-report-only")
    assert report_only.code == 0, report_only.err
    assert "over budget (report only): hourglass-fp32.tflite on host-cpu-1t" in report_only.err
    manifest = read_manifest(in_tmp, "hourglass")
    assert manifest["passed"] is True and manifest["latency"]["enforced"] is False
    assert manifest["artifacts"][0]["latency"]["targets"]["host-cpu-1t"]["status"] == "fail"


@pytest.mark.parametrize(("option", "code", "message"), [
    (["--budget", "host-cpu-1t=fast"], 2, "'host-cpu-1t=fast' is not TARGET=MS"),
    (["--budget", "host-cpu-1t=-3"], 2, "is not TARGET=MS with MS > 0"),
    (["--targets", "host-cpu-1t", "--budget", "pixel5-cpu-4t=30"], 12,
     "--budget pixel5-cpu-4t: not a target of this run"),
    (["--targets", "iphone99"], 2, "unknown target 'iphone99'"),
    (["--device", "usb:1234", "--benchmark-model", "bm"], 12, "--device 'usb:1234': expected adb or adb:SERIAL"),
    (["--device", "adb"], 12, "--device adb needs --benchmark-model PATH"),
])
def test_bad_latency_options_are_named(in_tmp: Path, capfd: pytest.CaptureFixture[str], option: list[str],
                                       code: int, message: str) -> None:
    result = invoke(capfd, "run", "hourglass", "--preset", "tiny", "--checkpoint", "missing.keras", *option)
    assert result.code == code, result.err
    assert message in result.err
    assert not (in_tmp / "artifacts").exists()
