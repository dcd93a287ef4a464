"""Models posepipe does not define, end to end with no change to posepipe's code:
one described by a TOML spec file, one registered by a plug-in package through the
``posepipe.models`` entry point group. Both live in temporary folders outside the
repository, and each goes through ``posepipe run`` to verified TFLite, ONNX and
Core ML files."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posepipe.models import registry
from tests.models.test_spec_file import SPEC, tiny_keras, write
from tests.support.harness import TinyZoo, invoke

FORMATS = ("--formats", "tflite,onnx,coreml", "--precisions", "fp32")
FILES = ("fp32.tflite", "fp32.onnx", "fp32.mlpackage")


def quick(zoo: TinyZoo, cache: Path) -> list[str]:
    """A run's options kept tiny: the session's tiny data, four val samples, fp32
    files of three formats, in this process, timed briefly and not profiled."""
    return ["--data", str(zoo.data), "--cache", str(cache), *FORMATS, "--val-samples", "4", "--jobs", "1",
            "--bench-runs", "2", "--no-profile"]


def verified(root: Path, model: str) -> dict[str, Any]:
    """The run's manifest, once every file it lists is on disk with the sha256 it lists and passed."""
    manifest = json.loads((root / "artifacts" / model / "manifest.json").read_text())
    assert manifest["model"] == model and manifest["passed"] is True
    by_file = {a["file"]: a for a in manifest["artifacts"]}
    assert sorted(by_file) == sorted(f"{model}-{suffix}" for suffix in FILES)
    for name, entry in by_file.items():
        assert entry["validation"]["status"] == "passed" and entry["validation"]["samples"] == 4, entry
        path = root / "artifacts" / model / name
        if path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        else:
            assert path.is_dir()  # an .mlpackage: its digest is over the folder (pipeline/engine/hashing.py)
    return manifest


def test_a_spec_file_model_runs_to_verified_files(zoo: TinyZoo, in_tmp: Path, tmp_path_factory: pytest.TempPathFactory,
                                                  capfd: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A Keras model and its spec in a folder outside the repo: ``run --spec`` builds and
    verifies its files, and the manifest names it by its name and the spec's digest. A
    later process reads the run back (predict, report) when given the same spec file."""
    outside = tmp_path_factory.mktemp("mine")
    spec = write(outside, SPEC)  # a BGR model: every format, Core ML's image input too, gets BGR
    checkpoint = tiny_keras(outside / "mynet.keras")
    result = invoke(capfd, "run", "--spec", spec, "--checkpoint", checkpoint, *quick(zoo, in_tmp / "cache"))
    assert result.code == 0, result.err
    manifest = verified(in_tmp, "mynet")
    assert manifest["config"]["spec_sha256"] == hashlib.sha256(spec.read_bytes()).hexdigest()
    assert manifest["decoder"] == "heatmap-quarter" and manifest["checkpoint"]["format"] == "keras"
    assert manifest["latency"]["budgets"]["host-cpu-1t"] == 40.0  # the spec's budget
    image = next(a for a in manifest["artifacts"] if a["file"].endswith(".mlpackage"))["inputs"][0]["image"]
    assert image["color"] == "BGR"  # as read back from the file, in the model's channel order
    assert image["bias"] == pytest.approx([-m / 58.0 for m in (103.9, 116.8, 123.7)], abs=1e-5)

    monkeypatch.setattr(registry, "_FILES", {})  # as a new process: the spec file is known only when given
    artifact, image = in_tmp / "artifacts" / "mynet" / "mynet-fp32.tflite", sorted((zoo.data / "val").glob("*.jpg"))[0]
    unknown = invoke(capfd, "predict", artifact, image, "--out", in_tmp / "predictions")
    assert unknown.code == 3 and len(unknown.error_lines) == 1 and "'mynet'" in unknown.err, unknown.err
    predicted = invoke(capfd, "predict", artifact, image, "--out", in_tmp / "predictions", "--spec", spec)
    assert predicted.code == 0, predicted.err
    people = json.loads((in_tmp / "predictions" / f"{image.stem}_keypoints.json").read_text())["people"]
    assert len(people) == 1 and len(people[0]["pose_keypoints_2d"]) == 3 * 17  # top-down: one person, COCO-17
    reported = invoke(capfd, "report", "mynet", "--out", in_tmp / "artifacts", "--spec", spec)
    assert reported.code == 0 and (in_tmp / "artifacts" / "mynet" / "report.html").is_file(), reported.err


def test_a_spec_file_model_needs_a_checkpoint(in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    spec = write(in_tmp, SPEC)
    result = invoke(capfd, "run", "--spec", spec)
    assert result.code == 4
    assert result.error_lines == [f"posepipe: error: --spec {spec}: --checkpoint is required (posepipe has no "
                                  "training recipe for a model from a spec file)"]


def test_spec_check_explains_a_spec(in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Valid: a summary and exit 0, against the checkpoint too when given. Wrong: every
    problem a line and exit 31. A checkpoint of another architecture: its own exit 5."""
    tiny_keras(in_tmp / "mynet.keras")
    spec = write(in_tmp, SPEC)
    alone = invoke(capfd, "spec", "check", spec)
    assert alone.code == 0, alone.err
    assert f"{spec}: valid" in alone.out and "decoder: heatmap, refine quarter, sigma 2.0" in alone.out
    assert "architecture: " in alone.out and "input and outputs fit" in alone.out
    checked = invoke(capfd, "spec", "check", spec, "--checkpoint", in_tmp / "mynet.keras")
    assert checked.code == 0 and "(keras): input, outputs and every weight fit" in checked.out, checked.err
    other = tiny_keras(in_tmp / "other.keras", layer="other")
    misfit = invoke(capfd, "spec", "check", spec, "--checkpoint", other)
    assert misfit.code == 5 and len(misfit.error_lines) == 1 and "no weight head/" in misfit.err, misfit.err
    broken = write(in_tmp, SPEC.replace("stride = 4", 'stride = "8x"').replace("= 40", "= 40\nphone = 3"),
                   "broken.toml")
    wrong = invoke(capfd, "spec", "check", broken)
    assert wrong.code == 31
    assert wrong.error_lines == [
        f'posepipe: error: {broken}: outputs[0].stride: expected a positive integer, got "8x"']
    unknown_target = write(in_tmp, SPEC.replace("= 40", "= 40\nphone = 3"), "target.toml")
    target = invoke(capfd, "spec", "check", unknown_target)
    assert target.code == 31 and len(target.error_lines) == 1
    assert target.error_lines[0].startswith(f"posepipe: error: {unknown_target}: budgets.phone: not a latency target")


PLUGIN = '''\
"""A pose model posepipe has never seen, registered through an entry point."""
import dataclasses
from dataclasses import dataclass

import keras
from keras import layers

from posepipe.models import losses
from posepipe.models.codecs.heatmaps import HeatmapDecoder, HeatmapEncoder, Refinement
from posepipe.models.keypoints import COCO_17
from posepipe.models.policy.tolerances import DEFAULT_TOLERANCES
from posepipe.models.spec import Activation, ModelConfig, ModelSpec, OutputKind, OutputSpec, Topology, TrainSchedule


@dataclass(frozen=True)
class PlugConfig(ModelConfig):
    input_size: tuple[int, int] = (64, 64)
    num_keypoints: int = 17


def build(config):
    image = keras.Input((*config.input_size, 3), name="image")
    x = layers.Conv2D(8, 3, 2, padding="same", activation="relu", name="c1")(image)
    x = layers.Conv2D(config.num_keypoints, 3, 2, padding="same", name="heatmaps")(x)
    return keras.Model(image, {"heatmaps": x}, name="plugnet")


def spec():
    schedule = TrainSchedule(epochs=1, batch_size=8, learning_rate=1e-3, train_images=16, val_images=8)
    return ModelSpec(
        name="plugnet", summary="two convolutions, heatmaps at stride 4", origin="a test's plug-in",
        topology=Topology.TOP_DOWN, build=build, default=PlugConfig(), tiny=PlugConfig(),
        outputs=(OutputSpec("heatmaps", OutputKind.HEATMAPS, 4, Activation.SPATIAL_SOFTMAX),),
        keypoints=COCO_17, make_decoder=lambda c: HeatmapDecoder("heatmaps", 4, Refinement.DARK, logits=True),
        make_encoder=lambda c: HeatmapEncoder("heatmaps", 4, (16, 16), 2.0),
        losses={"heatmaps": losses.spatial_softmax_ce}, schedule=schedule, tiny_schedule=schedule,
        tolerances=DEFAULT_TOLERANCES)


def clash():
    return dataclasses.replace(spec(), name="hourglass")
'''


def _distribution(site: Path, name: str, entry_points: str) -> None:
    """An installed distribution as importlib.metadata finds it: a .dist-info folder on sys.path."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[posepipe.models]\n{textwrap.dedent(entry_points)}")


@pytest.fixture
def plugins(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site folder outside the repo with one good plug-in and one distribution of broken ones."""
    site = tmp_path_factory.mktemp("site")
    (site / "byoplug.py").write_text(PLUGIN)
    _distribution(site, "byoplug", "plugnet = byoplug:spec\n")
    _distribution(site, "byobroken", """\
        missing = byo_not_installed:spec
        wrongtype = byoplug:PlugConfig
        clash = byoplug:clash
        """)
    monkeypatch.syspath_prepend(str(site))
    registry.reload_plugins()
    yield site
    monkeypatch.undo()
    sys.modules.pop("byoplug", None)
    registry.reload_plugins()


def test_a_plugin_model_joins_the_zoo_and_broken_ones_are_named(plugins: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    """`posepipe list` shows the plug-in's model with its distribution; each broken entry
    point is one warning line naming it and its distribution, and the rest still lists."""
    names = invoke(capfd, "list", "--names")
    assert names.code == 0 and "plugnet" in names.out.split() and "hourglass" in names.out.split()
    warnings = sorted(line for line in names.err.splitlines() if line.startswith("posepipe: warning:"))
    assert warnings == [
        "posepipe: warning: plug-in byobroken 0.1, entry point 'clash' (byoplug:clash): its model 'hourglass' is "
        "already a model of the zoo; skipped",
        "posepipe: warning: plug-in byobroken 0.1, entry point 'missing' (byo_not_installed:spec): No module named "
        "'byo_not_installed'; skipped",
        "posepipe: warning: plug-in byobroken 0.1, entry point 'wrongtype' (byoplug:PlugConfig): gives a PlugConfig, "
        "not a posepipe ModelSpec (or a callable returning one); skipped",
    ]
    assert registry.source("plugnet") == "plug-in byoplug 0.1" and registry.source("hourglass") == "zoo"
    # The table builds every listed model at its default size (the zoo's take ~40 s: test_cli covers
    # them); narrowed to the plug-in, it shows the row and where it came from.
    monkeypatch.setattr(registry, "_SPECS", {"plugnet": registry.get("plugnet")})
    table = invoke(capfd, "list")
    assert table.code == 0, table.err
    row = next(line for line in table.out.splitlines() if "plugnet" in line)
    assert "plug-in" in row and "64x64" in row and "a test's" in row


def test_a_plugin_model_runs_to_verified_files(plugins: Path, zoo: TinyZoo, in_tmp: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    """Every command takes the plug-in's name: `run` converts its checkpoint and verifies each file."""
    import keras

    spec = registry.get("plugnet")
    checkpoint = in_tmp / "plugnet.keras"
    keras.utils.set_random_seed(0)
    spec.build(spec.default).save(checkpoint)
    result = invoke(capfd, "run", "plugnet", "--checkpoint", checkpoint, *quick(zoo, in_tmp / "cache"))
    assert result.code == 0, result.err
    assert verified(in_tmp, "plugnet")["decoder"] == "heatmap-dark"


def test_a_plugin_s_own_code_is_part_of_its_keys(plugins: Path) -> None:
    """Editing the plug-in's module re-keys its checkpoint and files, as editing a zoo
    model's module does (its code lives outside posepipe's models/)."""
    from posepipe.pipeline.engine.keys import model_sources

    spec, zoo_model = registry.get("plugnet"), registry.get("hourglass")
    before = model_sources(spec), model_sources(zoo_model)
    module = plugins / "byoplug.py"
    module.write_text(module.read_text() + "\n# an edit to the plug-in\n")
    assert model_sources(spec) != before[0]
    assert model_sources(zoo_model) == before[1]  # a zoo model does not depend on it
