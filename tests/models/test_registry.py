"""The zoo: every registered model is complete, Functional, and has a tiny config."""

from __future__ import annotations

import dataclasses

import pytest

from posepipe import models
from posepipe.models.errors import ConfigError, PosepipeError, UnknownModelError
from posepipe.models.formats import Precision
from posepipe.models.spec import OutputKind
from posepipe.pipeline.errors import ERRORS, USAGE_EXIT_CODE


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'nope'; known models: .*hourglass"):
        models.get("nope")


@pytest.mark.parametrize("name", models.names())
def test_every_model_builds_its_tiny_config_as_a_functional_model(name: str) -> None:
    import keras

    spec = models.get(name)
    model = spec.build(spec.tiny)
    assert isinstance(model, keras.Model) and not isinstance(model, keras.Sequential)
    assert model.__class__.__name__ == "Functional"
    assert sorted(model.output) == sorted(o.name for o in spec.outputs_for(spec.tiny))
    assert tuple(model.input_shape[1:3]) == spec.tiny.input_size
    assert Precision.FP32 in spec.tolerances
    assert spec.tiny_schedule.train_images < spec.schedule.train_images


@pytest.mark.parametrize("name", models.names())
def test_every_output_has_the_stride_the_spec_says(name: str) -> None:
    spec = models.get(name)
    model = spec.build(spec.tiny)
    h, w = spec.tiny.input_size
    for output in spec.outputs_for(spec.tiny):
        shape = tuple(model.output[output.name].shape[1:])
        if output.stride is None:  # regressed: (x, y) per keypoint, or a visibility per keypoint
            k = len(spec.keypoints)
            assert shape == {OutputKind.COORDS: (k, 2), OutputKind.VISIBILITY: (k,)}[output.kind]
        else:
            assert shape[:2] == (-(-h // output.stride), -(-w // output.stride))  # "same" padding rounds up


def test_config_overrides_are_parsed_by_field_type() -> None:
    spec = models.get("hourglass")
    config = spec.config("default", {"input_size": "192", "width": "0.5", "depth": "3"})
    assert (config.input_size, config.width, config.depth) == ((192, 192), 0.5, 3)
    assert spec.config("tiny", {"input_size": "128x64"}).input_size == (128, 64)


def test_bad_overrides_say_which_field() -> None:
    spec = models.get("hourglass")
    with pytest.raises(ConfigError, match="no field 'colour'; fields: input_size"):
        spec.config("default", {"colour": "red"})
    with pytest.raises(ConfigError, match=r"width='wide': expected a value like 1.0"):
        spec.config("default", {"width": "wide"})


def test_hourglass_rejects_an_input_size_its_depth_cannot_halve() -> None:
    spec = models.get("hourglass")
    with pytest.raises(ConfigError, match="input_size 96x96 must be a multiple of 64 for depth 4"):
        spec.build(dataclasses.replace(spec.default, input_size=(96, 96)))


def test_every_error_has_its_own_exit_code() -> None:
    codes = [error.exit_code for error in ERRORS]
    assert len(set(codes)) == len(codes)
    assert USAGE_EXIT_CODE not in codes and 0 not in codes and PosepipeError.exit_code not in codes
