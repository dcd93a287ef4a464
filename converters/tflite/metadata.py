"""posepipe's metadata inside a .tflite flatbuffer, and the standard one beside it.

The document goes into the model's ``metadata`` table as a named buffer (JSON),
which the TFLite schema reserves for exactly this: LiteRT ignores entries it does
not know and flatbuffer tools keep them. The model's ``description`` gets the
one-line summary. The standard TFLITE_METADATA (input image properties and
normalisation, output descriptions, the keypoint names as a packed label file) goes
beside it, for tflite-support's MetadataDisplayer, Android Studio and MediaPipe:
converters/tflite/standard_metadata.py says how it is written without tflite-support,
whose last release (0.4.4, 2023) needs protobuf < 4 and cannot share an environment
with TensorFlow 2.21, onnx and coremltools (protobuf 7). The file is edited through
the schema that ai_edge_litert ships.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from posepipe.converters.metadata import ArtifactMetadata, Embedded
from posepipe.converters.tflite import standard_metadata

METADATA_NAME = "POSEPIPE_METADATA"


def embed(path: Path, metadata: ArtifactMetadata) -> None:
    """Both documents into the flatbuffer, then the standard one's files archived
    after it (a file embedded again loses its old archive: the flatbuffer is
    rewritten from its own bytes, which never reach past it)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    model.description = metadata.description.encode()
    _set_buffer(model, METADATA_NAME, json.dumps(metadata.to_json()).encode())
    standard = standard_metadata.standard(metadata, _output_order(model))
    _set_buffer(model, standard_metadata.METADATA_NAME, standard.buffer)
    flatbuffer = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    path.write_bytes(standard_metadata.appended(flatbuffer, standard.files))


def _set_buffer(model: Any, name: str, data: bytes) -> None:
    """The named metadata entry's buffer, added when the model has none."""
    from ai_edge_litert import schema_py_generated as schema

    model.metadata = model.metadata or []
    entry = next((m for m in model.metadata if _text(m.name) == name), None)
    if entry is None:
        model.buffers.append(schema.BufferT())
        entry = schema.MetadataT()
        entry.name, entry.buffer = name.encode(), len(model.buffers) - 1
        model.metadata.append(entry)
    model.buffers[entry.buffer].data = np.frombuffer(data, np.uint8)


def _output_order(model: Any) -> list[str]:
    """The signature's output names in the subgraph's output (index) order."""
    (signature,) = model.signatureDefs
    names = {o.tensorIndex: _text(o.name) for o in signature.outputs}
    return [names[int(t)] for t in model.subgraphs[signature.subgraphIndex].outputs]


def read(path: Path) -> Embedded:
    """Read without unpacking the whole model: only the metadata table and the
    one buffer it points at."""
    from ai_edge_litert import schema_py_generated as schema

    raw = path.read_bytes()
    model = schema.Model.GetRootAs(raw, 0)
    names, document = [], {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        names.append(_text(entry.Name()))
        if names[-1] == METADATA_NAME:
            document = json.loads(_buffer_bytes(raw, model.Buffers(entry.Buffer())))
    fields = {"description": _text(model.Description()), "schema_version": model.Version(), "metadata": names,
              "associated_files": standard_metadata.packed_files(raw)}
    return Embedded(document, fields)


def _buffer_bytes(raw: bytes, buffer: object) -> bytes:
    offset, size = buffer.Offset(), buffer.Size()
    if offset > 1:  # a large model keeps buffers after the flatbuffer
        return raw[offset:offset + size]
    return buffer.DataAsNumpy().tobytes()


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")
