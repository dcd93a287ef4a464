"""Quantization: the calibration set, each format's fp16 and int8 files, the
proof recorded per file, and the sensitivity report when int8 breaks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from posepipe import models
from posepipe.converters import CONVERTERS
from posepipe.converters.sensitivity import LayerError, Sensitivity, Worse, keras_layer
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.run.matrix import MatrixCell, cells, left_out
from tests.support.harness import TinyZoo, invoke, read_manifest
from tests.support.ort import ort_of, outputs
from tests.support.verdicts import failed_on_task_checks_only


def test_sensitivity_names_keras_layers_worst_first() -> None:
    known = {"stem_conv", "stem_bn", "hg4_up_project"}
    assert keras_layer("hourglass_1/hg4_up_project_1/Conv2D;other", known) == "hg4_up_project"
    assert keras_layer("hourglass_1/stem_bn_1/batchnorm/mul_1", known) == "stem_bn"
    assert keras_layer("const_fold_opt__448", known) is None
    rows = (LayerError("a", "a:0", 1.0), LayerError("b", "b:0", 9.0), LayerError("b", "b:1", 8.0),
            LayerError("c", "c:0", 3.0))
    assert Sensitivity("rmse / scale", Worse.HIGHER, rows).worst(2) == ("b", "c")
    assert Sensitivity("SQNR dB", Worse.LOWER, rows).worst(2) == ("a", "c")


def test_the_default_matrix_and_a_precision_no_format_builds() -> None:
    chosen = cells((Format.TFLITE, Format.COREML_NN))
    assert chosen == (MatrixCell(Format.TFLITE, Precision.FP32), MatrixCell(Format.TFLITE, Precision.FP16),
                      MatrixCell(Format.TFLITE, Precision.INT8), MatrixCell(Format.COREML_NN, Precision.FP32))
    assert cells((Format.COREML,), (Precision.PALETTE4,)) == (MatrixCell(Format.COREML, Precision.PALETTE4),)
    with pytest.raises(ConfigError, match="no chosen format builds int16x8"):
        cells((Format.ONNX,), (Precision.INT16X8,))


def test_a_models_disabled_precision_leaves_the_default_matrix_with_its_reason() -> None:
    formats, why = (Format.TFLITE, Format.ONNX), {Precision.INT8: "loses 20 points"}
    assert [str(c.precision) for c in cells(formats, None, why)] == ["fp32", "fp16"] * 2
    assert left_out(formats, None, why) == ((MatrixCell(Format.TFLITE, Precision.INT8), "loses 20 points"),
                                            (MatrixCell(Format.ONNX, Precision.INT8), "loses 20 points"))
    # asked for by name, it is built (and validated) like any other
    assert cells(formats, (Precision.INT8,), why) == (MatrixCell(Format.TFLITE, Precision.INT8),
                                                       MatrixCell(Format.ONNX, Precision.INT8))
    assert left_out(formats, (Precision.INT8,), why) == ()
    assert "PCK" in models.get("blazepose").disabled[Precision.INT8]


def test_every_precision_has_a_tolerance_and_fp16_int8_hold_the_issue_bounds() -> None:
    for name in models.names():
        tolerances = models.get(name).tolerances
        assert set(tolerances) == set(Precision)
        assert tolerances[Precision.FP16].min_agreement >= 0.99
        assert tolerances[Precision.INT8].max_pck_drop <= 1.0


def test_the_calibration_set_comes_from_the_training_split_and_is_cached(zoo: TinyZoo, tmp_path: Path) -> None:
    from posepipe.calibration.coco import CocoKeypoints
    from posepipe.calibration.samples import load_top_down
    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.calibrate import calibration_set
    from posepipe.pipeline.run.data import Data

    spec = models.get("hourglass")
    data = Data(zoo.data, True, "tiny")
    first = calibration_set(spec, (64, 64), data, tmp_path, Console(live=False), samples=20)
    assert len(first) == 20 and "train split" in first.source
    assert list(tmp_path.glob("calibration/hourglass-*.npy"))
    again = calibration_set(spec, (64, 64), data, tmp_path, Console(live=False), samples=20)
    assert again.sha256 == first.sha256
    other_seed = calibration_set(spec, (64, 64), data, tmp_path, Console(live=False), samples=20, seed=1)
    assert other_seed.sha256 != first.sha256
    val = spec.input.normalise(load_top_down(CocoKeypoints.load(zoo.data, "val", 17), (64, 64)).pixels)
    for crop in first.inputs:  # never a val image
        assert not any(np.array_equal(crop, v) for v in val)
    feeds = list(first)
    assert feeds[0]["image"].shape == (1, 64, 64, 3) and feeds[0]["image"].dtype == np.float32


def test_a_small_calibration_set_is_warned_about(zoo: TinyZoo, in_tmp: Path,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "onnx", "--precisions", "int8",
                    "--calibration-samples", "12")
    assert "warning: the calibration set has 12 samples, fewer than the 100 recommended" in result.err


def test_quantized_files_are_built_proven_and_recorded(zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file is built and on disk; what each file is (integer I/O, QDQ nodes,
    float16 weights, constexpr ops) and its tensor metrics hold per file at its
    precision's tolerance; the fp32 files pass outright. The tiny model's heatmaps
    are nearly flat, so a quantized file's keypoint agreement (and PCK) is noise:
    those task checks, and only those, may fail it, and then the run exits 10
    naming each such file."""
    import onnx

    # the tiny model's weights are all small
    monkeypatch.setattr("posepipe.converters.coreml.convert.WEIGHT_THRESHOLD", 64)
    result = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "tflite,onnx,coreml",
                    "--precisions", "fp32,fp16,int8,w8", "--calibration-samples", "24")
    manifest = read_manifest(in_tmp, "hourglass")
    by_file = {a["file"]: a for a in manifest["artifacts"]}
    assert sorted(by_file) == sorted(f"hourglass-{p}{s}" for p, s in [
        ("fp32", ".tflite"), ("fp16", ".tflite"), ("int8", ".tflite"), ("fp32", ".onnx"), ("fp16", ".onnx"),
        ("int8", ".onnx"), ("fp32", ".mlpackage"), ("fp16", ".mlpackage"), ("w8", ".mlpackage")])
    folder = in_tmp / "artifacts" / "hourglass"
    assert all((folder / name).exists() and by_file[name]["bytes"] > 0 for name in by_file)

    int8 = by_file["hourglass-int8.tflite"]
    assert int8["inputs"][0]["dtype"] == "int8" and int8["inputs"][0]["quantization"]["scale"] > 0
    quant = int8["quantization"]
    assert quant["calibration"]["samples"] == 24 and len(quant["calibration"]["sha256"]) == 64
    assert 0 < quant["size_ratio"] < 1
    recipe = json.loads((folder / quant["recipe"]).read_text())
    assert recipe["calibration"] == quant["calibration"] and recipe["input_type"] == "int8"
    assert by_file["hourglass-int8.onnx"]["quantization"]["calibration"] == quant["calibration"]

    graph = onnx.load(str(folder / "hourglass-int8.onnx")).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    assert by_file["hourglass-int8.onnx"]["inputs"][0]["dtype"] == "float32"
    fp16 = onnx.load(str(folder / "hourglass-fp16.onnx")).graph
    assert {i.data_type for i in fp16.initializer} >= {onnx.TensorProto.FLOAT16}
    assert by_file["hourglass-fp16.onnx"]["inputs"][0]["dtype"] == "float32"
    assert by_file["hourglass-fp16.onnx"]["outputs"][0]["dtype"] == "float32"
    # ONNX Runtime's converter takes the fp16 and the int8 QDQ graph, and the .ort computes what the .onnx does
    # (a run makes them only from a passed .onnx, and the tiny ones may fail on keypoint noise: made here directly)
    for precision in ("fp16", "int8"):
        made = ort_of(folder / f"hourglass-{precision}.onnx", in_tmp / "ort")
        CONVERTERS[Format.ORT].verify(made)
        ort_out, onnx_out = outputs(made)["heatmaps"], outputs(folder / f"hourglass-{precision}.onnx")["heatmaps"]
        np.testing.assert_allclose(ort_out, onnx_out, atol=1e-5)
    assert "constexpr_affine_dequantize" in _mil_ops(folder / "hourglass-w8.mlpackage")
    assert "constexpr_affine_dequantize" not in _mil_ops(folder / "hourglass-fp16.mlpackage")

    spec = models.get("hourglass")
    for name, entry in by_file.items():
        validation = entry["validation"]
        tolerance = spec.tolerances[Precision(name.removeprefix("hourglass-").split(".")[0])]
        assert validation["samples"] == 16 and [o["name"] for o in validation["outputs"]] == ["heatmaps"], name
        output = validation["outputs"][0]
        assert output["cosine"] >= tolerance.min_cosine and output["snr_db"] >= tolerance.min_snr_db, (name, output)
        assert {"metric", "pck", "pck_reference", "pck_delta", "agreement"} <= validation["task"].keys()
    for name in ("hourglass-fp16.tflite", "hourglass-int8.tflite", "hourglass-fp16.onnx", "hourglass-int8.onnx"):
        output = by_file[name]["validation"]["outputs"][0]
        assert output["cosine"] > 0.99 and output["snr_db"] > 20, (name, output)
    for name in ("hourglass-fp16.tflite", "hourglass-fp16.onnx"):
        assert by_file[name]["validation"]["outputs"][0]["snr_db"] > 40
    for name in ("hourglass-fp32.tflite", "hourglass-fp32.onnx", "hourglass-fp32.mlpackage"):
        assert by_file[name]["validation"]["status"] == "passed", by_file[name]["validation"]
        assert by_file[name]["validation"]["task"]["agreement"] == 1.0

    failed_on_task_checks_only(result, manifest)  # exit 10 then, each such file named


def test_a_broken_calibration_fails_the_run_and_the_report_names_where(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Calibrated on black images, every activation range is measured on one
    value: the report shows errors of many quantization steps, starting at the
    stem, far above those of the same file calibrated on the training split.

    CPM, not the hourglass: on a 2-core x86 machine with AVX-512 the tiny hourglass
    left training near its initial outputs (val PCK@0.2 0.013, its int8 file
    almost independent of the input), so a black calibration still agreed on 51%
    of keypoints and passed; the tiny CPM's outputs follow its input."""
    args = [*zoo.run_args("cpm"), "--formats", "tflite", "--precisions", "int8"]
    constant = _constant_images(in_tmp / "black", 16)
    result = invoke(capfd, *args, "--calibration-data", str(constant))
    assert result.code == 10, result.err
    entry = read_manifest(in_tmp, "cpm")["artifacts"][0]
    assert entry["validation"]["status"] == "failed"
    broken = _report(in_tmp, entry)
    assert broken["metric"] == "rmse / scale" and broken["layers"]
    worst = max(broken["layers"], key=lambda r: r["value"])
    assert broken["most_sensitive"][0] == worst["layer"] and worst["layer"].startswith("stem")
    assert entry["quantization"]["sensitive_layers"] == broken["most_sensitive"][:5]
    assert f"most sensitive: {worst['layer']}" in result.err

    invoke(capfd, *args, "--calibration-samples", "48")  # calibrated on the training split
    sound = read_manifest(in_tmp, "cpm")["artifacts"][0]["validation"]["outputs"][0]
    broken_output = entry["validation"]["outputs"][0]
    assert broken_output["mean_abs"] > 5 * sound["mean_abs"], (broken_output, sound)


def test_auto_mixed_precision_keeps_the_worst_layers_in_float(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_edge_litert.interpreter import Interpreter

    monkeypatch.setattr("posepipe.pipeline.run.produce.MIXED_STEPS", (1, 3))
    constant = _constant_images(in_tmp / "black", 16)
    result = invoke(capfd, *zoo.run_args("cpm"), "--formats", "tflite", "--precisions", "int8",
                    "--calibration-data", str(constant), "--auto-mixed-precision")
    assert "auto mixed precision: cpm-int8.tflite with" in result.err
    entry = read_manifest(in_tmp, "cpm")["artifacts"][0]
    kept = entry["quantization"]["keep_float"]
    assert kept and kept[0] == entry["quantization"]["sensitive_layers"][0]
    folder = in_tmp / "artifacts" / "cpm"
    assert json.loads((folder / entry["quantization"]["recipe"]).read_text())["keep_float"] == kept
    details = Interpreter(model_path=str(folder / entry["file"])).get_tensor_details()
    float_layers = {keras_layer(d["name"], set(kept)) for d in details if d["dtype"] == np.float32}
    assert set(kept) <= float_layers


def test_core_ml_activation_quantization_says_it_needs_macos(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "coreml", "--precisions", "a8w8",
                    "--calibration-samples", "8")
    assert result.code == 9
    assert "a8w8 calibrates activations through Core ML predict, which runs only on macOS" in result.err
    assert not list((in_tmp / "artifacts" / "hourglass").glob("*.mlpackage"))


def _constant_images(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        Image.new("RGB", (64, 64), (0, 0, 0)).save(folder / f"{i:03d}.png")
    return folder


def _report(root: Path, entry: dict) -> dict:
    model = entry["file"].rsplit("-", 1)[0]  # <model>-<precision>.<ext>
    return json.loads((root / "artifacts" / model / entry["quantization"]["sensitivity"]).read_text())


def test_w8_keeps_fully_connected_weights_in_float16(zoo: TinyZoo, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A regression head's dense weights stay float16 in w8: their rounding lands on
    the coordinates."""
    from posepipe.converters import CONVERTERS, ConversionRequest

    # the tiny model's weights are all small
    monkeypatch.setattr("posepipe.converters.coreml.convert.WEIGHT_THRESHOLD", 64)
    spec = models.get("blazepose")
    path = tmp_path / "blazepose-w8.mlpackage"
    CONVERTERS[Format.COREML].convert(
        ConversionRequest(zoo.model("blazepose"), spec, spec.tiny.input_size, Precision.W8), path)
    operations = _mil_operations(path)
    quantized = {op.outputs[0].name for op in operations if op.type == "constexpr_affine_dequantize"}
    weights = [(op.type, op.inputs["weight"].arguments[0].name in quantized)
               for op in operations if "weight" in op.inputs]
    assert {q for kind, q in weights if kind == "linear"} == {False}  # two dense layers, both float16
    assert True in {q for kind, q in weights if kind == "conv"}  # those above the threshold are 8-bit


def _mil_operations(package: Path) -> list:
    import coremltools as ct

    spec = ct.utils.load_spec(str(package))
    function = spec.mlProgram.functions["main"]
    return list(function.block_specializations[function.opset].operations)


def _mil_ops(package: Path) -> list[str]:
    return [op.type for op in _mil_operations(package)]
