"""posepipe's metadata in an .ort file.

ONNX Runtime's converter keeps the .onnx model's ``metadata_props``,
``doc_string``, producer and version in the ORT format's ``Model`` table, but
not the ``doc_string`` of graph inputs and outputs (measured with onnxruntime
1.31: they come back empty). So the .onnx is re-tagged before conversion: its
document says format ``ort``, and the per-tensor descriptions travel as one
more prop, ``tensor_descriptions`` (JSON), read back into the same place
``posepipe inspect`` shows them for an .onnx file.

The flatbuffer is written once, by ONNX Runtime; ``differences`` is how the
converter proves what arrived is the run's document.
"""

from __future__ import annotations

import json
from pathlib import Path

from posepipe.converters.metadata import SCHEMA, SCHEMA_KEY, ArtifactMetadata, Embedded, parse_props
from posepipe.converters.ort.flatbuffer import read as read_flatbuffer
from posepipe.models.formats import Format

DESCRIPTIONS_KEY = "tensor_descriptions"


def retag(source: Path) -> None:
    """In place, on a copy of the .onnx: its posepipe document (if any) names the ORT
    format, and its tensors' descriptions are kept as a prop."""
    import onnx

    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    if props.get(SCHEMA_KEY) != SCHEMA:
        return  # no posepipe document to carry (a bare conversion)
    old, new = f"({props['precision']} {props['format']})", f"({props['precision']} {Format.ORT})"
    props["format"] = str(Format.ORT)
    proto.doc_string = proto.doc_string.replace(old, new, 1)
    tensors = {v.name: v.doc_string for v in (*proto.graph.input, *proto.graph.output) if v.doc_string}
    props[DESCRIPTIONS_KEY] = json.dumps(tensors, separators=(",", ":"), sort_keys=True)
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(source))


def read(path: Path) -> Embedded:
    model = read_flatbuffer(path)
    props = dict(model.props)
    descriptions = json.loads(props.pop(DESCRIPTIONS_KEY, "{}")) or model.descriptions
    fields = {"doc_string": model.doc_string, "producer": model.producer, "model_version": model.model_version,
              "descriptions": descriptions}
    return Embedded(parse_props(props), fields)


def differences(path: Path, metadata: ArtifactMetadata) -> list[str]:
    """What the file says that ``metadata`` (the run's document for it) does not: empty when it all arrived."""
    embedded = read(path)
    expected = json.loads(json.dumps(metadata.to_json()))
    found = {k: v for k, v in embedded.document.items() if k != "other"}
    problems = [f"{k}: {found.get(k)!r} != {expected.get(k)!r}" for k in sorted(set(found) | set(expected))
                if found.get(k) != expected.get(k)]
    if embedded.fields["doc_string"] != metadata.description:
        problems.append(f"doc_string: {embedded.fields['doc_string']!r} != {metadata.description!r}")
    described = {metadata.input.name: metadata.input.describe(), **metadata.output_descriptions()}
    if embedded.fields["descriptions"] != described:
        problems.append(f"tensor descriptions: {embedded.fields['descriptions']} != {described}")
    return problems
