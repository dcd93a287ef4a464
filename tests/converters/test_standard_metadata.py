"""The standard TFLITE_METADATA of every .tflite, read back by tflite-support's own
MetadataDisplayer (in its own environment: tests/support/tflite_support_env.py);
what each output's metadata says (logits or probabilities, edges) checked against
what the model trained on; Xcode's preview keys in PoseNet's Core ML files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posepipe import models
from posepipe.converters.metadata import ArtifactMetadata
from posepipe.models import losses
from posepipe.models.formats import Format, Precision
from posepipe.models.spec import Activation, ModelSpec, OutputKind
from tests.conftest import session_root
from tests.support.harness import TinyZoo
from tests.support.tflite_support_env import display
from tests.support.zoo_files import zoo_file


def expected_metadata(spec: ModelSpec, path: Path) -> ArtifactMetadata:
    """The document posepipe means to write for ``path``, from the spec and the file's signature."""
    from posepipe.converters import CONVERTERS
    from posepipe.pipeline.run.describe import model_metadata

    precision = path.stem.rsplit("-", 1)[1]
    meta = model_metadata(spec, spec.tiny, "0" * 64, spec.make_decoder(spec.tiny).name)
    return meta.for_artifact("tflite", precision, CONVERTERS[Format.TFLITE].signature(path))


def tensors(shown: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (subgraph,) = shown["metadata"]["subgraph_metadata"]
    (image,) = subgraph["input_tensor_metadata"]
    return image, subgraph["output_tensor_metadata"]


def test_metadata_displayer_reads_a_posepipe_tflite(tiny_run: Path) -> None:
    spec = models.get("hourglass")
    path = tiny_run / "artifacts" / "hourglass" / "hourglass-fp32.tflite"
    shown = display(path)
    meta = expected_metadata(spec, path)
    model = shown["metadata"]
    assert (model["name"], model["version"], model["author"], model["license"]) == (
        "hourglass", spec.version, "posepipe", spec.license)
    assert model["description"] == meta.description
    # the parser version the populator would write: tflite-support's own computation
    assert model["min_parser_version"] == shown["min_parser_version"] == "1.0.0"
    image, outputs = tensors(shown)
    assert image["name"] == "image" and image["description"] == meta.input.describe()
    assert image["content"]["content_properties_type"] == "ImageProperties"
    assert image["content"]["content_properties"] == {"color_space": "RGB",
                                                      "default_size": {"width": 64, "height": 64}}
    (unit,) = image["process_units"]
    assert unit["options_type"] == "NormalizationOptions"
    assert unit["options"] == {"mean": list(spec.input.mean), "std": list(spec.input.std)}
    assert image["stats"] == {"min": [-1.0] * 3, "max": [1.0] * 3}  # pixels 0 and 255, normalised
    (heatmaps,) = outputs
    assert heatmaps["name"] == "heatmaps" and heatmaps["description"] == meta.output_descriptions()["heatmaps"]
    assert "logits: a softmax over each channel's H x W cells" in heatmaps["description"]
    assert heatmaps["associated_files"] == [{"name": "keypoints.txt", "type": "TENSOR_AXIS_LABELS",
                                             "description": "keypoint names, one per line, in channel order"}]
    assert shown["files"]["keypoints.txt"].splitlines() == list(spec.keypoints.names)


def test_posenet_int8_outputs_are_described_in_index_order(zoo: TinyZoo,
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    spec = models.get("posenet")
    path = zoo_file(zoo, session_root(tmp_path_factory), "posenet", Format.TFLITE, Precision.INT8)
    shown = display(path)
    meta = expected_metadata(spec, path)
    image, outputs = tensors(shown)
    scale, zero_point = meta.input.quantization["scale"], meta.input.quantization["zero_point"]
    assert meta.input.dtype == "int8"  # the stats are the quantized pixels 0 and 255
    assert image["stats"] == {"min": [float(max(-128, round(-1 / scale) + zero_point))] * 3,
                              "max": [float(min(127, round(1 / scale) + zero_point))] * 3}
    assert [o["name"] for o in outputs] == ["heatmap", "offset", "displacement_fwd", "displacement_bwd"]
    descriptions = {o["name"]: o["description"] for o in outputs}
    assert descriptions == meta.output_descriptions()
    assert "logits: a sigmoid" in descriptions["heatmap"] and "K y then K x" in descriptions["offset"]
    assert "16 edges: nose->left_eye, left_eye->left_ear" in descriptions["displacement_fwd"]
    assert "16 edges: left_eye->nose, left_ear->left_eye" in descriptions["displacement_bwd"]
    assert [o["name"] for o in outputs if o.get("associated_files")] == ["heatmap"]  # the keypoint axis
    assert shown["min_parser_version"] == shown["metadata"]["min_parser_version"]


def test_embedding_again_replaces_the_metadata_and_its_archive(tiny_run: Path, tmp_path: Path) -> None:
    from posepipe.converters.tflite import metadata as tflite_metadata
    from posepipe.converters.tflite.check import verify

    path = tmp_path / "hourglass-fp32.tflite"
    shutil.copy(tiny_run / "artifacts" / "hourglass" / path.name, path)
    meta = expected_metadata(models.get("hourglass"), path)
    tflite_metadata.embed(path, meta)
    once = path.read_bytes()
    tflite_metadata.embed(path, meta)
    assert path.read_bytes() == once  # one archive, the same bytes: nothing piles up
    verify(path)
    embedded = tflite_metadata.read(path)
    assert embedded.fields["associated_files"] == ["keypoints.txt"]
    assert embedded.fields["metadata"].count("TFLITE_METADATA") == 1
    assert embedded.document["outputs"][0]["activation"] == "spatial-softmax"


def _activation(loss: Any) -> Activation:
    """What the loss an output trains with makes of its values."""
    loss = loss.loss if isinstance(loss, losses.Weighted) else loss
    if loss is losses.spatial_softmax_ce:
        return Activation.SPATIAL_SOFTMAX
    if loss is losses.heatmap_focal:
        return Activation.SIGMOID
    if loss is losses.keypoint_visibility:
        return Activation.PROBABILITY
    assert loss in (losses.keypoint_position, losses.pixel_mse) or isinstance(loss, losses.MaskedHuber), loss
    return Activation.NONE


@pytest.mark.parametrize("name", models.names())
def test_each_output_says_what_its_loss_made_it(name: str) -> None:
    spec = models.get(name)
    for output in spec.outputs:
        assert output.activation is _activation(spec.losses[output.name]), output.name


@pytest.mark.parametrize("name", [n for n in models.names() if any(o.edges for o in models.get(n).outputs)])
def test_edges_are_the_ones_the_encoder_follows(name: str) -> None:
    """One person: at the cell of each edge's first keypoint, a displacement holds the
    vector to its second (y in channel e, x in E + e); near a limb's middle, a PAF
    holds the unit vector from its first keypoint to its second (x in 2e, y in 2e + 1)."""
    spec = models.get(name)
    config = spec.tiny
    h, w = config.input_size
    rng = np.random.default_rng(3)
    person = np.concatenate([rng.uniform(4, [w - 5, h - 5], size=(len(spec.keypoints), 2)),
                             np.full((len(spec.keypoints), 1), 2.0)], axis=1)[None].astype(np.float32)
    targets = spec.make_encoder(config).encode(person)
    checked = 0
    for output in (o for o in spec.outputs_for(config) if o.edges):
        maps, stride, edges = targets[output.name], output.stride, len(output.edges)
        for e, (a, b) in enumerate(output.edges):
            start, end = person[0, a, :2], person[0, b, :2]
            if output.kind is OutputKind.DISPLACEMENTS:
                j, i = np.floor(start / stride + 0.5).astype(int)
                found = maps[i, j, [edges + e, e]]  # (x, y)
                np.testing.assert_allclose(found, end - np.asarray([j, i]) * stride, atol=1e-3)
            elif np.linalg.norm(end - start) > 3 * stride:
                j, i = np.floor((start + end) / 2 / stride + 0.5).astype(int)
                np.testing.assert_allclose(maps[i, j, [2 * e, 2 * e + 1]],
                                           (end - start) / np.linalg.norm(end - start), atol=1e-3)
            else:
                continue
            checked += 1
    assert checked >= 8


def test_posenet_core_ml_files_carry_xcode_s_pose_preview(tiny_run: Path, tmp_path: Path) -> None:
    """PoseNet's document into a copy of a tiny Core ML file, read back with
    coremltools; hourglass's own file has no preview (Xcode's needs a PoseNet)."""
    import coremltools as ct

    from posepipe.converters.coreml import metadata as coreml_metadata
    from posepipe.pipeline.run.describe import model_metadata

    source = tiny_run / "artifacts" / "hourglass" / "hourglass-fp32.mlmodel"
    assert "com.apple.coreml.model.preview.type" not in ct.models.MLModel(str(source), skip_model_load=True) \
        .user_defined_metadata
    spec = models.get("posenet")
    config = spec.config("tiny", {"output_stride": "8", "input_size": "65"})
    path = tmp_path / "posenet.mlmodel"
    shutil.copy(source, path)
    coreml_metadata.embed(path, model_metadata(spec, config, "0" * 64, "posenet-multipose"))
    fields = ct.models.MLModel(str(path), skip_model_load=True).user_defined_metadata
    assert fields["com.apple.coreml.model.preview.type"] == "poseEstimation"
    assert json.loads(fields["com.apple.coreml.model.preview.params"]) == {
        "width_multiplier": config.depth_multiplier * config.width, "output_stride": 8}
