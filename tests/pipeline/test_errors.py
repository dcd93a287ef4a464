"""Issue 22's failures, each one line with its own exit code and no traceback:
corrupted artifacts in every command that opens one (18), the file system
refusing a path (28), malformed index entries (20), config values out of range
before any work (12), bad annotations through the CLI (6), an image too large
(29), a checkpoint folder (4); and ``--traceback``/POSEPIPE_DEBUG=1 for a bug
report, while a bug keeps its traceback."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from posepipe.models.errors import FileSystemError, PosepipeError
from tests.support.harness import Result, TinyZoo, invoke

RUN = Path("artifacts") / "hourglass"


def one_line(result: Result, code: int, *expected: str) -> str:
    """The result failed with ``code`` and exactly one error line holding ``expected``."""
    assert result.code == code, result.err
    assert len(result.error_lines) == 1 and "Traceback" not in result.err, result.err
    line = result.error_lines[0]
    for text in expected:
        assert text in line, line
    return line


def copy_run(tiny_run: Path, into: Path) -> Path:
    shutil.copytree(tiny_run / RUN, into / "run")
    return into / "run"


def truncated(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:3000])
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(5000)))
    return path


# --- corrupted artifacts: exit 18 in every command that opens one --------------------------------

@pytest.mark.parametrize(("name", "spoil", "runtime"), [
    ("hourglass-fp32.tflite", truncated, "LiteRT cannot load it"),
    ("hourglass-fp32.onnx", random_bytes, "ONNX Runtime cannot load it"),
])
def test_validate_refuses_an_unloadable_file_before_any_work(
        name: str, spoil: Any, runtime: str, zoo: TinyZoo, tiny_run: Path, in_tmp: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    artifact = spoil(copy_run(tiny_run, in_tmp) / name)
    result = invoke(capfd, "validate", artifact, "--checkpoint", zoo.checkpoint("hourglass"), "--preset", "tiny",
                    "--data", zoo.data, "--cache", zoo.cache)
    one_line(result, 18, str(artifact), runtime)
    assert "reference:" not in result.err  # refused before the checkpoint and the val set were read


@pytest.mark.parametrize(("name", "spoil", "listed"), [
    ("hourglass-fp32.tflite", truncated, True),  # its manifest lists the bytes it had
    ("hourglass-fp32.onnx", random_bytes, False),  # alone in a folder
])
def test_predict_refuses_an_unloadable_file(name: str, spoil: Any, listed: bool, zoo: TinyZoo, tiny_run: Path,
                                            in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = copy_run(tiny_run, in_tmp) if listed else in_tmp
    artifact = spoil(folder / name)
    result = invoke(capfd, "predict", artifact, zoo.data / "val" / "000000.jpg", "--out", in_tmp / "predictions")
    one_line(result, 18, str(artifact), "cannot load it")
    assert not (in_tmp / "predictions").exists()


def test_inspect_refuses_an_mlpackage_without_its_weights(tiny_run: Path, in_tmp: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    package = copy_run(tiny_run, in_tmp) / "hourglass-fp32.mlpackage"
    assert invoke(capfd, "inspect", package).code == 0
    next(package.rglob("weight.bin")).unlink()
    one_line(invoke(capfd, "inspect", package), 18, "hourglass-fp32.mlpackage", "weight.bin")


# --- the file system: exit 28, the path and the system's reason ------------------------------------

def test_an_output_folder_under_a_regular_file(zoo: TinyZoo, tiny_run: Path, in_tmp: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    (in_tmp / "a-file").write_text("in the way")
    run = invoke(capfd, *zoo.run_args("hourglass", "--formats", "tflite", "--out", "a-file/artifacts"))
    one_line(run, 28, "a-file", "Not a directory")
    cache = invoke(capfd, "train", "hourglass", "--preset", "tiny", "--cache", "a-file/cache", "--epochs", "1")
    one_line(cache, 28, "a-file/cache", "Not a directory")
    artifact = tiny_run / RUN / "hourglass-fp32.tflite"
    predict = invoke(capfd, "predict", artifact, zoo.data / "val" / "000000.jpg", "--out", "a-file/predictions")
    one_line(predict, 28, "--out a-file/predictions: is under a-file, which is a file, not a folder")
    assert "predict:" not in predict.err  # refused before the file was run
    assert (in_tmp / "a-file").read_text() == "in the way"


def test_a_cache_the_user_may_not_write(zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only folder, as the kernel refuses it to anyone but root (the suite may run as root)."""
    cache = in_tmp / "cache"
    cache.mkdir()
    real_mkdir = os.mkdir

    def read_only(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(os.fsdecode(path)).is_relative_to(cache):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only)
    result = invoke(capfd, "train", "hourglass", "--preset", "tiny", "--cache", cache, "--epochs", "1")
    one_line(result, 28, str(cache), "Permission denied")


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk raises on write with no file name; the writer names its file
    (tests/pipeline/test_faults.py fills a real tmpfs during a run's manifest write)."""
    from posepipe.pipeline.engine.atomic import write_json

    def full(self: Path, *args: Any, **kwargs: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(FileSystemError) as error:
        write_json(tmp_path / "manifest.json", {"passed": True})
    assert str(error.value) == f"{tmp_path / 'manifest.json'}: No space left on device"
    assert error.value.exit_code == 28 and sorted(tmp_path.iterdir()) == []


def test_any_file_system_error_that_escapes_is_one_line(capfd: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from posepipe.pipeline.delivery import inspect

    def read_only(path: Path) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "/mnt/ro/cache", None)

    monkeypatch.setattr(inspect, "inspect_artifact", read_only)
    one_line(invoke(capfd, "inspect", "x.onnx"), 28, "posepipe: error: /mnt/ro/cache: Read-only file system")


# --- malformed index entries: exit 20 naming the entry and the field -------------------------------

def _entry(**fields: Any) -> dict[str, Any]:
    entry = {"model": "hourglass", "file": "hourglass-fp32.tflite", "path": "hourglass/hourglass-fp32.tflite",
             "format": "tflite", "precision": "fp32", "sha256": "ab" * 32, "bytes": 4, "passed": True,
             "status": "passed", **fields}
    return {k: v for k, v in entry.items() if v is not ...}


INDEX_CASES = {
    "entry not an object": ([["hourglass"]], "artifacts[0] is a list, not an object"),
    "no passed": ([_entry(passed=...)], "artifacts[0] (hourglass-fp32.tflite): 'passed' is missing (expected true "
                                        "or false); whether the file passed validation must be listed"),
    "passed a string": ([_entry(passed="yes")], "'passed' is 'yes', not true or false"),
    "passed and status disagree": ([_entry(passed=False)], "'passed' is false but 'status' is 'passed'; the index "
                                                           "contradicts itself"),
    "format a number": ([_entry(), _entry(format=3)], "artifacts[1] (hourglass-fp32.tflite): 'format' is 3, not a "
                                                      "string"),
    "short digest": ([_entry(sha256="abc")], "'sha256' is 'abc', not 64 lowercase hex digits"),
    "negative size": ([_entry(bytes=-1)], "'bytes' is -1, not a whole number of bytes"),
    "size a boolean": ([_entry(bytes=True)], "'bytes' is True, not a whole number of bytes"),
    "files not a list": ([_entry(files={})], "'files' is {}, not a non-empty list"),
    "a file without a path": ([_entry(files=[{"sha256": "ab" * 32, "bytes": 1}])],
                              "files[0].path is missing (expected a string)"),
}


@pytest.mark.parametrize("case", list(INDEX_CASES))
def test_a_malformed_index_entry_is_refused_naming_it(case: str, in_tmp: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    entries, message = INDEX_CASES[case]
    host = in_tmp / "host"
    host.mkdir()
    (host / "index.json").write_text(json.dumps({"schema": 1, "artifacts": entries}))
    result = invoke(capfd, "pull", "hourglass", "--format", "tflite", "--precision", "fp32", "--from", host,
                    "--to", in_tmp / "dest")
    line = one_line(result, 20, f"{host}: index.json artifacts[", message)
    assert "validation failed" not in line
    assert not (in_tmp / "dest").exists()


def test_an_index_of_another_schema_is_refused(in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (in_tmp / "index.json").write_text(json.dumps({"schema": 2, "artifacts": [_entry()]}))
    result = invoke(capfd, "pull", "hourglass", "--format", "tflite", "--precision", "fp32", "--from", in_tmp,
                    "--to", in_tmp / "dest")
    one_line(result, 20, "index.json has schema 2; this posepipe reads schema 1")


# --- config values before any work: exit 12 ------------------------------------------------------

@pytest.mark.parametrize("value", ["-5", "0"])
def test_an_input_size_out_of_range_stops_train_and_run_before_any_work(
        value: str, zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    train = invoke(capfd, "train", "hourglass", "--preset", "tiny", "--data", zoo.data, "--cache", in_tmp / "cache",
                   "-o", f"input_size={value}", "--out", in_tmp / "ckpt")
    one_line(train, 12, f"-o input_size={value}: must be from 1 to 1024 (hourglass")
    run = invoke(capfd, "run", "hourglass", "--preset", "tiny", "--cache", in_tmp / "cache", "-o",
                 f"input_size={value}")
    one_line(run, 12, f"-o input_size={value}: must be from 1 to 1024")
    assert "training" not in train.err + run.err and "synthetic data" not in run.err
    assert sorted(p.name for p in in_tmp.iterdir()) == []


# --- annotations through the CLI --------------------------------------------------------------------

def _annotations(data: Path, split: str = "train") -> tuple[Path, dict[str, Any]]:
    path = data / "annotations" / f"person_keypoints_{split}.json"
    return path, json.loads(path.read_text())


ANNOTATION_CASES = {
    "non-numeric area": (lambda a: a.update(area="big"), "annotations[0].area is a string 'big', not a finite number"),
    "infinite bbox": (lambda a: a["bbox"].__setitem__(0, float("inf")), "annotations[0].bbox[0] is inf, not a finite"),
    "NaN keypoint": (lambda a: a["keypoints"].__setitem__(0, float("nan")), "annotations[0].keypoints[0] is nan"),
    "visibility 7": (lambda a: a["keypoints"].__setitem__(2, 7),
                     "annotations[0].keypoints[2] is 7: keypoint 0's visibility flag must be 0, 1 or 2"),
}


@pytest.mark.parametrize("case", list(ANNOTATION_CASES))
def test_bad_annotations_stop_training_naming_file_entry_and_field(
        case: str, zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    change, message = ANNOTATION_CASES[case]
    data = in_tmp / "data"
    shutil.copytree(zoo.data, data)
    path, doc = _annotations(data)
    change(doc["annotations"][0])
    path.write_text(json.dumps(doc))
    result = invoke(capfd, "train", "hourglass", "--preset", "tiny", "--data", data, "--epochs", "1", "--out",
                    in_tmp / "ckpt")
    one_line(result, 6, f"{path}: {message}")
    assert not (in_tmp / "ckpt").exists()


def test_a_zero_size_box_is_skipped_with_a_note_and_the_file_still_validates(
        zoo: TinyZoo, tiny_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = in_tmp / "data"
    shutil.copytree(zoo.data, data)
    path, doc = _annotations(data, "val")
    doc["annotations"][3]["bbox"][2] = 0
    path.write_text(json.dumps(doc))
    result = invoke(capfd, "validate", tiny_run / RUN / "hourglass-fp32.tflite", "--checkpoint",
                    zoo.checkpoint("hourglass"), "--preset", "tiny", "--data", data, "--cache", zoo.cache)
    assert result.code == 0, result.err
    assert "person_keypoints_val.json: 1 annotation(s) not used as written: 1 box of zero width or height" in result.err


# --- smaller ones ---------------------------------------------------------------------------------

def test_a_large_image_is_decoded_quietly_and_a_too_large_one_refused(
        zoo: TinyZoo, tiny_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PIL warns past MAX_IMAGE_PIXELS (89 M pixels: a 10000x10000 photo) and refuses
    twice that; the limit is lowered here so a 300x300 image stands in for both."""
    from PIL import Image

    image = in_tmp / "large.png"
    Image.new("RGB", (300, 300), (90, 120, 150)).save(image)
    artifact = tiny_run / RUN / "hourglass-fp32.tflite"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60_000)  # 90 000 pixels: over it, under twice it
    quiet = invoke(capfd, "predict", artifact, image, "--out", in_tmp / "out")
    assert quiet.code == 0 and "DecompressionBomb" not in quiet.err and "warning" not in quiet.err.lower(), quiet.err
    assert (in_tmp / "out" / "large_keypoints.json").is_file()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000)  # twice it is 80 000: refused
    one_line(invoke(capfd, "predict", artifact, image, "--out", in_tmp / "refused"), 29, f"{image}: too large to "
             "decode", "90000 pixels")
    assert not (in_tmp / "refused").exists()


def test_a_checkpoint_folder_is_not_called_missing(zoo: TinyZoo, in_tmp: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    folder = zoo.checkpoint("hourglass").parent
    result = invoke(capfd, *zoo.run_args("hourglass")[:-2], "--checkpoint", folder, "--formats", "tflite")
    line = one_line(result, 4, f"{folder} is a folder")
    assert "not found" not in line and "model.keras" in line


# --- the debug flag, and bugs ----------------------------------------------------------------------

@pytest.mark.parametrize("debug", ["flag", "variable"])
def test_traceback_on_request_and_the_same_exit_code(debug: str, in_tmp: Path, capfd: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    plain = invoke(capfd, "inspect", "gone.tflite")
    one_line(plain, 16, "gone.tflite: artifact not found")
    if debug == "flag":
        shown = invoke(capfd, "--traceback", "inspect", "gone.tflite")
    else:
        monkeypatch.setenv("POSEPIPE_DEBUG", "1")
        shown = invoke(capfd, "inspect", "gone.tflite")
    assert shown.code == 16 and "Traceback (most recent call last)" in shown.err
    assert "ArtifactNotFoundError: gone.tflite: artifact not found" in shown.err
    assert shown.error_lines == plain.error_lines


def test_a_multi_line_message_is_printed_on_one_line(capfd: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from posepipe.pipeline.delivery import inspect

    def fails(path: Path) -> None:
        raise PosepipeError("first line\n  second line\n")

    monkeypatch.setattr(inspect, "inspect_artifact", fails)
    result = invoke(capfd, "inspect", "x.onnx")
    assert result.code == 1 and result.error_lines == ["posepipe: error: first line; second line"]


def test_a_bug_keeps_its_traceback(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Only errors a user can fix are one line: anything else propagates, so Python
    prints its traceback and exits 1, and a bug report has what it needs."""
    from posepipe.pipeline.delivery import inspect

    def bug(path: Path) -> None:
        raise KeyError("format")

    monkeypatch.setattr(inspect, "inspect_artifact", bug)
    with pytest.raises(KeyError, match="format"):
        invoke(capfd, "inspect", "x.onnx")
