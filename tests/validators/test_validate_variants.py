"""App and keypoints files (models/app.py) validated from the val crops' pixels: honest
files pass, and a file that normalises wrong or decodes wrong fails, naming why."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from posepipe import models
from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import load_bottom_up, load_top_down
from posepipe.converters import CONVERTERS, ConversionRequest
from posepipe.models.app import variant_model
from posepipe.models.backbones.blocks import PixelInput
from posepipe.models.formats import Format, Precision, Variant
from posepipe.validators.validate import Reference, Status, validate
from tests.support.harness import TinyZoo

FP32 = models.get("hourglass").tolerances[Precision.FP32]


@pytest.fixture(scope="module")
def hourglass(zoo: TinyZoo) -> Reference:
    spec = models.get("hourglass")
    val = load_top_down(CocoKeypoints.load(zoo.data, "val", 17), spec.tiny.input_size)
    return Reference.compute(zoo.model("hourglass"), spec, spec.make_decoder(spec.tiny), val)


@pytest.fixture(scope="module")
def posenet(zoo: TinyZoo) -> Reference:
    """The tiny model's peaks are weak (scores near 0.05): with no root threshold every candidate counts."""
    spec = models.get("posenet")
    val = load_bottom_up(CocoKeypoints.load(zoo.data_for("posenet"), "val", 17), spec.tiny.input_size, limit=6)
    decoder = dataclasses.replace(spec.make_decoder(spec.tiny), score_threshold=0.0)
    return Reference.compute(zoo.model("posenet"), spec, decoder, val)


def converted(model: keras.Model, name: str, variant: Variant, path: Path, fmt: Format = Format.ONNX) -> Path:
    spec = models.get(name)
    CONVERTERS[fmt].convert(ConversionRequest(model, spec, spec.tiny.input_size, Precision.FP32, variant=variant),
                            path)
    return path


def test_an_app_file_takes_pixels_and_matches_the_reference(zoo: TinyZoo, hourglass: Reference,
                                                             tmp_path: Path) -> None:
    spec = models.get("hourglass")
    app = variant_model(zoo.model("hourglass"), spec, spec.tiny, Variant.APP)
    for fmt in (Format.ONNX, Format.TFLITE):
        path = converted(app, "hourglass", Variant.APP, tmp_path / f"app{fmt.suffix}", fmt)
        assert CONVERTERS[fmt].signature(path).inputs[0].dtype == "uint8"
        result = validate(path, hourglass, FP32, variant=Variant.APP)
        assert result.status is Status.PASSED, result.failures
        assert result.outputs[0].max_abs < 1e-4 and result.task.agreement == 1.0


def test_an_app_file_that_normalises_wrong_fails(zoo: TinyZoo, hourglass: Reference, tmp_path: Path) -> None:
    """The classic app bug, inside the file: pixels / 255 instead of (pixel - 127.5) / 127.5."""
    model = rebuilt(zoo, "hourglass", PixelInput("RGB", (0.0,) * 3, (255.0,) * 3, name="pixel_input"))
    result = validate(converted(model, "hourglass", Variant.APP, tmp_path / "wrong.onnx"), hourglass, FP32,
                      variant=Variant.APP)
    assert result.status is Status.FAILED
    assert any(f.startswith("heatmaps: ") for f in result.failures), result.failures


def test_a_keypoints_file_decodes_as_the_python_decoder(zoo: TinyZoo, hourglass: Reference, tmp_path: Path) -> None:
    spec = models.get("hourglass")
    model = variant_model(zoo.model("hourglass"), spec, spec.tiny, Variant.KEYPOINTS)
    result = validate(converted(model, "hourglass", Variant.KEYPOINTS, tmp_path / "k.onnx"), hourglass, FP32,
                      variant=Variant.KEYPOINTS)
    assert result.status is Status.PASSED, result.failures
    assert result.task.agreement == 1.0 and result.task.delta == 0.0 and result.outputs == ()


def test_a_keypoints_file_off_by_a_few_pixels_fails(zoo: TinyZoo, hourglass: Reference, tmp_path: Path) -> None:
    shift = np.array([[[3.0, 0.0, 0.0]]], np.float32)
    model = rebuilt(zoo, "hourglass", head=lambda outputs: {"keypoints": outputs["keypoints"] + shift})
    result = validate(converted(model, "hourglass", Variant.KEYPOINTS, tmp_path / "shifted.onnx"), hourglass, FP32,
                      variant=Variant.KEYPOINTS)
    assert result.status is Status.FAILED
    assert any(f.startswith("keypoint agreement 0.00%") for f in result.failures), result.failures


def test_bottom_up_peaks_are_held_to_the_python_peaks(zoo: TinyZoo, posenet: Reference, tmp_path: Path) -> None:
    spec = models.get("posenet")
    model = variant_model(zoo.model("posenet"), spec, spec.tiny, Variant.KEYPOINTS)
    honest = validate(converted(model, "posenet", Variant.KEYPOINTS, tmp_path / "p.onnx"), posenet,
                      spec.tolerances[Precision.FP32], variant=Variant.KEYPOINTS)
    assert honest.status is Status.PASSED, honest.failures
    assert honest.task.peaks == 1.0

    moved = rebuilt(zoo, "posenet", head=lambda outputs: outputs | {"peaks": outputs["peaks"] + 4.0})
    result = validate(converted(moved, "posenet", Variant.KEYPOINTS, tmp_path / "moved.onnx"), posenet,
                      spec.tolerances[Precision.FP32], variant=Variant.KEYPOINTS)
    assert result.status is Status.FAILED
    assert any(f.startswith("peak agreement") for f in result.failures), result.failures


def rebuilt(zoo: TinyZoo, name: str, pixel_input: Any = None,
            head: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> keras.Model:
    """A variant's graph as models/app.py builds it, with a planted ``pixel_input`` (an app file)
    or ``head`` applied to the decoder's outputs (a keypoints file)."""
    spec = models.get(name)
    pixels = keras.Input(batch_shape=(1, *spec.tiny.input_size, 3), dtype="uint8", name=spec.input.name)
    outputs = dict(zoo.model(name)((pixel_input or PixelInput.of(spec.input))(pixels)))
    if head is not None:
        outputs = head(dict(spec.make_decoder(spec.tiny).graph(outputs)))
    return keras.Model(pixels, {n: keras.layers.Identity(name=n)(t) for n, t in outputs.items()})
