"""Reading an .ort file's flatbuffer through the readers ONNX Runtime ships
(``onnxruntime.tools.ort_format_model``): its model fields, metadata, tensors
and the operators its graph runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class OrtModel:
    """What posepipe reads from an .ort file's ``Model`` table."""

    props: dict[str, str]  # metadata_props, as in the .onnx it came from
    doc_string: str
    producer: str
    model_version: int
    descriptions: dict[str, str]  # graph input/output name -> its doc_string
    ops: frozenset[tuple[str, str]]  # (domain, op type) of every node, the main graph's and its subgraphs'


def read(path: Path) -> OrtModel:
    """ValueError when the bytes are no ORT-format model (its file identifier is checked)."""
    fbs = _fbs()
    buffer = bytearray(path.read_bytes())
    if not fbs.InferenceSession.InferenceSession.InferenceSessionBufferHasIdentifier(buffer, 0):
        raise ValueError(f"{path.name}: not an ORT-format model (no ORT file identifier)")
    model = fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(buffer, 0).Model()
    graph = model.Graph()
    entries = (model.MetadataProps(i) for i in range(model.MetadataPropsLength()))
    props = {_text(p.Key()): _text(p.Value()) for p in entries}
    io = {_text(graph.Inputs(i)) for i in range(graph.InputsLength())}
    io |= {_text(graph.Outputs(i)) for i in range(graph.OutputsLength())}
    args = (graph.NodeArgs(i) for i in range(graph.NodeArgsLength()))
    descriptions = {_text(a.Name()): _text(a.DocString()) for a in args if _text(a.Name()) in io}
    producer = f"{_text(model.ProducerName())} {_text(model.ProducerVersion())}".strip()
    return OrtModel(props, _text(model.DocString()), producer, model.ModelVersion(), descriptions,
                    frozenset(_ops(graph)))


def _ops(graph: Any) -> set[tuple[str, str]]:
    found = set()
    for node in (graph.Nodes(i) for i in range(graph.NodesLength())):
        found.add((_text(node.Domain()) or "ai.onnx", _text(node.OpType())))
        for attribute in (node.Attributes(j) for j in range(node.AttributesLength())):
            if attribute.G() is not None:
                found |= _ops(attribute.G())
            found |= {op for k in range(attribute.GraphsLength()) for op in _ops(attribute.Graphs(k))}
    return found


def _text(value: bytes | None) -> str:
    return value.decode() if value else ""


def _fbs() -> Any:
    """The generated readers; importing ort_format_model puts their package on the path."""
    import onnxruntime.tools.ort_format_model  # noqa: F401
    import ort_flatbuffers_py.fbs as fbs  # type: ignore[import-not-found]

    return fbs
