"""Spec files (models/specfile/): a model described in TOML becomes a ModelSpec like
a zoo model's, and every mistake in the file is one line naming the file, the key
and what was expected. The models here are defined by the tests, outside the repo."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posepipe.models import registry
from posepipe.models.codecs.heatmaps import HeatmapDecoder, Refinement
from posepipe.models.codecs.paf import PafDecoder
from posepipe.models.errors import ConfigError
from posepipe.models.formats import Precision
from posepipe.models.keypoints import COCO_17
from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES
from posepipe.models.spec import Activation, OutputKind, Topology
from posepipe.models.specfile.errors import SpecFileError
from posepipe.models.specfile.model_spec import load_spec_file
from posepipe.models.specfile.read import read_spec_file

SPEC = """\
[model]
name = "mynet"
summary = "a tiny heatmap model defined by a test"
file = "mynet.keras"

[input]
size = [64, 64]
color = "BGR"
mean = [103.9, 116.8, 123.7]
std = 58.0

[[outputs]]
name = "heatmaps"
kind = "heatmaps"
stride = 4
activation = "spatial-softmax"

[keypoints]
set = "coco-17"

[decoder]
kind = "heatmap"
refine = "quarter"

[data]
train_images = 16
val_images = 8

[tolerances.int8]
max_pck_drop = 2.5

[budgets]
host-cpu-1t = 40
"""


def tiny_keras(path: Path, keypoints: int = 17, size: int = 64, layer: str = "head") -> Path:
    """A Functional Keras model of two strided convolutions and a 1x1 head, its
    heatmaps at stride 4 (``layer`` names the head: not the output's name on purpose)."""
    import keras
    from keras import layers

    image = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(8, 3, 2, padding="same", activation="relu", name="c1")(image)
    x = layers.Conv2D(16, 3, 2, padding="same", activation="relu", name="c2")(x)
    heatmaps = layers.Conv2D(keypoints, 1, name=layer)(x)
    keras.Model(image, {"heatmaps": heatmaps}, name="mynet").save(path)
    return path


def write(folder: Path, text: str, name: str = "mynet.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the repository holding the test's own Keras model."""
    folder = tmp_path_factory.mktemp("byo")
    tiny_keras(folder / "mynet.keras")
    return folder


def test_a_spec_file_becomes_a_model_spec(outside: Path) -> None:
    """What the file says is what the pipeline gets: input normalisation (BGR, the
    model's channel order), outputs, keypoints, the decoder and its settings, the
    precision's default tolerances with the one the file changes, budgets; the
    config carries the file's digest."""
    import hashlib

    path = write(outside, SPEC)
    spec = load_spec_file(path)
    assert (spec.name, spec.topology, spec.keypoints) == ("mynet", Topology.TOP_DOWN, COCO_17)
    assert [(o.name, o.kind, o.stride, o.activation) for o in spec.outputs] == [
        ("heatmaps", OutputKind.HEATMAPS, 4, Activation.SPATIAL_SOFTMAX)]
    pixel = np.array([[[10, 20, 30]]], np.uint8)  # RGB
    assert np.allclose(spec.input.normalise(pixel), (np.array([30, 20, 10]) - [103.9, 116.8, 123.7]) / 58.0)
    assert spec.make_decoder(spec.default) == HeatmapDecoder("heatmaps", 4, Refinement.QUARTER, logits=True)
    assert spec.tolerances[Precision.INT8].max_pck_drop == 2.5
    assert spec.tolerances[Precision.FP32] == DEFAULT_TOLERANCES[Precision.FP32]
    assert spec.budgets == {"host-cpu-1t": 40.0}
    assert (spec.schedule.train_images, spec.schedule.val_images) == (16, 8)
    assert spec.default.input_size == (64, 64)
    assert spec.default.spec_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    model = spec.build(spec.default)
    assert sorted(model.output) == ["heatmaps"] and model.input_shape == (None, 64, 64, 3)
    # converters name a file's outputs after the layer that makes them: the head is renamed by a weightless layer
    assert model.output["heatmaps"]._keras_history.operation.name == "heatmaps"
    assert len(model.weights) == 6


def test_the_spec_text_and_the_architecture_identify_the_model(outside: Path, tmp_path: Path) -> None:
    """The same file elsewhere is the same model (config, hence cache keys);
    one changed byte or another architecture is another."""
    first = load_spec_file(write(outside, SPEC)).default
    (tmp_path / "mynet.keras").write_bytes((outside / "mynet.keras").read_bytes())
    assert load_spec_file(write(tmp_path, SPEC)).default == first
    assert load_spec_file(write(tmp_path, SPEC.replace("max_pck_drop = 2.5", "max_pck_drop = 2.4"))).default != first
    tiny_keras(tmp_path / "mynet.keras", layer="other")
    assert load_spec_file(write(tmp_path, SPEC)).default.architecture_sha256 != first.architecture_sha256


BAD = """\
[model]
name = "My Net"
colour = "RGB"

[input]
size = [64, "x"]
mean = [1, 2]

[[outputs]]
name = "heatmaps"
kind = "heatmaps"
stride = 4

[[outputs]]
name = "offsets"
kind = "offset"
stride = "8x"

[keypoints]
set = "coco-18"

[decoder]
kind = "heatmap"
refine = "sharp"

[tolerances.fp16]
min_cosine = 2

[budgets]
host-cpu-1t = -1
"""


def test_every_problem_is_one_line_naming_the_file_and_key(tmp_path: Path) -> None:
    """All of a file's mistakes at once, each with its dotted key and what was expected."""
    path = write(tmp_path, BAD)
    with pytest.raises(SpecFileError) as caught:
        read_spec_file(path)
    lines = str(caught.value).splitlines()
    assert lines == [f"{path}: {line}" for line in (
        "model.colour: unknown key; expected one of name, summary, origin, file, topology, version, license",
        "model.name: expected a name of lower-case letters, digits, '.', '_' or '-' (at most 64), starting with a "
        "letter or digit, got \"My Net\"",
        "input.size: expected [height, width] in pixels (positive integers), or one positive integer, got [64, \"x\"]",
        "input.mean: expected three numbers (one per channel) or one number, got [1, 2]",
        "outputs[1].kind: expected one of \"heatmaps\", \"offsets\", \"displacements\", \"pafs\", \"coords\", "
        "\"visibility\", got \"offset\"",
        "keypoints.set: expected a built-in keypoint set (\"coco-17\", \"aic-14\", \"mpii-16\", \"lsp-14\"), "
        "got \"coco-18\"",
        "decoder.refine: expected one of \"argmax\", \"quarter\", \"dark\", got \"sharp\"",
        "tolerances.fp16.min_cosine: expected a number from 0 to 1, got 2",
        "budgets.host-cpu-1t: expected a number above 0, got -1",
    )]
    assert caught.value.exit_code == 31


def test_a_stride_that_is_no_integer_is_named(tmp_path: Path) -> None:
    text = SPEC.replace("stride = 4", 'stride = "8x"')
    with pytest.raises(SpecFileError, match=r'mynet.toml: outputs\[0\].stride: expected a positive integer, '
                                            r'got "8x"$'):
        read_spec_file(write(tmp_path, text))


@pytest.mark.parametrize(("change", "message"), [
    (("set = \"coco-17\"", "set = \"lsp-14\""),
     "outputs[0]: 'heatmaps' as a heatmaps at stride 4 should be 16x16x14, but the Keras model's is 16x16x17"),
    (("stride = 4", "stride = 8"),
     "outputs[0]: 'heatmaps' as a heatmaps at stride 8 should be 8x8x17, but the Keras model's is 16x16x17"),
    (("size = [64, 64]", "size = [96, 64]"),
     "input.size: [96, 64] (with 3 channels), but the Keras model takes 64x64x3"),
    (("name = \"heatmaps\"", "name = \"maps\""),
     "outputs: names ['maps'], but the Keras model mynet gives ['heatmaps']"),
])
def test_a_spec_that_does_not_fit_its_keras_model_says_where(outside: Path, change: tuple[str, str],
                                                             message: str) -> None:
    path = write(outside, SPEC.replace(*change), "misfit.toml")
    spec = load_spec_file(path)
    with pytest.raises(SpecFileError) as caught:
        spec.build(spec.default)
    assert str(caught.value) == f"{path}: {message}"


CUSTOM = """\
[keypoints]
name = "five"
names = ["head", "left_hand", "right_hand", "left_foot", "right_foot"]
skeleton = [["head", "left_hand"], ["head", "right_hand"], [0, 3], [0, 4]]
flip_pairs = [["left_hand", "right_hand"], ["left_foot", "right_foot"]]
torso = [["head", "left_foot"]]
head = ["head", "left_hand"]
"""


def test_a_custom_keypoint_set_by_names_or_indices(tmp_path: Path) -> None:
    text = SPEC.replace('[keypoints]\nset = "coco-17"\n', CUSTOM).replace('file = "mynet.keras"\n', "")
    keypoints = read_spec_file(write(tmp_path, text)).keypoints
    assert keypoints.name == "five" and len(keypoints) == 5
    assert keypoints.skeleton == ((0, 1), (0, 2), (0, 3), (0, 4))
    assert keypoints.flip_index == (0, 2, 1, 4, 3)
    assert keypoints.torso == ((0, 3),) and keypoints.head == (0, 1) and keypoints.sigmas is None
    wrong = text.replace('["head", "left_foot"]]', '["head", "left_knee"]]')
    with pytest.raises(SpecFileError, match=r"keypoints.torso: expected a list of pairs of keypoints, each an index "
                                            r'or a name \("left_knee" is not one of the names\)'):
        read_spec_file(write(tmp_path, wrong))


BOTTOM_UP = """\
[model]
name = "crowd"
[input]
size = 64
[[outputs]]
name = "heatmaps"
kind = "heatmaps"
stride = 8
activation = "sigmoid"
[[outputs]]
name = "pafs"
kind = "pafs"
stride = 8
"""


def test_bottom_up_decoders_read_their_outputs_by_name(tmp_path: Path) -> None:
    """OpenPose's decoder over the set's skeleton; PoseNet's needs its named outputs and,
    off COCO-17, a tree of the set's own."""
    text = BOTTOM_UP.replace("[model]", 'keypoints = "coco-17"\n[model]') + '[decoder]\nkind = "paf"\nmin_parts = 4\n'
    paf = read_spec_file(write(tmp_path, text))
    assert paf.topology is Topology.BOTTOM_UP
    decoder = paf.decoder.make((64, 64), {o.name: o for o in paf.outputs})
    assert decoder == PafDecoder(8, COCO_17.skeleton, logits=True, peak_threshold=0.1, min_paf=0.05, min_parts=4,
                                 min_person_score=0.2)
    posenet = BOTTOM_UP.replace("[model]", 'keypoints = "lsp-14"\n[model]') + '[decoder]\nkind = "posenet"\n'
    with pytest.raises(SpecFileError) as caught:
        read_spec_file(write(tmp_path, posenet))
    assert [line.split(": ", 1)[1] for line in str(caught.value).splitlines()] == [
        'decoder.kind: the posenet decoder reads an output named "heatmap" (heatmaps); there is none',
        'decoder.kind: the posenet decoder reads an output named "offset" (offsets); there is none',
        'decoder.kind: the posenet decoder reads an output named "displacement_fwd" (displacements); there is none',
        'decoder.kind: the posenet decoder reads an output named "displacement_bwd" (displacements); there is none',
        "decoder.edges: missing; PoseNet's own tree is over COCO-17: give the lsp-14 tree as [parent, child] pairs, "
        "each parent reached before",
    ]


def test_a_spec_file_model_has_no_training_and_a_fixed_config(outside: Path) -> None:
    spec = load_spec_file(write(outside, SPEC))
    with pytest.raises(ConfigError, match=r"^mynet comes from the spec file .*mynet.toml and has no training recipe "
                                          r"in posepipe; convert your checkpoint: posepipe run --spec"):
        spec.training_model(spec.default)
    with pytest.raises(ConfigError, match="no training recipe"):
        spec.make_encoder(spec.default)
    with pytest.raises(ConfigError, match=r"-o input_size=32: the config of a spec-file model is its file's"):
        spec.config("default", {"input_size": "32"})
    assert spec.config("tiny") == spec.default


def test_a_spec_file_cannot_take_a_zoo_models_name(outside: Path) -> None:
    path = write(outside, SPEC.replace('name = "mynet"', 'name = "hourglass"'), "clash.toml")
    with pytest.raises(SpecFileError, match=r"clash.toml: model.name: 'hourglass' is already a model of the zoo"):
        registry.add_spec_file(path)


def test_without_a_file_the_architecture_is_the_checkpoint(outside: Path) -> None:
    path = write(outside, SPEC.replace('file = "mynet.keras"\n', ""), "nofile.toml")
    assert load_spec_file(path, outside / "mynet.keras").build.path == outside / "mynet.keras"
    with pytest.raises(SpecFileError, match=r"nofile.toml: model.file: missing; the architecture is a .keras file: "
                                            r"name it here or give --checkpoint one \(x.h5 is not a .keras file\)"):
        load_spec_file(path, Path("x.h5"))


def _toml(value: Any) -> str:
    """A TOML value (strings, integers, floats, booleans, arrays of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


_SCALARS = st.one_of(st.booleans(), st.integers(-10, 300), st.floats(-1e3, 1e3, allow_nan=False),
                     st.text(string.ascii_letters + "-_ 0123456789", max_size=12),
                     st.sampled_from(["heatmaps", "pafs", "coco-17", "dark", "posenet", "paf", "BGR", "sigmoid"]))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=4))
_KEYS = st.sampled_from(["name", "kind", "stride", "size", "mean", "std", "set", "refine", "activation", "file",
                         "names", "skeleton", "torso", "val_images", "min_cosine", "edges", "limbs", "color", "x"])
_TABLES = st.sampled_from(["model", "input", "keypoints", "decoder", "data", "budgets", "tolerances.fp16", "nope"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables=st.lists(st.tuples(_TABLES, st.dictionaries(_KEYS, _VALUES, max_size=5)), max_size=5),
       outputs=st.lists(st.dictionaries(_KEYS, _VALUES, max_size=5), max_size=3))
def test_any_document_is_read_or_refused_with_problems(tables: list[tuple[str, dict[str, Any]]],
                                                       outputs: list[dict[str, Any]], tmp_path: Path) -> None:
    """Whatever the file holds, reading it gives a document or a SpecFileError whose
    every line names the file; never another exception."""
    text = "".join(f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in body.items())
                   for name, body in dict(tables).items())
    text += "".join("[[outputs]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in body.items()) for body in outputs)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # a generated name clash (a table twice): not a document
    path = write(tmp_path, text, "fuzz.toml")
    try:
        read_spec_file(path)
    except SpecFileError as error:
        assert error.problems and all(line.startswith(f"{path}: ") for line in str(error).splitlines())
