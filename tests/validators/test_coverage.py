"""Accelerator coverage comes from the runtimes' own tools on real files: the tiny
hourglass .onnx is taken whole by NNAPI and Core ML (its upsampling is one Resize;
tests/models/test_delegable.py shows UpSampling2D's Tile nodes splitting it), and a
.tflite holding an op the GPU delegate cannot take is not fully delegated."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
import tensorflow as tf

from posepipe import models
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.models.formats import Format, Precision
from posepipe.validators.perf.coverage import Accelerator, Verdict, _runs, coverage, litert_gpu, ort_mobile
from tests.support.harness import TinyZoo


@pytest.fixture(scope="module")
def tiny_files(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> dict[Format, Path]:
    spec = models.get("hourglass")
    request = ConversionRequest(zoo.model("hourglass"), spec, spec.tiny.input_size, Precision.FP32)
    folder = tmp_path_factory.mktemp("coverage")
    files = {fmt: folder / f"hourglass-fp32.{fmt.value}" for fmt in (Format.ONNX, Format.TFLITE)}
    for fmt, path in files.items():
        CONVERTERS[fmt].convert(request, path)
    return files


def test_tiny_hourglass_onnx_is_taken_whole_by_every_ort_mobile_provider(tiny_files: dict[Format, Path]) -> None:
    import onnx

    found = ort_mobile(tiny_files[Format.ONNX])
    nodes = len(onnx.load(str(tiny_files[Format.ONNX])).graph.node)
    for accelerator in Accelerator.NNAPI, Accelerator.COREML_NN, Accelerator.COREML_MLPROGRAM:
        result = found[accelerator]
        assert result.full and result.verdict is Verdict.FULL, (accelerator, result)
        assert result.supported == result.nodes and result.partitions == 1 and result.unsupported == ()
        assert result.nodes is not None and 0 < result.nodes <= nodes  # ORT's basic optimisation only folds


def test_nodes_short_of_shapes_are_named(tiny_files: dict[Format, Path], tmp_path: Path) -> None:
    """A node ORT's checker refuses for an input of unknown shape is listed, not silently
    counted: here every tensor's shape is wiped, so no node has a fixed-shape input."""
    import onnx

    proto = onnx.load(str(tiny_files[Format.ONNX]))
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "dynamic.onnx"
    onnx.save(proto, str(path))
    nnapi = ort_mobile(path)[Accelerator.NNAPI]
    assert not nnapi.full and nnapi.supported is not None and nnapi.nodes is not None
    assert nnapi.unsupported[-1] == f"{nnapi.nodes - nnapi.supported} node(s) with an input of unknown shape"


def test_tiny_hourglass_tflite_takes_builtin_ops_only(tiny_files: dict[Format, Path]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    result = litert_gpu(tiny_files[Format.TFLITE])
    ops = Interpreter(model_path=str(tiny_files[Format.TFLITE]))._get_ops_details()
    assert result.nodes == len(ops) > 0  # the analyzer's printout was read whole, from the C++ side's fd
    assert result.full and result.unsupported == () and result.partitions == 1


def _flex_tflite(path: Path) -> Path:
    """A conv, then a TF Select op (bitwise and) the GPU delegate cannot take, then a builtin again."""
    class BitwiseAnd(keras.layers.Layer):
        def call(self, x: tf.Tensor) -> tf.Tensor:
            return tf.cast(tf.bitwise.bitwise_and(tf.cast(x, tf.int32), 3), tf.float32) * 2.0

    image = keras.Input((8, 8, 3), batch_size=1, name="image")
    model = keras.Model(image, BitwiseAnd()(keras.layers.Conv2D(4, 3, padding="same")(image)))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    path.write_bytes(converter.convert())
    return path


def test_a_non_delegable_op_is_reported_not_fully_delegated(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    result = coverage(_flex_tflite(tmp_path / "flex.tflite"))[Accelerator.LITERT_GPU]
    assert not result.full and result.verdict is Verdict.NO
    assert [line.split(":")[0] for line in result.unsupported] == ["FlexBitwiseAnd"]
    assert result.nodes is not None and result.supported == result.nodes - 1
    assert result.partitions == 2  # conv+cast before the Flex op, cast+mul after it
    assert "Op#" not in capfd.readouterr().out  # the analyzer's printout is captured, not shown
    assert result.to_json()["fully_delegated"] is False


def test_partitions_are_runs_of_delegable_ops() -> None:
    assert _runs(["CONV_2D", "FlexX", "ADD", "MUL", "FlexX", "FlexX", "ADD"], ["FlexX"]) == 3
    assert _runs(["FlexX"], ["FlexX"]) == 0


def test_formats_without_a_tool_get_no_entry(tmp_path: Path) -> None:
    assert coverage(tmp_path / "hourglass-fp32.mlpackage") == {}
