"""mlprogram (.mlpackage): the saved MIL program, read back with its weights by
coremltools' milproto loader, executed op by op with the kernels registered in
``registry.MIL_OPS``. An image input is fed as the picture's pixels and turned into
the tensor Core ML hands the program (``image.ImageInput``); the scale and bias
are the program's own ops, executed like any other."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.validators.coreml_eval import mil_constexpr, mil_elementwise, mil_nn, mil_shape  # noqa: F401  (registration)
from posepipe.validators.coreml_eval.errors import UnreadableArtifactError, UnsupportedOpError
from posepipe.validators.coreml_eval.image import ImageInput, image_inputs
from posepipe.validators.coreml_eval.registry import MIL_OPS, Call

Feed = dict[str, np.ndarray]
Ref = str | tuple[str, ...]  # the value(s) an op input names


@dataclass(frozen=True)
class Step:
    op_type: str
    name: str
    inputs: dict[str, Ref]
    outputs: tuple[tuple[str, np.dtype], ...]


class MLProgramEvaluator:
    """The ``main`` function of an mlprogram, ready to run on feeds.

    Const ops become values; ``constexpr_*`` ops (compressed weights) are decoded
    once here, as Core ML does at load time; every other op runs per feed.
    """

    def __init__(self, path: Path) -> None:
        function, description = _load_main(path)
        self.inputs = {name: _np_dtype(var.dtype) for name, var in function.inputs.items()}
        self.image_inputs: dict[str, ImageInput] = image_inputs(description)
        for name, image in self.image_inputs.items():
            if tuple(function.inputs[name].shape) != (1, 3, image.height, image.width):
                raise UnreadableArtifactError(f"{path.name}: image input {name} is {image.height}x{image.width} "
                                              f"but the program takes {list(function.inputs[name].shape)}")
        self.output_names = tuple(var.name for var in function.outputs)
        self.constants: dict[str, Any] = {}
        self.steps: list[Step] = []
        for op in function.operations:
            if op.op_type == "const":
                self.constants[op.outputs[0].name] = op.outputs[0].val
                continue
            step = _step(op, self.constants, set(self.inputs))
            if step.op_type.startswith("constexpr_"):
                self.constants.update(zip([n for n, _ in step.outputs], _execute(step, self.constants), strict=True))
            else:
                self.steps.append(step)

    def run(self, feed: Feed) -> Feed:
        values: dict[str, Any] = dict(self.constants)
        for name, dtype in self.inputs.items():
            if name not in feed:
                raise KeyError(f"missing input {name!r}; the program takes {sorted(self.inputs)}")
            value = self.image_inputs[name].tensor(feed[name]) if name in self.image_inputs else feed[name]
            values[name] = np.asarray(value).astype(dtype, copy=False)
        for step in self.steps:
            values.update(zip([n for n, _ in step.outputs], _execute(step, values), strict=True))
        return {name: values[name] for name in self.output_names}


def _load_main(path: Path) -> tuple[Any, Any]:
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto import load as milproto

    try:
        model = ct.models.MLModel(str(path), skip_model_load=True)
        spec = model.get_spec()
        if spec.WhichOneof("Type") != "mlProgram":
            raise UnreadableArtifactError(f"{path.name}: not an mlprogram ({spec.WhichOneof('Type')})")
        program = milproto.load(spec, spec.specificationVersion, model.weights_dir)
    except UnreadableArtifactError:
        raise
    except Exception as error:
        raise UnreadableArtifactError(f"{path.name}: cannot read the Core ML program ({_first_line(error)})") from None
    return program.functions["main"], spec.description


def _step(op: Any, constants: dict[str, Any], inputs: set[str]) -> Step:
    if op.op_type not in MIL_OPS:
        raise UnsupportedOpError("op", op.op_type, f"at {op.name}")
    refs: dict[str, Ref] = {}
    for key, var in op.inputs.items():
        if isinstance(var, list | tuple):
            refs[key] = tuple(_ref(v, constants, inputs) for v in var)
        else:
            refs[key] = _ref(var, constants, inputs)
    outputs = tuple((var.name, _np_dtype(var.dtype)) for var in op.outputs)
    return Step(op.op_type, op.name, refs, outputs)


def _ref(var: Any, constants: dict[str, Any], inputs: set[str]) -> str:
    """The name to read ``var`` by at run time. A value that no const op, input
    or earlier op produced (an input the loader filled with its default) is
    recorded as a constant under its own name."""
    producer = getattr(var, "op", None)
    if var.name not in constants and var.name not in inputs and producer is None:
        if var.val is None:
            raise UnreadableArtifactError(f"value {var.name!r} has no producer")
        constants[var.name] = var.val
    return var.name


def _execute(step: Step, values: dict[str, Any]) -> tuple[np.ndarray, ...]:
    resolved = {
        key: tuple(values[r] for r in ref) if isinstance(ref, tuple) else values[ref]
        for key, ref in step.inputs.items()
    }
    call = Call(step.op_type, step.name, resolved, tuple(d for _, d in step.outputs))
    result = MIL_OPS[step.op_type](call)
    results = result if isinstance(result, tuple) else (result,)
    if len(results) != len(step.outputs):
        raise UnsupportedOpError("op", step.op_type, f"{len(results)} results for {len(step.outputs)} outputs")
    return tuple(np.asarray(r).astype(d, copy=False) for r, (_, d) in zip(results, step.outputs, strict=True))


def _np_dtype(builtin: Any) -> np.dtype:
    from coremltools.converters.mil.mil import types

    return np.dtype(types.nptype_from_builtin(builtin))


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
