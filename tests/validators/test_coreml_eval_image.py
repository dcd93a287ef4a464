"""The reference evaluator feeds an image input as Core ML does, from the file's
spec alone: hand-made files with a known scale and per-channel bias (a
neuralnetwork's preprocessing scaler, an mlprogram's own ops) in RGB and BGR give
exactly pixel * scale + bias on the right channels; anything but the picture's
uint8 pixels is refused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from posepipe.validators.coreml_eval import load_evaluator

SCALE, BIAS = 0.5, (1.0, 2.0, 3.0)  # bias in the tensor's channel order (R, G, B for RGB; B, G, R for BGR)
HEIGHT, WIDTH = 2, 4
PIXELS = np.arange(HEIGHT * WIDTH * 3, dtype=np.uint8).reshape(HEIGHT, WIDTH, 3) * 7  # distinct per channel


def _expected(color: str) -> np.ndarray:
    """[1, 3, H, W]: the picture's channels in the file's colour order, scaled and biased by hand."""
    order = [0, 1, 2] if color == "RGB" else [2, 1, 0]
    channels = PIXELS.astype(np.float32)[..., order].transpose(2, 0, 1)[None]
    return channels * SCALE + np.asarray(BIAS, np.float32).reshape(1, 3, 1, 1)


def _network(path: Path, color: str, green_bias: float = BIAS[1]) -> Path:
    """A .mlmodel: an image input, its preprocessing scaler, an identity layer."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    shape = datatypes.Array(1, 3, HEIGHT, WIDTH)
    builder = NeuralNetworkBuilder([("image", shape)], [("out", shape)], disable_rank5_shape_mapping=True)
    builder.add_activation("identity", "LINEAR", "image", "out", params=[1.0, 0.0])
    first, last = (BIAS[0], BIAS[2]) if color == "RGB" else (BIAS[2], BIAS[0])  # (red, blue)
    builder.set_pre_processing_parameters(image_input_names=["image"], is_bgr=color == "BGR", red_bias=first,
                                          green_bias=green_bias, blue_bias=last, image_scale=SCALE)
    ct.utils.save_spec(builder.spec, str(path))
    return path


def _program(path: Path, color: str) -> Path:
    """An .mlpackage: coremltools' own image preprocessing ops, then a transpose to NHWC."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, HEIGHT, WIDTH))], opset_version=ct.target.iOS15)
    def program(image):  # noqa: ANN001, ANN202  (MIL's builder passes a Var)
        return mb.transpose(x=image, perm=[0, 2, 3, 1], name="out")

    layout = ct.colorlayout.RGB if color == "RGB" else ct.colorlayout.BGR
    image = ct.ImageType(name="image", shape=(1, 3, HEIGHT, WIDTH), scale=SCALE, bias=list(BIAS),
                         color_layout=layout, channel_first=True)
    model = ct.convert(program, inputs=[image], convert_to="mlprogram", minimum_deployment_target=ct.target.iOS15,
                       compute_precision=ct.precision.FLOAT32)
    model.save(str(path))
    return path


@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_a_neuralnetwork_scaler_is_applied_as_its_spec_says(color: str, tmp_path: Path) -> None:
    out = load_evaluator(_network(tmp_path / "scaler.mlmodel", color)).run({"image": PIXELS})["out"]
    np.testing.assert_array_equal(out, _expected(color))


def test_a_wrong_bias_in_the_spec_shows_in_the_output(tmp_path: Path) -> None:
    """The evaluator reads the bias from the file: a file whose green bias is off
    by 0.25 computes that, and the hand-made expectation catches it."""
    out = load_evaluator(_network(tmp_path / "wrong.mlmodel", "RGB", green_bias=BIAS[1] + 0.25)).run(
        {"image": PIXELS})["out"]
    difference = out - _expected("RGB")
    assert np.all(difference[:, 1] == 0.25) and not difference[:, [0, 2]].any()


@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_an_mlprogram_image_input_runs_its_own_ops(color: str, tmp_path: Path) -> None:
    out = load_evaluator(_program(tmp_path / "image.mlpackage", color)).run({"image": PIXELS[None]})["out"]
    np.testing.assert_array_equal(out, _expected(color).transpose(0, 2, 3, 1))


@pytest.mark.parametrize("feed", [
    PIXELS.astype(np.float32),  # normalised floats, or pixels as floats: not a picture
    np.zeros((WIDTH, HEIGHT, 3), np.uint8),  # the wrong size
    np.zeros((HEIGHT, WIDTH), np.uint8),  # no channels
])
def test_only_the_picture_s_pixels_are_taken(feed: np.ndarray, tmp_path: Path) -> None:
    for evaluator in (load_evaluator(_network(tmp_path / "a.mlmodel", "RGB")),
                      load_evaluator(_program(tmp_path / "a.mlpackage", "RGB"))):
        with pytest.raises(ValueError, match=r"input 'image' is an image: feed uint8 RGB pixels \[2, 4, 3\]"):
            evaluator.run({"image": feed})
