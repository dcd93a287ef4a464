"""posepipe's metadata in Core ML files: the model description's author, version,
short description and license (what Xcode's model page shows), a description on
the input and every output, and the whole document in ``user_defined_metadata``;
with Xcode's preview keys beside it when the model has a preview type (coremltools'
"Xcode Model Preview Types": ``poseEstimation`` takes width_multiplier and output_stride).

The spec is edited where it lies (inside an .mlpackage, the root model file its
manifest names), so the weights are not rewritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from posepipe.converters.metadata import ArtifactMetadata, Embedded, parse_props

PREVIEW_TYPE = "com.apple.coreml.model.preview.type"
PREVIEW_PARAMS = "com.apple.coreml.model.preview.params"


def embed(path: Path, metadata: ArtifactMetadata) -> None:
    spec_file = _spec_file(path)
    spec = _load(spec_file)
    description = spec.description
    description.metadata.author = metadata.author
    description.metadata.versionString = metadata.version
    description.metadata.shortDescription = metadata.description
    description.metadata.license = metadata.license
    description.metadata.userDefined.update(metadata.props() | _preview(metadata))
    texts = {metadata.input.name: metadata.input.describe(), **metadata.output_descriptions()}
    for feature in (*description.input, *description.output):
        if feature.name in texts:
            feature.shortDescription = texts[feature.name]
    spec_file.write_bytes(spec.SerializeToString())


def _preview(metadata: ArtifactMetadata) -> dict[str, str]:
    if metadata.preview is None:
        return {}
    return {PREVIEW_TYPE: metadata.preview["type"], PREVIEW_PARAMS: json.dumps(metadata.preview["params"])}


def read(path: Path) -> Embedded:
    description = _load(_spec_file(path)).description
    meta = description.metadata
    fields = {"author": meta.author, "version": meta.versionString, "short_description": meta.shortDescription,
              "license": meta.license,
              "descriptions": {f.name: f.shortDescription for f in (*description.input, *description.output)}}
    return Embedded(parse_props(dict(meta.userDefined)), fields)


def _spec_file(path: Path) -> Path:
    """The protobuf spec: the .mlmodel itself, or an .mlpackage's root model."""
    if not path.is_dir():
        return path
    from coremltools.libmodelpackage import ModelPackage

    return Path(ModelPackage(str(path)).getRootModel().path())


def _load(spec_file: Path) -> Any:
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    spec.ParseFromString(spec_file.read_bytes())
    return spec
