"""``posepipe inspect FILE [--json]``: signature and embedded metadata of each of
the five formats; bad files get one line and their own exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.harness import invoke, read_manifest

FILES = ["hourglass-fp32.tflite", "hourglass-fp32.onnx", "hourglass-fp32.mlpackage", "hourglass-fp32.mlmodel",
         "hourglass-fp32.ort"]


@pytest.mark.parametrize("name", FILES)
def test_inspect_prints_signature_and_metadata(tiny_run: Path, name: str, capfd: pytest.CaptureFixture[str]) -> None:
    path = tiny_run / "artifacts" / "hourglass" / name
    entry = next(a for a in read_manifest(tiny_run, "hourglass")["artifacts"] if a["file"] == name)
    as_json = invoke(capfd, "inspect", path, "--json")
    assert as_json.code == 0, as_json.err
    info = json.loads(as_json.out)
    assert info["sha256"] == entry["sha256"] and info["bytes"] == entry["bytes"]
    assert info["inputs"] == entry["inputs"] and info["outputs"] == entry["outputs"]
    assert info["metadata"]["model"] == "hourglass" and info["metadata"]["precision"] == "fp32"
    assert info["metadata"]["keypoints"][0] == "nose" and len(info["metadata"]["skeleton"]) == 19
    text = invoke(capfd, "inspect", path)
    assert text.code == 0
    pixels = name.endswith((".mlpackage", ".mlmodel"))  # a Core ML file takes the picture's uint8 pixels
    for expected in (f"{name}: {entry['format']}", f"image [1, 64, 64, 3] {'uint8' if pixels else 'float32'}",
                     "heatmaps [1, 16, 16, 17]",
                     "keypoints (17): nose, left_eye", "left_ankle-left_knee", "decoder: heatmap-dark",
                     "license: Apache-2.0", entry["sha256"]):
        assert expected in text.out


def test_inspect_says_when_a_file_has_no_posepipe_metadata(tiny_run: Path, tmp_path: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    import onnx

    proto = onnx.load(str(tiny_run / "artifacts" / "hourglass" / "hourglass-fp32.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "plain.onnx"))
    result = invoke(capfd, "inspect", tmp_path / "plain.onnx")
    assert result.code == 0 and "metadata: none from posepipe" in result.out


@pytest.mark.parametrize(("make", "code", "message"), [
    (lambda d: d / "gone.tflite", 16, "artifact not found"),
    (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt", 17, "not a .tflite, .onnx"),
    (lambda d: (d / "bad.tflite").write_bytes(b"\x00" * 64) and d / "bad.tflite", 18, "not a readable tflite file"),
    (lambda d: (d / "bad.onnx").write_bytes(b"junk") and d / "bad.onnx", 18, "not a readable onnx file"),
])
def test_inspect_bad_files(tmp_path: Path, make, code: int, message: str,  # type: ignore[no-untyped-def]
                           capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "inspect", make(tmp_path))
    assert result.code == code and len(result.error_lines) == 1 and message in result.error_lines[0], result.err


def test_inspect_reads_a_copied_mlpackage(tiny_run: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The metadata travels with the package, not with the folder it was made in."""
    copy = tmp_path / "App.mlpackage"
    shutil.copytree(tiny_run / "artifacts" / "hourglass" / "hourglass-fp32.mlpackage", copy)
    result = invoke(capfd, "inspect", copy, "--json")
    assert result.code == 0 and json.loads(result.out)["metadata"]["model"] == "hourglass"
