"""Every format's own strictest checker is a gate: the files posepipe makes pass
it, each checker refuses a planted defect with its own message, and a run or a
``posepipe validate`` whose file is refused lists it as failed with that message.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posepipe import models
from posepipe.converters import CONVERTERS, ConversionError, ConversionRequest
from posepipe.converters.checks import check
from posepipe.models.formats import Format, Precision
from tests.support.harness import TinyZoo, invoke, read_manifest

TOPOLOGICAL = "Nodes in a graph must be topologically sorted"


def request(zoo: TinyZoo, precision: Precision) -> ConversionRequest:
    spec = models.get("hourglass")
    return ConversionRequest(zoo.model("hourglass"), spec, spec.tiny.input_size, precision)


@pytest.fixture(scope="module")
def files(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> dict[Format, Path]:
    """The tiny hourglass at fp32 in every format, converted once for the defects below."""
    folder = tmp_path_factory.mktemp("checkers")
    made = {}
    for fmt, converter in CONVERTERS.items():  # the .onnx before the .ort made from it
        made[fmt] = folder / f"hourglass-fp32{fmt.suffix}"
        source = made[Format.ONNX] if fmt is Format.ORT else None
        converter.convert(dataclasses.replace(request(zoo, Precision.FP32), source=source), made[fmt])
    return made


def test_the_fp16_onnx_file_passes_onnx_full_check(zoo: TinyZoo, tmp_path: Path) -> None:
    """Fails on the code before the fix: onnxruntime's float16 converter put the
    input Cast after its consumer (issue 24), which ONNX Runtime ran but
    ``onnx.checker`` and onnx's reference evaluator refused. The converter's
    untouched output is checked too, so this test fails if the upstream tool is
    ever fixed and the reordering becomes dead code worth removing."""
    import onnx
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator
    from onnxruntime.transformers.float16 import convert_float_to_float16

    converter = CONVERTERS[Format.ONNX]
    path = tmp_path / "hourglass-fp16.onnx"
    converter.convert(request(zoo, Precision.FP16), path)
    onnx.checker.check_model(str(path), full_check=True)
    assert check(converter, path).passed

    x = np.random.default_rng(0).normal(size=request(zoo, Precision.FP16).input_shape).astype(np.float32)
    evaluated = ReferenceEvaluator(str(path)).run(None, {"image": x})
    ran = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    assert [a.shape for a in evaluated] == [a.shape for a in ran]
    assert all(np.isfinite(a).all() for a in evaluated)

    unsorted = tmp_path / "unsorted.onnx"
    onnx.save(convert_float_to_float16(converter.float_graph(request(zoo, Precision.FP16)), keep_io_types=True),
              str(unsorted))
    refused = check(converter, unsorted)
    assert not refused.passed and TOPOLOGICAL in (refused.message or "")


def _onnx_nodes(edit: Callable[[Any], None]) -> Callable[[Path], None]:
    def plant(path: Path) -> None:
        import onnx

        model = onnx.load(str(path))
        edit(model.graph)
        onnx.save(model, str(path))

    return plant


def _swap_first_two(graph: Any) -> None:
    nodes = list(graph.node)
    nodes[0], nodes[1] = nodes[1], nodes[0]
    del graph.node[:]
    graph.node.extend(nodes)


def _dangling(graph: Any) -> None:
    graph.node[3].input[0] = "nowhere"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_root_offset(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0x40  # the flatbuffer's root table offset now points elsewhere
    path.write_bytes(bytes(data))


def _tflite_tensor_index(path: Path) -> None:
    """A structurally valid flatbuffer whose first op reads a tensor that does not exist."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(path.read_bytes(), 0))
    first = model.subgraphs[0].operators[0]
    first.inputs = [9999, *[int(i) for i in first.inputs[1:]]]  # read-only numpy view of the buffer
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))


def _coreml_spec(edit: Callable[[Any], None]) -> Callable[[Path], None]:
    def plant(path: Path) -> None:
        import coremltools as ct

        spec = ct.utils.load_spec(str(path))
        edit(spec)
        target = path / "Data" / "com.apple.CoreML" / "model.mlmodel" if path.is_dir() else path
        target.write_bytes(spec.SerializeToString())

    return plant


def _program_ops(spec: Any) -> Any:
    main = spec.mlProgram.functions["main"]
    return main.block_specializations[main.opset].operations


def _op_reads_nowhere(spec: Any) -> None:
    next(op for op in _program_ops(spec) if op.type == "conv").inputs["x"].arguments[0].name = "nowhere"


def _const_declares_another_shape(spec: Any) -> None:
    const = next(op for op in _program_ops(spec)  # a conv weight, not the image input's [1, 3, 1, 1] scale/bias
                 if op.type == "const" and len(op.outputs[0].type.tensorType.dimensions) == 4
                 and op.outputs[0].type.tensorType.dimensions[0].constant.size > 1)
    const.outputs[0].type.tensorType.dimensions[0].constant.size += 1


def _output_renamed(spec: Any) -> None:
    spec.description.output[0].name = "renamed"


def _truncate_weights(path: Path) -> None:
    _truncate(path / "Data" / "com.apple.CoreML" / "weights" / "weight.bin")


def _layer_reads_nowhere(spec: Any) -> None:
    spec.neuralNetwork.layers[5].input[0] = "nowhere"


def _conv_loses_a_weight(spec: Any) -> None:
    conv = next(layer for layer in spec.neuralNetwork.layers if layer.WhichOneof("layer") == "convolution")
    del conv.convolution.weights.floatValue[-1]


DEFECTS: dict[str, tuple[Format, Callable[[Path], None], str]] = {
    "onnx node out of order": (Format.ONNX, _onnx_nodes(_swap_first_two), TOPOLOGICAL),
    "onnx dangling input": (Format.ONNX, _onnx_nodes(_dangling), "input 'nowhere'"),
    "onnx truncated": (Format.ONNX, _truncate, "Unable to parse proto"),
    "tflite truncated": (Format.TFLITE, _truncate, "not a valid Flatbuffer buffer"),
    "tflite byte flipped": (Format.TFLITE, _flip_root_offset, "not a valid Flatbuffer buffer"),
    "tflite tensor index": (Format.TFLITE, _tflite_tensor_index, "Invalid tensor index 9999"),
    "mlpackage spec truncated": (Format.COREML, lambda p: _truncate(p / "Data" / "com.apple.CoreML" / "model.mlmodel"),
                                 "Wire format was corrupt"),
    "mlpackage weights truncated": (Format.COREML, _truncate_weights, "index out of bounds"),
    "mlpackage dangling input": (Format.COREML, _coreml_spec(_op_reads_nowhere), "Var nowhere not found"),
    "mlpackage declared type": (Format.COREML, _coreml_spec(_const_declares_another_shape), "declared fp32[9, "),
    "mlpackage description": (Format.COREML, _coreml_spec(_output_renamed), "description outputs ['renamed']"),
    "mlmodel truncated": (Format.COREML_NN, _truncate, "Wire format was corrupt"),
    "mlmodel dangling input": (Format.COREML_NN, _coreml_spec(_layer_reads_nowhere),
                               "reads nowhere, which no input or earlier layer makes"),
    "mlmodel weights": (Format.COREML_NN, _coreml_spec(_conv_loses_a_weight), "weights values, its sizes make"),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_checker_refuses_a_planted_defect(defect: str, files: dict[Format, Path], tmp_path: Path) -> None:
    fmt, plant, message = DEFECTS[defect]
    converter = CONVERTERS[fmt]
    path = tmp_path / files[fmt].name
    (shutil.copytree if files[fmt].is_dir() else shutil.copyfile)(files[fmt], path)
    assert check(converter, path).passed  # the copy is sound: the planted defect is what the checker refuses
    plant(path)
    refused = check(converter, path)
    assert not refused.passed and refused.name == converter.checker
    assert message in (refused.message or ""), refused.message
    assert "\n" not in (refused.message or "")
    with pytest.raises(ConversionError, match=f"^{re.escape(converter.checker)}: "):
        converter.verify(path)


def _out_of_order(convert: Callable[..., None]) -> Callable[..., None]:
    """A converter whose file has two nodes swapped: ONNX Runtime still runs it."""

    def planted(self: Any, conversion: ConversionRequest, out: Path) -> None:
        convert(self, conversion, out)
        _onnx_nodes(_swap_first_two)(out)

    return planted


def test_a_run_lists_a_refused_file_as_failed_with_the_checkers_message(
        zoo: TinyZoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    from posepipe.converters.onnx.convert import OnnxConverter

    monkeypatch.setattr(OnnxConverter, "convert", _out_of_order(OnnxConverter.convert))
    result = invoke(capfd, *zoo.run_args("hourglass", "--formats", "onnx,tflite", "--force"),
                    "--out", str(tmp_path / "artifacts"))
    assert result.code == 9, result.err  # ConversionError's: the file never became an artifact
    checker = CONVERTERS[Format.ONNX].checker
    assert f"FAILED hourglass-fp32.onnx: conversion failed: {checker}: {TOPOLOGICAL}" in result.err
    entries = {e["format"]: e for e in read_manifest(tmp_path, "hourglass")["artifacts"]}
    onnx_check = entries["onnx"]["validation"]
    assert onnx_check["status"] == "failed"
    assert onnx_check["checker"]["name"] == CONVERTERS[Format.ONNX].checker and not onnx_check["checker"]["passed"]
    assert TOPOLOGICAL in onnx_check["checker"]["message"]
    assert onnx_check["failures"] == [f"conversion failed: {CONVERTERS[Format.ONNX].checker}: "
                                      f"{onnx_check['checker']['message']}"]
    assert not (tmp_path / "artifacts" / "hourglass" / "hourglass-fp32.onnx").exists()
    assert entries["tflite"]["validation"]["status"] == "passed"
    assert entries["tflite"]["validation"]["checker"] == {"name": CONVERTERS[Format.TFLITE].checker, "passed": True}


def test_every_file_of_a_run_passed_its_formats_checker(tiny_run: Path) -> None:
    entries = read_manifest(tiny_run, "hourglass")["artifacts"]
    assert {e["format"] for e in entries} == {str(f) for f in Format}
    for entry in entries:
        checker = CONVERTERS[Format(entry["format"])].checker
        assert entry["validation"]["checker"] == {"name": checker, "passed": True}, entry["file"]


def test_validate_fails_a_refused_file_with_the_checkers_message(
        zoo: TinyZoo, files: dict[Format, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hourglass-fp32.onnx"
    shutil.copyfile(files[Format.ONNX], path)
    _onnx_nodes(_swap_first_two)(path)
    result = invoke(capfd, "validate", path, "--checkpoint", zoo.checkpoint("hourglass"), "--preset", "tiny",
                    "--data", zoo.data, "--cache", zoo.cache)
    assert result.code == 10, result.err
    assert f"{CONVERTERS[Format.ONNX].checker}: {TOPOLOGICAL}" in result.err
    assert len(result.error_lines) == 1
