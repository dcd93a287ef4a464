"""Validation catches planted faults: perturbed weights, another checkpoint, a
broken decoder input. An honest artifact passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from posepipe import models
from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import load_top_down
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.models.formats import Format, Precision
from posepipe.validators.runners import runner_for
from posepipe.validators.validate import Reference, Status, validate
from tests.support.harness import TinyZoo


@pytest.fixture(scope="module")
def reference(zoo: TinyZoo) -> Reference:
    spec = models.get("hourglass")
    val = load_top_down(CocoKeypoints.load(zoo.data, "val", 17), spec.tiny.input_size)
    return Reference.compute(zoo.model("hourglass"), spec, spec.make_decoder(spec.tiny), val)


def onnx_file(zoo: TinyZoo, tmp_path: Path, model=None) -> Path:  # type: ignore[no-untyped-def]
    spec = models.get("hourglass")
    request = ConversionRequest(model or zoo.model("hourglass"), spec, spec.tiny.input_size, Precision.FP32)
    path = tmp_path / "hourglass.onnx"
    CONVERTERS[Format.ONNX].convert(request, path)
    return path


def test_an_honest_artifact_passes(zoo: TinyZoo, reference: Reference, tmp_path: Path) -> None:
    result = validate(onnx_file(zoo, tmp_path), reference, models.get("hourglass").tolerances[Precision.FP32])
    assert result.status is Status.PASSED, result.failures
    assert result.runtime == "onnxruntime" and result.samples == len(reference.inputs)
    assert result.task.agreement == 1.0 and result.task.delta == 0.0
    assert result.outputs[0].max_abs < 1e-4


def test_perturbed_weights_fail_with_the_output_named(zoo: TinyZoo, reference: Reference, tmp_path: Path) -> None:
    path = onnx_file(zoo, tmp_path)
    proto = onnx.load(str(path))
    kernels = {node.input[1] for node in proto.graph.node if node.op_type == "Conv"}
    for tensor in proto.graph.initializer:
        if tensor.name in kernels:  # every conv kernel: no choice among equal-sized tensors to depend on
            weights = numpy_helper.to_array(tensor).copy()
            weights.flat[::7] *= -1.0  # flip the sign of every seventh weight
            tensor.CopyFrom(numpy_helper.from_array(weights, tensor.name))
    onnx.save(proto, str(path))
    result = validate(path, reference, models.get("hourglass").tolerances[Precision.FP32])
    assert result.status is Status.FAILED
    assert any(f.startswith("heatmaps: ") and "outside atol" in f for f in result.failures)


def test_an_artifact_of_another_checkpoint_fails(zoo: TinyZoo, reference: Reference, tmp_path: Path) -> None:
    spec = models.get("hourglass")
    other = spec.build(spec.tiny)  # same architecture, untrained weights
    result = validate(onnx_file(zoo, tmp_path, other), reference, spec.tolerances[Precision.FP32])
    assert result.status is Status.FAILED
    assert any("keypoint agreement" in f for f in result.failures)


def test_core_ml_runs_here_and_a_missing_file_fails(reference: Reference, tmp_path: Path) -> None:
    runner = runner_for(tmp_path / "m.mlpackage")
    assert runner.runtime in ("coreml", "coreml-reference")
    result = validate(tmp_path / "m.mlmodel", reference, models.get("hourglass").tolerances[Precision.FP32])
    assert result.status is Status.FAILED and "m.mlmodel: no such file" in result.failures[0]


def test_runners_refuse_use_outside_their_block(zoo: TinyZoo, tmp_path: Path) -> None:
    runner = runner_for(onnx_file(zoo, tmp_path))
    with pytest.raises(RuntimeError, match="outside its 'with' block"):
        runner.infer({"image": np.zeros((1, 64, 64, 3), np.float32)})
