"""``posepipe predict``: a tiny artifact run in its own runtime on whole images,
each image's people written as OpenPose's JSON, equal to decoding the same
outputs directly; a file its manifest does not vouch for, or a missing image,
is one line with its own exit code and nothing written."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from posepipe import models
from tests.support.harness import TinyZoo, invoke

K = 17


class _NoCapture:
    """``invoke`` outside a test (a module fixture cannot take capfd)."""

    def readouterr(self) -> object:
        from types import SimpleNamespace

        return SimpleNamespace(out="", err="(see the captured stderr)")


def _tiny_run(zoo: TinyZoo, root: Path, name: str) -> Path:
    """The artifacts/ folder of a tiny fp32 TFLite run of ``name``, built once per module."""
    result = invoke(_NoCapture(), *zoo.run_args(name, "--formats", "tflite", "--out",  # type: ignore[arg-type]
                                                str(root / "artifacts")))
    assert result.code == 0, f"tiny {name} run failed with exit code {result.code}"
    return root / "artifacts"


@pytest.fixture(scope="module")
def posenet_run(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_run(zoo, tmp_path_factory.mktemp("posenet-run"), "posenet")


@pytest.fixture(scope="module")
def hourglass_run(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_run(zoo, tmp_path_factory.mktemp("hourglass-run"), "hourglass")


def _copy_run(run: Path, into: Path) -> None:
    shutil.copytree(run, into / "artifacts")


def _val_images(zoo: TinyZoo, name: str, count: int = 2) -> list[Path]:
    return [zoo.data_for(name) / "val" / f"{i:06d}.jpg" for i in range(count)]


def _people(path: Path) -> np.ndarray:
    """The people of one OpenPose JSON file as [P, K, 3], after checking its structure."""
    document = json.loads(path.read_text())
    assert set(document) == {"version", "people", "keypoint_set", "keypoint_names"}  # OpenPose's two, and the set's
    assert isinstance(document["version"], float) and len(document["keypoint_names"]) == K
    for person in document["people"]:
        assert person["person_id"] == [-1] and len(person["pose_keypoints_2d"]) == 3 * K
        assert person["face_keypoints_2d"] == [] and person["hand_left_keypoints_2d"] == []
    return np.asarray([p["pose_keypoints_2d"] for p in document["people"]], np.float32).reshape(-1, K, 3)


def _in_image_or_zero(poses: np.ndarray, image: Path) -> bool:
    from PIL import Image

    with Image.open(image) as picture:
        width, height = picture.size
    found = poses[..., 2] > 0
    x, y = poses[..., 0], poses[..., 1]
    inside = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    return bool(np.all(np.where(found, inside, (poses == 0).all(-1))))


def _decode_directly(artifact: Path, image: Path) -> np.ndarray:
    """The same file run and decoded by hand, mapped to image pixels: what predict must write."""
    from posepipe.calibration.coco import read_image
    from posepipe.calibration.preprocess import whole_image
    from posepipe.pipeline.manifest.read import manifest_config
    from posepipe.validators.runners import runner_for

    manifest = json.loads((artifact.parent / "manifest.json").read_text())
    spec = models.get(manifest["model"])
    config = manifest_config(spec, manifest)
    pixels = read_image(image)
    crop, window = whole_image(pixels, config.input_size)
    with runner_for(artifact) as runner:
        outputs = runner.infer({spec.input.name: spec.input.normalise(crop)[None]})
    poses = window.to_image(spec.make_decoder(config).decode({k: v[0] for k, v in outputs.items()}))
    height, width = pixels.shape[:2]
    poses[..., 0] = np.clip(poses[..., 0], 0, width - 1)
    poses[..., 1] = np.clip(poses[..., 1], 0, height - 1)
    return np.where(poses[..., 2:] > 0, poses, 0.0)


def test_predict_writes_openpose_json_equal_to_decoding_directly(
        zoo: TinyZoo, posenet_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The tiny model's heatmap peaks are about 0.03 after the sigmoid, far under
    PoseNet's 0.5, so it finds nobody as trained. The copied run's manifest lowers
    the thresholds (only the file's sha256 is checked): predict must decode with
    the manifest's config, and there are people (some clamped to the border) to compare."""
    _copy_run(posenet_run, in_tmp)
    _set_config(in_tmp / "artifacts/posenet/manifest.json", score_threshold=0.02, pose_threshold=0.0)
    artifact = Path("artifacts/posenet/posenet-fp32.tflite")
    images = _val_images(zoo, "posenet")
    result = invoke(capfd, "predict", artifact, *images)
    assert result.code == 0, result.err
    written = sorted(p.name for p in (in_tmp / "predictions").iterdir())
    assert written == ["000000_keypoints.json", "000001_keypoints.json"]
    found = 0
    for image in images:
        poses = _people(in_tmp / "predictions" / f"{image.stem}_keypoints.json")
        assert _in_image_or_zero(poses, image)
        assert re.search(rf"{re.escape(str(image))}: {len(poses)} (person|people) -> "
                         rf"predictions/{image.stem}_keypoints.json", result.out), result.out
        np.testing.assert_allclose(poses, _decode_directly(artifact, image), atol=1e-3)
        found += len(poses)
    assert found > 0


def _set_config(manifest: Path, **fields: float) -> None:
    document = json.loads(manifest.read_text())
    document["config"].update(fields)
    manifest.write_text(json.dumps(document))


def test_predict_help_says_openpose_json_coco_order_and_own_runtime(capfd: pytest.CaptureFixture[str]) -> None:
    assert "predict" in invoke(capfd, "--help").out
    text = " ".join(invoke(capfd, "predict", "--help").out.split())
    for phrase in ("OpenPose's JSON", "pose_keypoints_2d", "COCO-17", "its own runtime", "--out",
                   "[default: predictions]", "one person's crop"):
        assert phrase in text, phrase


def test_a_top_down_model_finds_exactly_one_person_per_image(
        zoo: TinyZoo, hourglass_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _copy_run(hourglass_run, in_tmp)
    images = _val_images(zoo, "hourglass", 3)
    result = invoke(capfd, "predict", "artifacts/hourglass/hourglass-fp32.tflite", *images, "--out", "poses")
    assert result.code == 0, result.err
    for image in images:
        poses = _people(in_tmp / "poses" / f"{image.stem}_keypoints.json")
        assert poses.shape == (1, K, 3) and _in_image_or_zero(poses, image)
    assert result.out.count("1 person ->") == 3


def _no_manifest(root: Path) -> str:
    (root / "artifacts/posenet/manifest.json").unlink()
    return "artifacts/posenet/posenet-fp32.tflite"


def _changed_bytes(root: Path) -> str:
    path = root / "artifacts/posenet/posenet-fp32.tflite"
    path.write_bytes(path.read_bytes() + b"\0")
    return str(path.relative_to(root))


def _good(root: Path) -> str:
    return "artifacts/posenet/posenet-fp32.tflite"


ERRORS = {
    "no manifest beside the artifact": (_no_manifest, None, 19,
                                        r"^posepipe: error: artifacts/posenet/manifest.json: no manifest beside "
                                        r"posenet-fp32.tflite; "),
    "sha256 differs from the manifest's": (_changed_bytes, None, 24,
                                           r"^posepipe: error: artifacts/posenet/posenet-fp32.tflite: sha256 "
                                           r"[0-9a-f]{12}\.\.\. differs from [0-9a-f]{12}\.\.\. listed in "
                                           r"artifacts/posenet/manifest.json; the file changed after its run$"),
    "missing image": (_good, "gone.jpg", 7, r"^posepipe: error: gone.jpg: image file not found$"),
    "not an image": (_good, "notes.jpg", 7, r"^posepipe: error: notes.jpg: not a readable image \("),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_is_one_line_with_its_exit_code_and_writes_nothing(
        case: str, zoo: TinyZoo, posenet_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    break_it, bad_image, code, message = ERRORS[case]
    _copy_run(posenet_run, in_tmp)
    (in_tmp / "notes.jpg").write_text("not a picture")
    good = _val_images(zoo, "posenet", 1)
    result = invoke(capfd, "predict", break_it(in_tmp), *good, *([bad_image] if bad_image else []))
    assert result.code == code, result.err
    assert len(result.error_lines) == 1, result.err
    assert re.search(message, result.error_lines[0]), result.error_lines
    assert not (in_tmp / "predictions").exists()


def _no_artifact(root: Path) -> str:
    return "artifacts/posenet/gone.tflite"


def _not_an_artifact(root: Path) -> str:
    (root / "artifacts/posenet/notes.txt").write_text("not a model")
    return "artifacts/posenet/notes.txt"


# One cause of each kind predict can meet, as a user would meet it. A script
# tells them apart by exit code alone, so no two may share one; each is run for
# real below, not read from a table (ERRORS above fixes each code's value).
CAUSES: dict[str, tuple[Callable[[Path], str], tuple[str, ...]]] = {
    "no such artifact": (_no_artifact, ()),
    "not an artifact (unknown format)": (_not_an_artifact, ()),
    "no manifest beside the artifact": (_no_manifest, ()),
    "sha256 differs from the manifest's": (_changed_bytes, ()),
    "an unreadable image": (_good, ("gone.jpg",)),
    "two images that would write one file": (_good, ("other/000000.jpg",)),
}


def test_each_cause_of_failure_exits_with_a_code_of_its_own(
        zoo: TinyZoo, posenet_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    codes: dict[str, int] = {}
    good = _val_images(zoo, "posenet", 1)[0]
    for number, (cause, (break_it, extra)) in enumerate(CAUSES.items()):
        root = tmp_path / str(number)
        root.mkdir()
        monkeypatch.chdir(root)
        _copy_run(posenet_run, root)
        (root / "other").mkdir()
        shutil.copy(good, root / "other" / good.name)
        result = invoke(capfd, "predict", break_it(root), good, *extra)
        assert result.err.strip(), cause  # every failure says why
        assert not (root / "predictions").exists(), cause
        codes[cause] = result.code
    assert all(code not in (0, 1) for code in codes.values()), codes  # 1 is an unexpected crash, not a cause
    assert len(set(codes.values())) == len(codes), codes


def test_two_images_that_would_write_one_file_are_a_usage_error(
        zoo: TinyZoo, posenet_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _copy_run(posenet_run, in_tmp)
    image = _val_images(zoo, "posenet", 1)[0]
    (in_tmp / "other").mkdir()
    shutil.copy(image, in_tmp / "other" / image.name)
    result = invoke(capfd, "predict", "artifacts/posenet/posenet-fp32.tflite", image, f"other/{image.name}")
    assert result.code == 2 and "would both write 000000_keypoints.json" in result.err
    assert not (in_tmp / "predictions").exists()


def test_an_artifact_its_manifest_does_not_list_is_refused(
        posenet_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str], zoo: TinyZoo) -> None:
    _copy_run(posenet_run, in_tmp)
    folder = in_tmp / "artifacts/posenet"
    shutil.copy(folder / "posenet-fp32.tflite", folder / "posenet-fp16.tflite")
    result = invoke(capfd, "predict", "artifacts/posenet/posenet-fp16.tflite", *_val_images(zoo, "posenet", 1))
    assert result.code == 19
    assert result.error_lines == ["posepipe: error: artifacts/posenet/manifest.json: does not list "
                                  "posenet-fp16.tflite; predict runs only a file its run built"]
