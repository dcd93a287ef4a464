"""Every artifact carries posepipe's metadata, read back here with each format's
own library (the TFLite flatbuffer schema, onnx and ONNX Runtime, coremltools),
and every file still loads and runs in its runtime after the metadata went in."""

from __future__ import annotations

import json
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posepipe import models
from posepipe.validators.runners import KerasRunner, runner_for
from tests.support.harness import TinyZoo, read_manifest

SPEC = models.get("hourglass")


def _artifact(tiny_run: Path, name: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    manifest = read_manifest(tiny_run, "hourglass")
    entry = next(a for a in manifest["artifacts"] if a["file"] == name)
    return tiny_run / "artifacts" / "hourglass" / name, manifest, entry


def check_document(doc: dict[str, Any], manifest: dict[str, Any], entry: dict[str, Any]) -> None:
    """The embedded document says what the manifest and the spec say."""
    assert doc["posepipe_schema"] == "posepipe.artifact-metadata/1"
    assert (doc["model"], doc["version"], doc["license"]) == ("hourglass", SPEC.version, SPEC.license)
    assert (doc["format"], doc["precision"]) == (entry["format"], entry["precision"])
    assert doc["weights_sha256"] == manifest["checkpoint"]["weights_sha256"]
    assert doc["posepipe_version"] == package_metadata.version("posepipe")
    assert doc["decoder"] == manifest["decoder"] and doc["topology"] == "top-down"
    assert doc["keypoints"] == list(SPEC.keypoints.names)
    assert doc["skeleton"] == [list(e) for e in SPEC.keypoints.skeleton]
    image = doc["input"]
    assert (image["name"], image["size"], image["layout"], image["color"]) == ("image", [64, 64], "NHWC", "RGB")
    assert image["mean"] == list(SPEC.input.mean) and image["std"] == list(SPEC.input.std)
    assert image["crop_padding"] == manifest["input"]["crop_padding"]
    assert image["shape"] == entry["inputs"][0]["shape"] and image["dtype"] == entry["inputs"][0]["dtype"]
    assert [(o["name"], o["kind"], o["stride"], o["layout"], o["shape"]) for o in doc["outputs"]] == [
        (o["name"], o["kind"], o["stride"], "NHWC", e["shape"])
        for o, e in zip(manifest["outputs"], entry["outputs"], strict=True)]


def runs_like_keras(zoo: TinyZoo, path: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (1, 64, 64, 3), np.uint8)
    x = SPEC.input.normalise(pixels)
    with KerasRunner(zoo.model("hourglass")) as keras_runner, runner_for(path) as runner:
        expected, actual = keras_runner.infer({"image": x}), runner.infer(runner.feed("image", pixels, x))
    np.testing.assert_allclose(actual["heatmaps"], expected["heatmaps"], atol=1e-4, rtol=1e-4)


def test_tflite_metadata_is_a_buffer_of_the_flatbuffer(tiny_run: Path, zoo: TinyZoo) -> None:
    from ai_edge_litert.tools import flatbuffer_utils

    path, manifest, entry = _artifact(tiny_run, "hourglass-fp32.tflite")
    model = flatbuffer_utils.read_model(str(path))
    named = {m.name.decode(): m.buffer for m in model.metadata}
    assert {"min_runtime_version", "POSEPIPE_METADATA"} <= named.keys()  # the converter's entries kept
    check_document(json.loads(bytes(model.buffers[named["POSEPIPE_METADATA"]].data)), manifest, entry)
    assert model.description.decode().startswith(f"hourglass {SPEC.version} (fp32 tflite)")
    runs_like_keras(zoo, path)


def test_onnx_metadata_props_and_doc_strings(tiny_run: Path, zoo: TinyZoo) -> None:
    import onnx
    import onnxruntime as ort

    from posepipe.converters.metadata import parse_props

    path, manifest, entry = _artifact(tiny_run, "hourglass-fp32.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    check_document(parse_props({p.key: p.value for p in proto.metadata_props}), manifest, entry)
    assert "17 keypoints" in proto.doc_string
    docs = {v.name: v.doc_string for v in (*proto.graph.input, *proto.graph.output)}
    assert "(pixel - 127.5) / 127.5" in docs["image"] and "stride 4" in docs["heatmaps"]
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert meta.custom_metadata_map["model"] == "hourglass" and meta.description == proto.doc_string
    runs_like_keras(zoo, path)


@pytest.mark.parametrize("name", ["hourglass-fp32.mlpackage", "hourglass-fp32.mlmodel"])
def test_core_ml_description_and_user_defined_metadata(tiny_run: Path, zoo: TinyZoo, name: str) -> None:
    import coremltools as ct

    from posepipe.converters.metadata import parse_props

    path, manifest, entry = _artifact(tiny_run, name)
    model = ct.models.MLModel(str(path), skip_model_load=True)
    assert (model.author, model.version, model.license) == ("posepipe", SPEC.version, SPEC.license)
    assert model.short_description.startswith(f"hourglass {SPEC.version} (fp32 {entry['format']})")
    check_document(parse_props(dict(model.user_defined_metadata)), manifest, entry)
    assert "com.github.apple.coremltools.version" in model.user_defined_metadata  # coremltools' own kept
    assert "RGB image 64x64" in model.input_description["image"]
    assert "heatmaps at stride 4" in model.output_description["heatmaps"]
    runs_like_keras(zoo, path)  # Core ML's reference evaluator here, Core ML itself on macOS


def test_int8_tflite_metadata_carries_the_input_quantization(zoo: TinyZoo, tmp_path: Path) -> None:
    """Only the written file knows an integer input's scale and zero point."""
    from posepipe.converters import ConversionRequest
    from posepipe.converters.tflite.metadata import read
    from posepipe.models.formats import Format, Precision
    from posepipe.pipeline.engine.hashing import sha256_path
    from posepipe.pipeline.run.convert import Built, build
    from posepipe.pipeline.run.describe import model_metadata

    rng = np.random.default_rng(0)
    calibration = [{"image": rng.normal(size=(1, 64, 64, 3)).astype(np.float32)} for _ in range(4)]
    request = ConversionRequest(zoo.model("hourglass"), SPEC, (64, 64), Precision.INT8, calibration)
    built = build(request, Format.TFLITE, tmp_path, tmp_path / "logs",
                  model_metadata(SPEC, SPEC.tiny, "0" * 64, "heatmap-quarter"))
    assert isinstance(built, Built) and built.sha256 == sha256_path(built.path)  # the digest of the file as shipped
    image = built.signature.inputs[0]
    assert image.dtype == "int8" and image.quantization is not None
    doc = read(built.path).document
    assert doc["input"]["dtype"] == "int8"
    assert doc["input"]["quantization"] == {"scale": image.quantization[0], "zero_point": image.quantization[1]}
    assert doc["outputs"][0]["quantization"]["scale"] == built.signature.outputs[0].quantization[0]
    with runner_for(built.path) as runner:
        out = runner.infer({"image": calibration[0]["image"]})
    assert np.isfinite(out["heatmaps"]).all()


def test_props_round_trip_and_foreign_keys_are_kept_apart() -> None:
    from posepipe.converters.metadata import parse_props
    from posepipe.pipeline.run.describe import model_metadata

    meta = model_metadata(SPEC, SPEC.tiny, "f" * 64, "heatmap-quarter")
    assert parse_props(meta.props()) == meta.to_json()
    assert parse_props({**meta.props(), "vendor": "x"})["other"] == {"vendor": "x"}
    assert parse_props({"vendor": "x"}) == {"other": {"vendor": "x"}}


def test_each_output_kind_is_described_and_only_deployed_outputs_are_listed() -> None:
    """Regressed coordinates are no map (no stride, no layout); optional outputs a
    config leaves out are not described."""
    from posepipe.converters.metadata import MEANING
    from posepipe.models.spec import OutputKind
    from posepipe.pipeline.run.describe import model_metadata

    assert set(MEANING) == set(OutputKind)
    spec = models.get("blazepose")
    meta = model_metadata(spec, spec.tiny, "0" * 64, "coords-regression")
    assert [o.name for o in meta.outputs] == [o.name for o in spec.outputs_for(spec.tiny)] == ["coords", "visibility"]
    coords, visibility = meta.outputs
    assert coords.stride is None and coords.layout == "" and visibility.stride is None
    assert coords.describe(17).startswith("coords, ") and "x / input width" in coords.describe(17)
    assert "probability it is visible" in visibility.describe(17)
    both = model_metadata(spec, spec.config("tiny", {"heatmaps": "true"}), "0" * 64, "coords-regression")
    assert [o.name for o in both.outputs] == ["coords", "visibility", "heatmaps"]
    assert "at stride 2, NHWC" in both.outputs[2].describe(17)
