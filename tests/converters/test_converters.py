"""Every zoo model x format converts, with batch-1 shapes and the spec's names;
TFLite and ONNX outputs match Keras in their real runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posepipe import models
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.run.matrix import SOURCES
from posepipe.validators.runners import KerasRunner, runner_for
from tests.support.harness import TinyZoo
from tests.support.zoo_files import by_index


def convert(zoo: TinyZoo, name: str, fmt: Format, tmp_path: Path) -> tuple[Path, ConversionRequest]:
    spec = models.get(name)
    request = ConversionRequest(zoo.model(name), spec, spec.tiny.input_size, Precision.FP32)
    path = tmp_path / f"{name}{fmt.suffix}"
    CONVERTERS[fmt].convert(request, path)
    return path, request


# A derived format is made from another format's file, not from Keras (tests/converters/test_ort.py).
@pytest.mark.parametrize("fmt", [f for f in Format if f not in SOURCES])
@pytest.mark.parametrize("name", models.names())
def test_each_format_has_batch_one_and_the_spec_names(zoo: TinyZoo, name: str, fmt: Format, tmp_path: Path) -> None:
    path, request = convert(zoo, name, fmt, tmp_path)
    signature = CONVERTERS[fmt].signature(path)
    assert [(t.name, t.shape) for t in signature.inputs] == [("image", request.input_shape)]
    model = zoo.model(name)
    expected = {o.name: (1, *model.output[o.name].shape[1:]) for o in request.spec.outputs_for(request.spec.tiny)}
    assert {t.name: t.shape for t in signature.outputs} == expected
    assert all(t.dtype == "float32" for t in signature.outputs)
    picture = fmt in (Format.COREML, Format.COREML_NN)  # a Core ML file takes the picture's uint8 pixels
    assert [t.dtype for t in signature.inputs] == ["uint8" if picture else "float32"]
    assert (signature.inputs[0].image is not None) == picture


@pytest.mark.parametrize("fmt", [Format.TFLITE, Format.ONNX])
@pytest.mark.parametrize("name", models.names())
def test_runtime_outputs_match_keras(zoo: TinyZoo, name: str, fmt: Format, tmp_path: Path) -> None:
    path, request = convert(zoo, name, fmt, tmp_path)
    # by index in the spec's order (PoseNet's published one: tests/converters/test_output_order.py)
    assert by_index(path) == [o.name for o in request.spec.outputs_for(request.spec.tiny)]
    x = np.random.default_rng(0).normal(size=request.input_shape).astype(np.float32)
    with KerasRunner(request.model) as keras_runner, runner_for(path) as runner:
        expected, actual = keras_runner.infer({"image": x}), runner.infer({"image": x})
    assert expected.keys() == actual.keys()
    for key in expected:
        assert np.abs(expected[key]).max() > 1e-3  # a trained model, not a zero output
        np.testing.assert_allclose(actual[key], expected[key], atol=1e-4, rtol=1e-4)


def test_core_ml_outputs_are_renamed_by_structure_not_by_luck(tmp_path: Path) -> None:
    """Two outputs of different shapes: a swapped mapping would fail the shape check."""
    import keras

    from posepipe.converters.coreml.convert import CoreMLConverter
    from posepipe.models.spec import OutputKind, OutputSpec

    image = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, 2, padding="same")(image)
    model = keras.Model(image, {"offsets": keras.layers.Conv2D(34, 1, name="offsets")(x),
                                "heatmaps": keras.layers.Conv2D(17, 1, name="heatmaps")(x)})
    spec = models.get("hourglass")
    outputs = (OutputSpec("heatmaps", OutputKind.HEATMAPS, 2), OutputSpec("offsets", OutputKind.OFFSETS, 2))
    request = ConversionRequest(model, _with_outputs(spec, outputs), (32, 32), Precision.FP32)
    for fmt in (Format.COREML, Format.COREML_NN):
        converter = CoreMLConverter(fmt)
        converter.convert(request, tmp_path / f"two{fmt.suffix}")
        names = {t.name: t.shape for t in converter.signature(tmp_path / f"two{fmt.suffix}").outputs}
        assert names == {"heatmaps": (1, 16, 16, 17), "offsets": (1, 16, 16, 34)}


def _with_outputs(spec, outputs):  # type: ignore[no-untyped-def]
    import dataclasses

    from posepipe.models import losses

    return dataclasses.replace(spec, outputs=outputs, losses={o.name: losses.heatmap_mse for o in outputs})


def test_core_ml_outputs_are_traced_to_their_layers(tmp_path: Path) -> None:
    """Two outputs of one shape can only be told apart by where they come from."""
    import keras

    from posepipe.converters.coreml.convert import _coremltools, _graph, _traced_name

    ct = _coremltools()
    image = keras.Input(batch_shape=(1, 16, 16, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same")(image)
    model = keras.Model(image, {"bwd": keras.layers.Conv2D(8, 1, name="bwd")(x),
                                "fwd": keras.layers.Conv2D(8, 1, name="fwd")(x)})
    for fmt, target in ((Format.COREML, "mlprogram"), (Format.COREML_NN, "neuralnetwork")):
        spec = ct.convert(model, source="tensorflow", convert_to=target,
                          inputs=[ct.TensorType(name="image", shape=(1, 16, 16, 3))]).get_spec()
        graph = _graph(spec, fmt)
        traced = [_traced_name(graph, o.name, ["bwd", "fwd"]) for o in spec.description.output]
        assert traced == ["bwd", "fwd"]


def test_onnx_bytes_follow_the_graph_not_the_order_or_names_tf2onnx_chose(zoo: TinyZoo) -> None:
    """tf2onnx's node order among side-by-side branches and its counter names
    depend on what the process converted before (a CI run built another int8
    file in a second process); the same graph in other valid orders, under
    other counters, gives the same bytes."""
    from hashlib import sha256

    from posepipe.converters.onnx.convert import _canonical, _from_keras

    spec = models.get("hourglass")
    raw = _from_keras(ConversionRequest(zoo.model("hourglass"), spec, spec.tiny.input_size, Precision.FP32))
    others = [_other_counters(_another_topological_order(raw, np.random.default_rng(seed))) for seed in range(3)]
    assert all([n.name for n in other.graph.node] != [n.name for n in raw.graph.node] for other in others)
    expected = sha256(_canonical(raw).SerializeToString()).hexdigest()
    assert [sha256(_canonical(other).SerializeToString()).hexdigest() for other in others] == [expected] * 3


def _another_topological_order(proto: Any, rng: np.random.Generator) -> Any:
    """Kahn's algorithm taking a random ready node each step."""
    nodes = list(proto.graph.node)
    made = {name for node in nodes for name in node.output}
    needs = [{name for name in node.input if name in made} for node in nodes]
    order: list[int] = []
    available: set[str] = set()
    remaining = list(range(len(nodes)))
    while remaining:
        ready = [i for i in remaining if needs[i] <= available]
        index = ready[int(rng.integers(len(ready)))]
        remaining.remove(index)
        order.append(index)
        available.update(nodes[index].output)
    assert len(order) == len(nodes)
    copy = type(proto)()
    copy.CopyFrom(proto)
    del copy.graph.node[:]
    copy.graph.node.extend(nodes[i] for i in order)
    return copy


def _other_counters(proto: Any) -> Any:
    """Every tf2onnx counter (``Conv__188``) moved on by 1000, as a later conversion numbers them."""
    import re

    def move(name: str) -> str:
        return re.sub(r"__(\d+)", lambda m: f"__{int(m.group(1)) + 1000}", name)

    graph = proto.graph
    for node in graph.node:
        node.name = move(node.name)
        node.input[:] = [move(n) for n in node.input]
        node.output[:] = [move(n) for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        value.name = move(value.name)
    return proto
