"""Every Core ML file takes an image input (an app feeds Vision a camera frame):
read back with coremltools for both model types, fp32 and quantized; the manifest,
the embedded metadata, ``inspect`` and ``predict`` say and use it; the validation
feeds it the val crops' pixels, so a file with a wrong scale or bias fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from posepipe import models
from posepipe.calibration.calibset import CalibrationSet
from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import load_top_down
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.converters.base import ConversionError
from posepipe.models.formats import Format, Precision
from posepipe.models.spec import InputSpec
from posepipe.validators.validate import Reference, Status, validate
from tests.support.harness import TinyZoo, invoke, read_manifest

SPEC = models.get("hourglass")
SCALE, BIAS = 1 / 127.5, [-1.0, -1.0, -1.0]  # (pixel - 127.5) / 127.5, the zoo's normalisation
FILES = ["hourglass-fp32.mlpackage", "hourglass-fp32.mlmodel"]


def _image_input(path: Path) -> object:
    import coremltools as ct

    feature = ct.models.MLModel(str(path), skip_model_load=True).get_spec().description.input[0]
    assert feature.type.WhichOneof("Type") == "imageType", f"{path.name}: a {feature.type.WhichOneof('Type')} input"
    return feature.type.imageType


def _is_rgb_64(image: object) -> bool:
    from coremltools.proto import FeatureTypes_pb2

    return (image.colorSpace == FeatureTypes_pb2.ImageFeatureType.RGB  # type: ignore[attr-defined]
            and (image.width, image.height) == (64, 64))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", FILES)
def test_a_run_s_core_ml_files_take_an_rgb_image_and_say_so(tiny_run: Path, name: str) -> None:
    path = tiny_run / "artifacts" / "hourglass" / name
    assert _is_rgb_64(_image_input(path))
    entry = next(a for a in read_manifest(tiny_run, "hourglass")["artifacts"] if a["file"] == name)
    (tensor,) = entry["inputs"]
    assert tensor["dtype"] == "uint8" and tensor["shape"] == [1, 64, 64, 3]
    assert tensor["image"]["color"] == "RGB" and tensor["image"]["scale"] == pytest.approx(SCALE, rel=1e-6)
    assert tensor["image"]["bias"] == pytest.approx(BIAS, rel=1e-6)
    document = CONVERTERS[Format.from_path(name)].read_metadata(path).document
    assert document["input"]["image"] == tensor["image"] and document["input"]["dtype"] == "uint8"
    assert entry["validation"]["status"] == "passed" and entry["validation"]["runtime"] == "coreml-reference"


@pytest.fixture(scope="module")
def request_(zoo: TinyZoo) -> ConversionRequest:
    return ConversionRequest(zoo.model("hourglass"), SPEC, SPEC.tiny.input_size, Precision.W8)


def test_a_quantized_core_ml_file_takes_the_image_too(request_: ConversionRequest, tmp_path: Path) -> None:
    """8-bit weights (the default quantized Core ML file): the input stays the image,
    the program's preprocessing stays float and the evaluator runs it on pixels."""
    path = tmp_path / "hourglass-w8.mlpackage"
    CONVERTERS[Format.COREML].convert(request_, path)
    assert _is_rgb_64(_image_input(path))
    (tensor,) = CONVERTERS[Format.COREML].signature(path).inputs
    assert tensor.image is not None and tensor.image.scale == pytest.approx(SCALE, rel=1e-6)
    from posepipe.validators.coreml_eval import load_evaluator

    evaluator = load_evaluator(path)
    pixels = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), np.uint8)
    assert np.isfinite(evaluator.run({"image": pixels})["heatmaps"]).all()
    with pytest.raises(ValueError, match="feed uint8 RGB pixels"):
        evaluator.run({"image": SPEC.input.normalise(pixels)})


@pytest.fixture(scope="module")
def reference(zoo: TinyZoo) -> Reference:
    val = load_top_down(CocoKeypoints.load(zoo.data, "val", 17), SPEC.tiny.input_size)
    return Reference.compute(zoo.model("hourglass"), SPEC, SPEC.make_decoder(SPEC.tiny), val)


def _tamper_scaler(path: Path) -> None:
    """The .mlmodel's preprocessing without its green bias (-1 -> 0): one channel left in [0, 2]."""
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    spec.ParseFromString(path.read_bytes())
    (step,) = spec.neuralNetwork.preprocessing
    step.scaler.greenBias = 0.0
    path.write_bytes(spec.SerializeToString())


def _tamper_program(path: Path) -> None:
    """The .mlpackage's program: the scale right after the image input 1/255, not 1/127.5
    (the /255 versus /127.5 mix-up of hand-written app glue)."""
    from coremltools.libmodelpackage import ModelPackage
    from coremltools.proto import Model_pb2

    spec_file = Path(ModelPackage(str(path)).getRootModel().path())
    spec = Model_pb2.Model()
    spec.ParseFromString(spec_file.read_bytes())
    function = spec.mlProgram.functions["main"]
    operations = function.block_specializations[function.opset].operations
    (mul,) = [op for op in operations if op.type == "mul" and op.inputs["x"].arguments[0].name == "image"]
    const = next(op for op in operations if op.outputs[0].name == mul.inputs["y"].arguments[0].name)
    values = const.attributes["val"].immediateValue.tensor.floats.values
    values[0] = 1 / 255
    spec_file.write_bytes(spec.SerializeToString())


@pytest.mark.parametrize(("name", "tamper"), [(FILES[1], _tamper_scaler), (FILES[0], _tamper_program)])
def test_a_file_that_normalises_wrongly_fails_validation(tiny_run: Path, reference: Reference, name: str,
                                                         tamper: object, tmp_path: Path) -> None:
    """The evaluator applies the file's own scale and bias to the pixels: the
    honest file passes fp32's bar, the same file with a wrong bias or scale not."""
    path = tmp_path / name
    source = tiny_run / "artifacts" / "hourglass" / name
    (shutil.copytree if source.is_dir() else shutil.copy)(source, path)
    tolerance = SPEC.tolerances[Precision.FP32]
    assert validate(path, reference, tolerance).status is Status.PASSED
    tamper(path)  # type: ignore[operator]
    result = validate(path, reference, tolerance)
    assert result.status is Status.FAILED and any(f.startswith("heatmaps: ") for f in result.failures), result


def test_a_per_channel_std_is_refused_at_conversion() -> None:
    import coremltools as ct

    from posepipe.converters.coreml.image import image_type

    imagenet = InputSpec(mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4))
    with pytest.raises(ConversionError, match=r"coreml: custom: .*one scale for all channels.*\(58.4, 57.1, 57.4\)"):
        image_type(ct, imagenet, (1, 64, 64, 3), "custom")
    same_std = InputSpec(mean=(123.7, 116.3, 103.5), std=(58.0, 58.0, 58.0))
    made = image_type(ct, same_std, (1, 64, 64, 3), "custom")
    assert made.scale == pytest.approx(1 / 58.0) and list(made.bias) == pytest.approx([-123.7 / 58, -116.3 / 58,
                                                                                       -103.5 / 58])


def test_a8w8_calibrates_on_the_pictures_the_samples_were_made_from() -> None:
    """Core ML's predict (macOS) takes a PIL image for an image input: the
    calibration tensors become pictures with exactly the samples' pixels."""
    from posepipe.converters.coreml.convert import _pictures

    pixels = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), np.uint8)
    calibration = CalibrationSet("image", SPEC.input.normalise(pixels), "test")
    request = ConversionRequest(None, SPEC, (8, 8), Precision.A8W8, calibration)  # type: ignore[arg-type]
    pictures = _pictures(request)
    assert [p["image"].mode for p in pictures] == ["RGB"] * 3
    np.testing.assert_array_equal(np.stack([np.asarray(p["image"]) for p in pictures]), pixels)


def test_inspect_shows_the_image_input(tiny_run: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "inspect", tiny_run / "artifacts" / "hourglass" / FILES[0])
    assert result.code == 0, result.err
    assert "image [1, 64, 64, 3] uint8 RGB image: the file computes pixel * 0.00784314 + (-1, -1, -1)" in result.out
    assert "the file normalises it itself, pixel * 0.00784314 + -1, i.e. (pixel - 127.5) / 127.5" in result.out


def test_predict_feeds_a_core_ml_file_the_picture(zoo: TinyZoo, tiny_run: Path, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    """predict's people from the .mlmodel equal the Keras model's on the same
    letterboxed crop: the file got the pixels and normalised them as Keras was fed."""
    from posepipe.calibration.coco import read_image
    from posepipe.calibration.preprocess import whole_image

    image = zoo.data_for("hourglass") / "val" / "000000.jpg"
    result = invoke(capfd, "predict", tiny_run / "artifacts" / "hourglass" / FILES[1], image, "--out", tmp_path)
    assert result.code == 0, result.err
    document = json.loads((tmp_path / "000000_keypoints.json").read_text())
    (person,) = document["people"]
    predicted = np.asarray(person["pose_keypoints_2d"], np.float32).reshape(-1, 3)
    pixels = read_image(image)
    crop, window = whole_image(pixels, SPEC.tiny.input_size)
    outputs = zoo.model("hourglass").predict(SPEC.input.normalise(crop)[None], verbose=0)
    expected = window.to_image(SPEC.make_decoder(SPEC.tiny).decode({k: v[0] for k, v in outputs.items()}))
    height, width = pixels.shape[:2]
    expected[..., 0] = np.clip(expected[..., 0], 0, width - 1)
    expected[..., 1] = np.clip(expected[..., 1], 0, height - 1)
    np.testing.assert_allclose(predicted, np.where(expected[..., 2:] > 0, expected, 0.0).reshape(-1, 3), atol=1e-2)
