"""An .onnx file against onnx's own checker, at its strictest."""

from __future__ import annotations

from pathlib import Path

from posepipe.converters.checks import refused

CHECKER = "onnx.checker full_check + strict shape inference"


def verify(path: Path) -> None:
    """``onnx.checker.check_model(full_check=True)`` (the graph rules: nodes in
    topological order, every input defined, opset schemas; then shape inference
    with type checks in strict mode), then shape inference once more with data
    propagation, which also checks the shapes that constant subgraphs compute
    (Reshape targets, Shape/Slice chains). A path, not a proto, so a model past
    protobuf's 2 GB limit is checked too."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
        onnx.shape_inference.infer_shapes(onnx.load(str(path)), check_type=True, strict_mode=True, data_prop=True)
    except Exception as error:  # onnx raises ValidationError, InferenceError, or a protobuf DecodeError
        raise refused(CHECKER, error) from error
