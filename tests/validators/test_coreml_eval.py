"""The Core ML reference evaluator, op by op: tiny single-family Keras models
converted to fp32 and fp16 mlprograms and to neuralnetworks must give Keras's
outputs; compressed weights must decode as coremltools defines them; an op it
does not know is an error that names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posepipe.validators.coreml_eval import UnsupportedOpError, load_evaluator
from tests.support.coreml_cases import CASES, Flavour, build, convert, sample


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("coreml-cases")


@pytest.fixture(scope="module")
def keras_models() -> dict[str, Any]:
    return {case: build(case) for case in CASES}


@pytest.mark.parametrize("flavour", list(Flavour))
@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_match_keras(case: str, flavour: Flavour, keras_models: dict[str, Any], models_dir: Path) -> None:
    model = keras_models[case]
    path = convert(model, flavour, models_dir / f"{case}-{flavour}")
    x = sample()
    expected = {k: np.asarray(v) for k, v in model(x, training=False).items()}
    actual = load_evaluator(path).run({"image": x})
    assert sorted(actual) == sorted(expected)
    for name, want in expected.items():
        got = actual[name].astype(np.float32)
        assert got.shape == want.shape, name
        scale = float(np.abs(want).max())
        assert scale > 1e-2, f"{case}/{name}: a degenerate output tests nothing"
        tolerance = 2e-2 * scale if flavour is Flavour.FP16 else 1e-5 + 1e-5 * scale
        error = float(np.abs(got - want).max())
        assert error <= tolerance, f"{case}/{name} {flavour}: max error {error:.3g} > {tolerance:.3g}"
        if flavour is Flavour.FP16:
            assert actual[name].dtype == np.float16  # computed in fp16, not silently in fp32


def test_fp16_programs_compute_in_fp16(keras_models: dict[str, Any], models_dir: Path) -> None:
    """An fp16 program's result differs from the fp32 one by fp16 rounding: an
    evaluator that ignored the declared dtypes would return fp32's numbers."""
    model = keras_models["conv"]
    x = sample(1)
    fp32 = load_evaluator(convert(model, Flavour.FP32, models_dir / "conv-a")).run({"image": x})
    fp16 = load_evaluator(convert(model, Flavour.FP16, models_dir / "conv-b")).run({"image": x})
    for name in fp32:
        assert not np.array_equal(fp16[name].astype(np.float32), fp32[name])
        np.testing.assert_array_equal(fp16[name], fp16[name].astype(np.float16))


COMPRESSIONS = {
    "int8-linear": lambda cto: cto.linear_quantize_weights,
    "palette-4bit": lambda cto: cto.palettize_weights,
    "palette-6bit": lambda cto: cto.palettize_weights,
    "palette-8bit": lambda cto: cto.palettize_weights,
    "sparse-50%": lambda cto: cto.prune_weights,
}


def compress(path: Path, kind: str, out: Path) -> Path:
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    if kind == "int8-linear":
        config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", weight_threshold=0)
    elif kind.startswith("palette"):
        config = cto.OpPalettizerConfig(nbits=int(kind.split("-")[1][0]), mode="uniform", weight_threshold=0)
    else:
        config = cto.OpMagnitudePrunerConfig(target_sparsity=0.5, weight_threshold=0)
    model = ct.models.MLModel(str(path), skip_model_load=True)
    compressed = COMPRESSIONS[kind](cto)(model, cto.OptimizationConfig(global_config=config))
    compressed.save(str(out))
    return out


@pytest.mark.parametrize("target", ["iOS16", "iOS18"])
def test_compressed_weights_decode_as_coremltools_defines(target: str, keras_models: dict[str, Any],
                                                          models_dir: Path) -> None:
    """Every constexpr op of every compression decodes to exactly the tensor
    coremltools' own definition gives, and the model still tracks Keras."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto import load as milproto

    model = keras_models["depthwise"]
    base = convert(model, Flavour.FP32, models_dir / f"base-{target}", getattr(ct.target, target))
    x = sample(2)
    expected = np.asarray(model(x, training=False)["grouped"])
    seen = set()
    for kind in COMPRESSIONS:
        path = compress(base, kind, models_dir / f"{kind}-{target}.mlpackage")
        evaluator = load_evaluator(path)
        mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
        spec = mlmodel.get_spec()
        ops = [op for op in milproto.load(spec, spec.specificationVersion, mlmodel.weights_dir)
               .functions["main"].operations if op.op_type.startswith("constexpr_")]
        assert ops, f"{kind}: no compressed weights"
        for op in ops:
            seen.add(op.op_type)
            np.testing.assert_array_equal(evaluator.constants[op.outputs[0].name], op.materialized_val_inference())
        got = evaluator.run({"image": x})["grouped"]
        cosine = float((got * expected).sum() / np.linalg.norm(got) / np.linalg.norm(expected))
        assert cosine > {"int8-linear": 0.999, "palette-8bit": 0.999, "sparse-50%": 0.8}.get(kind, 0.9), (kind, cosine)
    wanted = {"constexpr_lut_to_dense", "constexpr_sparse_to_dense"}
    wanted.add("constexpr_affine_dequantize" if target == "iOS16" else "constexpr_blockwise_shift_scale")
    assert seen == wanted


def test_an_unknown_op_is_an_error_that_names_it(tmp_path: Path) -> None:
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def program(x: Any) -> Any:
        return mb.cumsum(x=mb.relu(x=x), axis=1)

    path = tmp_path / "cumsum.mlpackage"
    ct.convert(program, convert_to="mlprogram").save(str(path))
    with pytest.raises(UnsupportedOpError, match="unsupported op 'cumsum'") as error:
        load_evaluator(path)
    assert error.value.exit_code == 15


def test_an_unknown_layer_is_an_error_that_names_it(keras_models: dict[str, Any], tmp_path: Path) -> None:
    import coremltools as ct

    spec = ct.utils.load_spec(str(convert(keras_models["conv"], Flavour.NN, tmp_path / "conv")))
    spec.neuralNetwork.layers[1].lrn.alpha = 1.0  # the convolution becomes a local response norm
    path = tmp_path / "lrn.mlmodel"
    ct.utils.save_spec(spec, str(path))
    with pytest.raises(UnsupportedOpError, match="unsupported layer 'lrn'"):
        load_evaluator(path)
