"""A Core ML file against what coremltools can check on any OS.

Core ML's own validator runs when macOS compiles a model; coremltools ships it
only in its macOS extension (libcoremlpython). What runs everywhere, measured
with planted defects (tests/converters/test_checkers.py):

- the package and the spec: ``MLModel(path, skip_model_load=True)`` reads the
  .mlpackage's Manifest.json (a broken one fails) and parses the spec protobuf
  (a truncated one fails: "Wire format was corrupt");
- an mlprogram: ``milproto.load`` rebuilds the MIL program op by op with its
  weights from weight.bin (a missing or truncated weight file, a bad blob offset,
  an op reading a value no earlier op makes, an op type it does not know, all
  fail), then ``Program.validate()`` checks each block's wiring. The loader
  trusts each op's declared output types and the model description, so those
  are compared here with what it inferred, as Core ML's validator does;
- a neuralnetwork: only the protobuf parse is coremltools'; the layer order (each
  layer reads only model inputs or earlier layers' outputs, every declared output
  is made) and the weight counts of convolutions and inner products are checked
  here, from the spec.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from posepipe.converters.checks import refused
from posepipe.models.formats import Format

PROGRAM_CHECKER = "coremltools milproto load + MIL validate"
NETWORK_CHECKER = "coremltools spec parse + layer order and weights"
_ARRAY_DTYPES = {65568: "fp32", 65552: "fp16", 65600: "fp64", 131104: "int32"}  # ArrayFeatureType -> MIL


def checker(fmt: Format) -> str:
    return PROGRAM_CHECKER if fmt is Format.COREML else NETWORK_CHECKER


def verify(path: Path, fmt: Format) -> None:
    name = checker(fmt)
    try:
        problems = _program_problems(path) if fmt is Format.COREML else _network_problems(path)
    except Exception as error:  # protobuf DecodeError, the package reader's RuntimeError, the loader's KeyError...
        raise refused(name, error) from error
    if problems:
        raise refused(name, ValueError("; ".join(problems)))


def _program_problems(path: Path) -> list[str]:
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto import load as milproto

    model = ct.models.MLModel(str(path), skip_model_load=True)
    spec = model.get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        return [f"an .mlpackage holding a {spec.WhichOneof('Type')}, not an mlProgram"]
    program = milproto.load(spec, spec.specificationVersion, model.weights_dir)
    program.validate()
    main = program.functions["main"]
    return _description_problems(spec, main) + _declared_type_problems(spec, main)


def _description_problems(spec: Any, main: Any) -> list[str]:
    """The model description (what an app binds to) against the program's main function."""
    problems = []
    for side, described, actual in (("input", spec.description.input, dict(main.inputs)),
                                    ("output", spec.description.output, {var.name: var for var in main.outputs})):
        names = [f.name for f in described]
        if sorted(names) != sorted(actual):
            problems.append(f"description {side}s {names}, the program's {sorted(actual)}")
            continue
        for feature in described:
            array = feature.type.multiArrayType if feature.type.WhichOneof("Type") == "multiArrayType" else None
            if array is None:
                continue  # an image or other feature type: Core ML maps it onto the tensor itself
            var = actual[feature.name]
            shape = tuple(int(d) for d in array.shape)
            dtype = _ARRAY_DTYPES.get(array.dataType)
            if (shape and shape != tuple(var.shape)) or (dtype and dtype != _dtype(var.dtype)):
                problems.append(f"{side} {feature.name}: described {dtype} {list(shape)}, "
                                f"the program's {_dtype(var.dtype)} {list(var.shape)}")
    return problems


def _declared_type_problems(spec: Any, main: Any) -> list[str]:
    """Each op's output types as the file declares them against what the loader
    inferred from the op's inputs (it keeps the inferred ones, silently)."""
    from coremltools.converters.mil.frontend.milproto.helper import proto_to_types

    inferred = {var.name: var.sym_type for op in main.operations for var in op.outputs}
    function = spec.mlProgram.functions["main"]
    problems = []
    for op in function.block_specializations[function.opset].operations:
        for declared in op.outputs:
            expected, got = proto_to_types(declared.type), inferred.get(declared.name)
            if got is not None and _type_text(expected) != _type_text(got):
                problems.append(f"{op.type} output {declared.name}: declared {_type_text(expected)}, "
                                f"its inputs make {_type_text(got)}")
    return problems


def _type_text(sym_type: Any) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(sym_type) if not types.is_tensor(sym_type) else \
        f"{types.builtin_to_string(sym_type.get_primitive())}{list(sym_type.get_shape())}"


def _dtype(builtin: Any) -> str:
    from coremltools.converters.mil.mil import types

    return types.builtin_to_string(builtin)


def _network_problems(path: Path) -> list[str]:
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    kind = spec.WhichOneof("Type")
    if kind not in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        return [f"an .mlmodel holding a {kind}, not a neural network"]
    made = {f.name for f in spec.description.input}
    problems = []
    for layer in getattr(spec, kind).layers:
        unknown = [name for name in layer.input if name not in made]
        if unknown:
            problems.append(f"layer {layer.name} reads {unknown[0]}, which no input or earlier layer makes")
        problems += _weight_problems(layer)
        made.update(layer.output)
    problems += [f"output {f.name} is made by no layer" for f in spec.description.output if f.name not in made]
    return problems


def _weight_problems(layer: Any) -> list[str]:
    """Weight and bias counts against the layer's declared sizes (float and
    float16 weights; quantized ones are packed and left to the runtime)."""
    kind = layer.WhichOneof("layer")
    if kind == "convolution":
        p = layer.convolution  # weights [out, in / groups, kh, kw]; a deconvolution's [in, out / groups, kh, kw]
        out = p.outputChannels // max(p.nGroups, 1) if p.isDeconvolution else p.outputChannels
        size = out * p.kernelChannels * _product(p.kernelSize)
        expected = {"weights": size, "bias": p.outputChannels if p.hasBias else 0}
    elif kind == "innerProduct":
        p = layer.innerProduct
        expected = {"weights": p.outputChannels * p.inputChannels, "bias": p.outputChannels if p.hasBias else 0}
    else:
        return []
    problems = []
    for field, count in expected.items():
        held = _count(getattr(p, field))
        if held is not None and count and held != count:
            problems.append(f"{kind} {layer.name}: {held} {field} values, its sizes make {count}")
    return problems


def _count(weights: Any) -> int | None:
    if weights.floatValue:
        return len(weights.floatValue)
    if weights.float16Value:
        return len(weights.float16Value) // 2
    return None  # empty or quantized (rawValue)


def _product(values: Any) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result
