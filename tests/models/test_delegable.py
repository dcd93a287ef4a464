"""Graphs that delegate: nearest-neighbour upsampling is one resize op in every format
(ONNX Resize asymmetric/floor, which ONNX Runtime's NNAPI and Core ML providers take;
LiteRT RESIZE_NEAREST_NEIGHBOR), with exactly the numbers of Keras' UpSampling2D, and a
checkpoint saved with UpSampling2D still loads (the layer holds no weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from posepipe import models
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.models.backbones.blocks import NearestUpsampling
from posepipe.models.formats import Format, Precision
from posepipe.models.zoo import hourglass
from posepipe.pipeline.run.checkpoint_formats import read_checkpoint
from posepipe.validators.perf.coverage import Accelerator, ort_mobile
from tests.support.harness import TinyZoo, read_manifest


def _upsampling2d(x: Any, factor: int, name: str) -> Any:
    """What the hourglass used before NearestUpsampling (Keras lowers it to repeat: Tile)."""
    return keras.layers.UpSampling2D(factor, name=name)(x)


def _old_hourglass(monkeypatch: pytest.MonkeyPatch, weights: list[np.ndarray]) -> keras.Model:
    """The tiny hourglass built with UpSampling2D, holding ``weights``."""
    spec = models.get("hourglass")
    with monkeypatch.context() as patch:
        patch.setattr(hourglass, "upsample_nearest", _upsampling2d)
        old = spec.build(spec.tiny)
    old.set_weights(weights)
    return old


@pytest.mark.parametrize(("factor", "size"), [(2, (5, 7)), (3, (4, 4))])
def test_nearest_upsampling_is_upsampling2d_bit_for_bit(factor: int, size: tuple[int, int]) -> None:
    x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32")
    new = np.asarray(NearestUpsampling(factor)(x))
    old = np.asarray(keras.layers.UpSampling2D(factor)(x))
    assert new.shape == (2, size[0] * factor, size[1] * factor, 3)
    np.testing.assert_array_equal(new, old)


def test_nearest_upsampling_takes_integer_factors_only() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        NearestUpsampling(1.5)  # type: ignore[arg-type]


def test_tiny_hourglass_files_resize_in_one_delegable_op(tiny_run: Path) -> None:
    """The shared tiny run's files: one resize per hourglass level, no Tile, and every
    ONNX Runtime mobile provider takes the .onnx whole."""
    import onnx
    from ai_edge_litert.interpreter import Interpreter

    folder = tiny_run / "artifacts" / "hourglass"
    depth = models.get("hourglass").tiny.depth
    graph = onnx.load(str(folder / "hourglass-fp32.onnx")).graph
    resizes = [n for n in graph.node if n.op_type == "Resize"]
    assert len(resizes) == depth and not [n for n in graph.node if n.op_type == "Tile"]
    for node in resizes:  # the only nearest form NNAPI and Core ML NeuralNetwork accept
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["mode"] == b"nearest", attributes
        assert attributes["coordinate_transformation_mode"] == b"asymmetric", attributes
        assert attributes["nearest_mode"] == b"floor", attributes
    ops = [op["op_name"] for op in Interpreter(model_path=str(folder / "hourglass-fp32.tflite"))._get_ops_details()]
    assert ops.count("RESIZE_NEAREST_NEIGHBOR") == depth and "TILE" not in ops
    onnx_entry = next(e for e in read_manifest(tiny_run, "hourglass")["artifacts"] if e["format"] == "onnx")
    for accelerator in Accelerator.NNAPI, Accelerator.COREML_NN, Accelerator.COREML_MLPROGRAM:
        found = onnx_entry["coverage"][accelerator]
        assert found["fully_delegated"] and found["partitions"] == 1, (accelerator, found)


def test_old_and_new_upsampling_give_identical_onnx_outputs(
        zoo: TinyZoo, tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny checkpoint's weights with UpSampling2D and with NearestUpsampling:
    identical Keras outputs, and identical ONNX Runtime outputs from the shared tiny
    run's .onnx and one converted from the UpSampling2D model, whose Tile nodes split
    it for NNAPI. (ORT's basic level: its extended fusions of Conv and Add may pick
    other kernels around a Tile than around a Resize.)"""
    import onnxruntime as ort

    spec = models.get("hourglass")
    new = zoo.model("hourglass")
    old = _old_hourglass(monkeypatch, new.get_weights())
    x = np.random.default_rng(1).uniform(0, 1, (1, *spec.tiny.input_size, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(new(x)["heatmaps"]), np.asarray(old(x)["heatmaps"]))

    old_file = tmp_path / "old.onnx"
    CONVERTERS[Format.ONNX].convert(ConversionRequest(old, spec, spec.tiny.input_size, Precision.FP32), old_file)
    outputs = []
    for path in old_file, tiny_run / "artifacts" / "hourglass" / "hourglass-fp32.onnx":
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        outputs.append(session.run(None, {"image": x})[0])
    np.testing.assert_array_equal(*outputs)
    assert any(n.endswith(":Tile") for n in ort_mobile(old_file)[Accelerator.NNAPI].unsupported)


def test_a_checkpoint_saved_with_upsampling2d_loads_with_the_same_outputs(
        zoo: TinyZoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1.0 checkpoint (UpSampling2D) loads into the 1.1 model: the upsampling holds
    no weights, so every array matches by name, and the outputs are the same."""
    spec = models.get("hourglass")
    old = _old_hourglass(monkeypatch, zoo.model("hourglass").get_weights())
    path = tmp_path / "old.keras"
    old.save(path)
    loaded = read_checkpoint(path, spec, spec.tiny).model
    kinds = {type(layer) for layer in loaded.layers}
    assert NearestUpsampling in kinds and keras.layers.UpSampling2D not in kinds
    x = np.random.default_rng(2).uniform(0, 1, (2, *spec.tiny.input_size, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(loaded(x)["heatmaps"]), np.asarray(old(x)["heatmaps"]))


def test_a_new_checkpoint_round_trips_in_safe_mode(zoo: TinyZoo, tmp_path: Path) -> None:
    model = zoo.model("hourglass")  # loaded from the tiny .keras checkpoint with safe_mode on
    ups = [layer for layer in model.layers if isinstance(layer, NearestUpsampling)]
    assert len(ups) == models.get("hourglass").tiny.depth and all(layer.factor == 2 for layer in ups)


@pytest.mark.parametrize("name", models.names())
def test_no_zoo_model_upsamples_nearest_through_repeat(name: str) -> None:
    """UpSampling2D's nearest mode lowers to Tile, which NNAPI and Core ML NeuralNetwork
    cannot take; bilinear UpSampling2D lowers to a resize and is fine."""
    spec = models.get(name)
    model = spec.build(spec.tiny)
    tiled = [layer.name for layer in model.layers
             if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest"]
    assert not tiled, f"{name}: {tiled} lower to Tile; use blocks.upsample_nearest"
