"""The metadata document of a run's model, from its ModelSpec, config and
checkpoint; ``build`` completes it per file (format, precision, the signature
read back from the file) and the converter embeds it."""

from __future__ import annotations

from typing import Any

from posepipe.calibration.preprocess import PADDING
from posepipe.converters.metadata import ArtifactMetadata, InputMeta, OutputMeta
from posepipe.models.spec import ModelSpec, Topology
from posepipe.pipeline.engine.versions import tool_versions


def model_metadata(spec: ModelSpec, config: Any, weights_sha256: str, decoder: str) -> ArtifactMetadata:
    image = spec.input
    return ArtifactMetadata(
        model=spec.name, version=spec.version, summary=spec.summary, format="", precision="",
        license=spec.license, posepipe_version=tool_versions()["posepipe"], weights_sha256=weights_sha256,
        decoder=decoder, topology=str(spec.topology), keypoints=spec.keypoints.names,
        skeleton=spec.keypoints.skeleton,
        input=InputMeta(name=image.name, size=tuple(config.input_size), layout=image.layout, color=image.color,
                        mean=image.mean, std=image.std,
                        crop_padding=PADDING if spec.topology is Topology.TOP_DOWN else None),
        outputs=tuple(OutputMeta(o.name, str(o.kind), o.stride, "NHWC" if o.stride else "")
                      for o in spec.outputs_for(config)),
    )
