"""The metadata document of a run's model, from its ModelSpec, config and
checkpoint; ``build`` completes it per file (format, precision, the signature
read back from the file) and the converter embeds it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from posepipe.calibration.preprocess import PADDING
from posepipe.converters.metadata import ArtifactMetadata, InputMeta, OutputMeta
from posepipe.models.app import variant_outputs
from posepipe.models.formats import Variant
from posepipe.models.spec import ModelSpec, OutputSpec, Topology
from posepipe.pipeline.engine.versions import tool_versions


def model_metadata(spec: ModelSpec, config: Any, weights_sha256: str, decoder: str) -> ArtifactMetadata:
    """The tensor file's document; ``variant_metadata`` makes an app or keypoints file's from it."""
    image = spec.input
    return ArtifactMetadata(
        model=spec.name, version=spec.version, summary=spec.summary, format="", precision="",
        license=spec.license, posepipe_version=tool_versions()["posepipe"], weights_sha256=weights_sha256,
        decoder=decoder, topology=str(spec.topology), keypoints=spec.keypoints.names,
        skeleton=spec.keypoints.skeleton,
        input=InputMeta(name=image.name, size=tuple(config.input_size), layout=image.layout, color=image.color,
                        mean=image.mean, std=image.std,
                        crop_padding=PADDING if spec.topology is Topology.TOP_DOWN else None),
        outputs=tuple(_output(o, spec.keypoints.names) for o in spec.outputs_for(config)),
        preview=_preview(spec, config),
    )


def variant_metadata(metadata: ArtifactMetadata, spec: ModelSpec, config: Any, model: Any,
                     variant: Variant) -> ArtifactMetadata:
    """The document of ``variant``'s file, made from ``model`` (that variant's graph): pixels in,
    and a keypoints file's own outputs."""
    if variant is Variant.TENSOR:
        return metadata
    outputs = tuple(_output(o, spec.keypoints.names) for o in variant_outputs(spec, config, model, variant))
    return replace(metadata, variant=str(variant), input=replace(metadata.input, in_graph=True), outputs=outputs)


def _output(output: OutputSpec, names: tuple[str, ...]) -> OutputMeta:
    return OutputMeta(output.name, str(output.kind), output.stride, "NHWC" if output.stride else "",
                      activation=str(output.activation), edges=tuple((names[a], names[b]) for a, b in output.edges))


def _preview(spec: ModelSpec, config: Any) -> dict[str, Any] | None:
    if spec.xcode_preview is None:
        return None
    kind, params = spec.xcode_preview(config)
    return {"type": kind, "params": dict(params)}
