"""``--checkpoint`` in the containers people have: the tiny hourglass's weights saved
as .keras, a whole-model .h5, a Keras-2-style weights-only .h5 and a SavedModel
(``model.export()``) give the same weights digest, the same artifact keys and the
same TFLite and ONNX bytes; a container of another architecture is refused (exit 5)
and anything that is no checkpoint is named as such (exit 4), each in one line."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from posepipe import models
from posepipe.pipeline.engine.hashing import sha256_path
from tests.support.harness import TinyZoo, invoke, read_manifest

FILES = ["hourglass-fp32.tflite", "hourglass-fp32.onnx"]
FORMATS = ("keras", "h5", "h5-weights", "savedmodel")
ACCEPTED = "give a .keras or .h5 file or a SavedModel folder"


def _args(zoo: TinyZoo, checkpoint: Path, *extra: str) -> list[str]:
    args = zoo.run_args("hourglass")
    at = args.index("--checkpoint")
    return [*args[:at], "--checkpoint", str(checkpoint), *args[at + 2:],
            "--formats", "tflite,onnx", "--targets", "host-cpu-1t", *extra]


def _converted(err: str) -> list[str]:
    return [line.split("convert: ", 1)[1] for line in err.splitlines() if line.startswith("> convert: ")]


def _keras_2_weights(model: Any, path: Path) -> None:
    """``model``'s weights as TF2 Keras' ``save_weights("x.h5")`` writes them: every
    layer in ``layer_names``, its weights trainable first, named ``layer/weight:0``,
    a DepthwiseConv2D's kernel as ``depthwise_kernel`` (Keras 3 renamed it)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.15.0"
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = []
            for weight in layer.trainable_weights + layer.non_trainable_weights:
                leaf = weight.path.rpartition("/")[2]
                if type(layer).__name__ == "DepthwiseConv2D" and leaf == "kernel":
                    leaf = "depthwise_kernel"
                names.append(f"{layer.name}/{leaf}:0".encode())
                group.create_dataset(names[-1].decode(), data=np.asarray(weight))
            group.attrs["weight_names"] = names


@pytest.fixture(scope="module")
def containers(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny hourglass checkpoint's weights in each container."""
    model = zoo.model("hourglass")
    root = tmp_path_factory.mktemp("containers")
    made = {"keras": root / "model.keras", "h5": root / "model.h5", "h5-weights": root / "weights.h5",
            "savedmodel": root / "savedmodel"}
    model.save(made["keras"])
    model.save(made["h5"])
    _keras_2_weights(model, made["h5-weights"])
    model.export(made["savedmodel"], verbose=False)
    return made


def test_the_same_weights_in_every_container_give_the_same_artifacts(
        zoo: TinyZoo, containers: dict[str, Path], in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    manifests = {}
    for name in FORMATS:
        out = in_tmp / name / "artifacts"
        result = invoke(capfd, *_args(zoo, containers[name], "--out", out))
        assert result.code == 0, result.err
        assert _converted(result.err) == FILES  # each made its own files: no cache shared across folders
        manifests[name] = read_manifest(in_tmp / name, "hourglass")
        if name == "keras":  # straight away: a source edited meanwhile would change the keys too
            again = invoke(capfd, *_args(zoo, containers["savedmodel"], "--out", out))
            assert again.code == 0 and _converted(again.err) == [], again.err  # same weights: same keys
            assert read_manifest(in_tmp / name, "hourglass")["checkpoint"]["format"] == "savedmodel"

    assert [m["checkpoint"]["format"] for m in manifests.values()] == list(FORMATS)
    assert len({m["checkpoint"]["sha256"] for m in manifests.values()}) == len(FORMATS)  # four containers
    assert len({m["checkpoint"]["weights_sha256"] for m in manifests.values()}) == 1  # one set of weights
    files = [{e["file"]: e["sha256"] for e in m["artifacts"]} for m in manifests.values()]
    assert sorted(files[0]) == sorted(FILES) and all(f == files[0] for f in files)
    for name in FORMATS:  # the manifests vouch for bytes that are really there
        assert all(sha256_path(in_tmp / name / "artifacts" / "hourglass" / f) == h for f, h in files[0].items())


def _other(config_change: dict[str, Any], save: str) -> Any:
    """A maker of a checkpoint of the tiny hourglass with ``config_change``, saved by ``save``."""
    def make(root: Path) -> Path:
        spec = models.get("hourglass")
        model = spec.build(dataclasses.replace(spec.tiny, **config_change))
        if save == "h5":
            model.save(root / "other.h5")
            return root / "other.h5"
        if save == "h5-weights":
            _keras_2_weights(model, root / "other-weights.h5")
            return root / "other-weights.h5"
        model.export(root / "other-savedmodel", verbose=False)
        return root / "other-savedmodel"
    return make


def _folder(root: Path) -> Path:
    (root / "run1" / "variables").mkdir(parents=True)
    return root / "run1"


def _training_folder(root: Path) -> Path:
    """What ``posepipe train --out ckpt`` writes: the checkpoint is the file inside."""
    (root / "ckpt" / "epochs").mkdir(parents=True)
    (root / "ckpt" / "model.keras").write_bytes(b"")
    return root / "ckpt"


def _tiny_hourglass() -> Any:
    spec = models.get("hourglass")
    return spec.build(spec.tiny)


def _keras_3_weights(root: Path) -> Path:
    _tiny_hourglass().save_weights(root / "model.weights.h5")
    return root / "model.weights.h5"


def _renamed_keras(root: Path) -> Path:
    _tiny_hourglass().save(root / "model.keras")
    return (root / "model.keras").rename(root / "model.zip")


def _file(name: str, content: bytes) -> Any:
    def make(root: Path) -> Path:
        (root / name).write_bytes(content)
        return root / name
    return make


def _zip_without_config(root: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(root / "model.pt", "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x04N.")
    return root / "model.pt"


REFUSED = {
    "h5 of another input size": (_other({"input_size": (96, 96)}, "h5"), 5,
                                 r"other.h5: input 96x96x3, but hourglass with this config takes 64x64x3$"),
    "h5 of other channels": (_other({"channels": 24}, "h5"), 5,
                             r"other.h5: weight stem_ir4_project/kernel has shape \(1, 1, 96, 16\), hourglass "
                             r"expects \(1, 1, 96, 8\)$"),
    "weights of a shallower hourglass": (_other({"depth": 1}, "h5-weights"), 5,
                                         r"other-weights.h5: \d+ weight tensors, but hourglass with this config has "
                                         r"182 \(first unmatched: hg2_\w+/\w+\)$"),
    "savedmodel of another input size": (_other({"input_size": (96, 96)}, "savedmodel"), 5,
                                         r"other-savedmodel: input 96x96x3, but hourglass with this config takes "
                                         r"64x64x3$"),
    "savedmodel of a deeper hourglass": (_other({"depth": 3}, "savedmodel"), 5,
                                         r"other-savedmodel: \d+ weight tensors, but hourglass with this config has "
                                         r"182 \(first unmatched: hg3_\w+/\w+\)$"),
    "folder without saved_model.pb": (_folder, 4, rf"run1 is a folder without saved_model.pb; {ACCEPTED}$"),
    "posepipe train's folder": (_training_folder, 4, rf"ckpt is a folder without saved_model.pb; {ACCEPTED} "
                                                     r"\(did you mean \S+/ckpt/model.keras\?\)$"),
    "keras 3 weights": (_keras_3_weights, 4, r"model.weights.h5: a Keras 3 .weights.h5 file .*give the whole model"),
    "keras zip not named .keras": (_renamed_keras, 4, r"model.zip: a Keras model whose name does not end in .keras"),
    "garbage named .h5": (_file("garbage.h5", b"\x00garbage bytes" * 64), 4,
                          rf"garbage.h5: not a Keras model, Keras weights or SavedModel; {ACCEPTED}$"),
    "a zip that is not Keras": (_zip_without_config, 4, rf"model.pt: a zip file but not a Keras model .*{ACCEPTED}$"),
    "an HDF5 file of something else": (lambda root: _h5_of_other_data(root / "data.h5"), 4,
                                       rf"data.h5: an HDF5 file but not a Keras model or Keras weights; {ACCEPTED}$"),
}


def _h5_of_other_data(path: Path) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 3)))
    return path


@pytest.mark.parametrize("case", REFUSED)
def test_a_container_that_is_not_this_model_is_refused_in_one_line(
        case: str, zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    make, code, message = REFUSED[case]
    result = invoke(capfd, *_args(zoo, make(in_tmp)))
    assert result.code == code, result.err
    assert len(result.error_lines) == 1 and re.search(message, result.error_lines[0]), result.err
    assert "Traceback" not in result.err
    assert not (in_tmp / "artifacts" / "hourglass").exists() or not any((in_tmp / "artifacts" / "hourglass").iterdir())

