"""Core ML artifacts of the tiny hourglass, validated on Linux through the
reference evaluator like every other format: honest files pass at their
precision's tolerance, and planted faults (changed weight bytes, a swapped op,
a transposed weight, an op the evaluator lacks) fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from posepipe import models
from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import load_top_down
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.converters.base import batch_one
from posepipe.models.formats import Format, Precision
from posepipe.models.spec import Tolerance
from posepipe.validators.coreml_eval import registry
from posepipe.validators.validate import Reference, Status, ValidationResult, validate
from tests.support.coreml_cases import Flavour, convert
from tests.support.harness import TinyZoo

FP32 = models.get("hourglass").tolerances[Precision.FP32]


# The tiny checkpoint's heatmaps are nearly flat (PCK@0.2 ~0.05), so fp16 rounding
# moves some argmaxes a cell: keypoint agreement is noise there. The tensors must
# still agree closely; the spec's fp16 and w8 bars are held on the trained default
# model (tests/test_slow.py).
TINY_REDUCED = Tolerance(atol=None, rtol=0.0, min_cosine=0.9999, min_snr_db=50.0, min_agreement=0.85, max_pck_drop=2.0)


@pytest.fixture(scope="module")
def reference(zoo: TinyZoo) -> Reference:
    spec = models.get("hourglass")
    val = load_top_down(CocoKeypoints.load(zoo.data, "val", 17), spec.tiny.input_size)
    return Reference.compute(zoo.model("hourglass"), spec, spec.make_decoder(spec.tiny), val)


@pytest.fixture(scope="module")
def request_(zoo: TinyZoo) -> ConversionRequest:
    spec = models.get("hourglass")
    return ConversionRequest(zoo.model("hourglass"), spec, spec.tiny.input_size, Precision.FP32)


@pytest.fixture(scope="module")
def built(request_: ConversionRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[Format, Path]:
    folder = tmp_path_factory.mktemp("hourglass-coreml")
    paths = {}
    for fmt in (Format.COREML, Format.COREML_NN):
        paths[fmt] = folder / f"hourglass-fp32{fmt.suffix}"
        CONVERTERS[fmt].convert(request_, paths[fmt])
    return paths


def copy(path: Path, tmp_path: Path) -> Path:
    target = tmp_path / path.name
    (shutil.copytree if path.is_dir() else shutil.copy)(path, target)
    return target


def failed_numerically(result: ValidationResult) -> bool:
    return result.status is Status.FAILED and any(f.startswith("heatmaps: ") for f in result.failures)


@pytest.mark.parametrize("fmt", [Format.COREML, Format.COREML_NN])
def test_fp32_core_ml_matches_keras_to_the_fp32_tolerance(fmt: Format, built: dict[Format, Path],
                                                          reference: Reference) -> None:
    result = validate(built[fmt], reference, FP32)
    assert result.status is Status.PASSED, result.failures
    assert result.runtime == "coreml-reference" and result.samples == len(reference.inputs)
    assert result.outputs[0].max_abs < 1e-5 and result.task.agreement == 1.0


def test_fp16_mlprogram_within_the_fp16_tolerance(request_: ConversionRequest, reference: Reference,
                                                  tmp_path: Path) -> None:
    path = convert(batch_one(request_), Flavour.FP16, tmp_path / "hourglass-fp16", shape=request_.input_shape)
    result = validate(path, reference, TINY_REDUCED)
    assert result.status is Status.PASSED, result.failures
    assert result.outputs[0].max_abs > 0  # fp16 rounding shows: it really ran in fp16
    assert validate(path, reference, FP32).status is Status.FAILED  # and fp32's bar is out of its reach


def test_8bit_weights_within_their_tolerance(built: dict[Format, Path], reference: Reference, tmp_path: Path) -> None:
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    model = ct.models.MLModel(str(built[Format.COREML]), skip_model_load=True)
    config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
    path = tmp_path / "hourglass-int8w.mlpackage"
    cto.linear_quantize_weights(model, config).save(str(path))
    result = validate(path, reference, TINY_REDUCED)
    assert result.status is Status.PASSED, result.failures
    assert result.outputs[0].max_abs > 0


def test_changed_bytes_in_weight_bin_fail(built: dict[Format, Path], reference: Reference, tmp_path: Path) -> None:
    path = copy(built[Format.COREML], tmp_path)
    blob = path / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    data = bytearray(blob.read_bytes())
    middle = len(data) // 2 // 64 * 64 + 64  # past a blob header, inside stored floats
    data[middle: middle + 8] = np.float32([3.0, -3.0]).tobytes()
    blob.write_bytes(bytes(data))
    result = validate(path, reference, FP32)
    assert result.status is Status.FAILED, "a tampered weight file passed"
    assert failed_numerically(result) or "cannot read" in result.failures[0]


def test_a_swapped_op_fails(built: dict[Format, Path], reference: Reference, tmp_path: Path) -> None:
    """Every max pool of the program turned into an average pool."""
    import coremltools as ct

    model = ct.models.MLModel(str(built[Format.COREML]), skip_model_load=True)
    spec = model.get_spec()
    function = spec.mlProgram.functions["main"]
    swapped = 0
    for op in function.block_specializations[function.opset].operations:
        if op.type == "max_pool":
            op.type = "avg_pool"
            swapped += 1
    assert swapped
    path = tmp_path / "swapped.mlpackage"
    ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True).save(str(path))
    assert failed_numerically(validate(path, reference, FP32))


def test_a_transposed_weight_fails(built: dict[Format, Path], reference: Reference, tmp_path: Path) -> None:
    import coremltools as ct

    spec = ct.utils.load_spec(str(built[Format.COREML_NN]))
    conv = next(layer.convolution for layer in spec.neuralNetwork.layers
                if layer.WhichOneof("layer") == "convolution" and tuple(layer.convolution.kernelSize) == (3, 3)
                and layer.convolution.nGroups == 1)
    shape = (conv.outputChannels, conv.kernelChannels, 3, 3)
    weights = np.asarray(conv.weights.floatValue, np.float32).reshape(shape)
    conv.weights.ClearField("floatValue")
    conv.weights.floatValue.extend(weights.transpose(0, 1, 3, 2).reshape(-1))  # kernel rows <-> columns
    path = tmp_path / "transposed.mlmodel"
    ct.utils.save_spec(spec, str(path))
    assert failed_numerically(validate(path, reference, FP32))


def test_an_op_the_evaluator_lacks_fails_the_artifact_and_names_it(
        built: dict[Format, Path], reference: Reference, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(registry.MIL_OPS, "max_pool")
    result = validate(built[Format.COREML], reference, FP32)
    assert result.status is Status.FAILED
    assert result.failures == (
        "Core ML reference evaluator: unsupported op 'max_pool' (at max_pool_0); "
        "add it to validators/coreml_eval or validate on macOS",
    ) or "unsupported op 'max_pool'" in result.failures[0]
