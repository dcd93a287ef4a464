"""posepipe's metadata in an .onnx file: the model's ``metadata_props`` (string
pairs, as ONNX Runtime's ``modelmeta.custom_metadata_map`` shows them), its
``doc_string``, and a ``doc_string`` on the image input and every output."""

from __future__ import annotations

from pathlib import Path

from posepipe.converters.metadata import ArtifactMetadata, Embedded, parse_props


def embed(path: Path, metadata: ArtifactMetadata) -> None:
    import onnx

    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props} | metadata.props()
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = metadata.description
    descriptions = {metadata.input.name: metadata.input.describe(), **metadata.output_descriptions()}
    for value in (*proto.graph.input, *proto.graph.output):
        if value.name in descriptions:
            value.doc_string = descriptions[value.name]
    onnx.save(proto, str(path))


def read(path: Path) -> Embedded:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in proto.graph.initializer}
    tensors = {v.name: v.doc_string for v in (*proto.graph.input, *proto.graph.output) if v.name not in initializers}
    fields = {"doc_string": proto.doc_string, "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
              "model_version": proto.model_version, "descriptions": tensors}
    return Embedded(parse_props({p.key: p.value for p in proto.metadata_props}), fields)
