"""posepipe's metadata inside a .tflite flatbuffer.

The document goes into the model's ``metadata`` table as a named buffer (JSON),
which the TFLite schema reserves for exactly this: LiteRT ignores entries it does
not know and flatbuffer tools keep them. The model's ``description`` gets the
one-line summary. tflite-support's metadata writers would write the richer
TFLITE_METADATA schema, but its last release (0.4.4, 2023) needs protobuf < 4 and
cannot share an environment with TensorFlow 2.21, onnx and coremltools (protobuf
7); so the file is edited through the schema that ai_edge_litert ships.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posepipe.converters.metadata import ArtifactMetadata, Embedded

METADATA_NAME = "POSEPIPE_METADATA"


def embed(path: Path, metadata: ArtifactMetadata) -> None:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
    data = np.frombuffer(json.dumps(metadata.to_json()).encode(), np.uint8)
    model.description = metadata.description.encode()
    model.metadata = model.metadata or []
    entry = next((m for m in model.metadata if _text(m.name) == METADATA_NAME), None)
    if entry is None:
        buffer = schema.BufferT()
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME.encode(), len(model.buffers) - 1
        model.metadata.append(entry)
    model.buffers[entry.buffer].data = data
    path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


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
    fields = {"description": _text(model.Description()), "schema_version": model.Version(), "metadata": names}
    return Embedded(document, fields)


def _buffer_bytes(raw: bytes, buffer: object) -> bytes:
    offset, size = buffer.Offset(), buffer.Size()  # type: ignore[attr-defined]
    if offset > 1:  # a large model keeps buffers after the flatbuffer
        return raw[offset:offset + size]
    return buffer.DataAsNumpy().tobytes()  # type: ignore[attr-defined]


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")
