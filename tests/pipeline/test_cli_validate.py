"""``posepipe validate ARTIFACT --checkpoint ...``: an honest file passes, a
tampered one fails after the fact, and bad input is one line with its own
exit code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.harness import TinyZoo, invoke


@pytest.fixture(scope="module")
def artifacts(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run's Core ML mlprogram and its manifest, made once."""
    from posepipe.pipeline.cli.main import main

    root = tmp_path_factory.mktemp("validate-cli")
    try:
        main([*zoo.run_args("hourglass", "--formats", "coreml"), "--out", str(root)])
    except SystemExit as exit_:
        assert not exit_.code
    return root / "hourglass"


def args(zoo: TinyZoo, artifact: Path, *extra: str) -> list[str]:
    return ["validate", str(artifact), "--checkpoint", str(zoo.checkpoint("hourglass")), "--preset", "tiny",
            "--data", str(zoo.data), "--cache", str(zoo.cache), *extra]


def test_an_honest_artifact_passes(zoo: TinyZoo, artifacts: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, *args(zoo, artifacts / "hourglass-fp32.mlpackage"))
    assert result.code == 0, result.err
    assert "hourglass-fp32.mlpackage" in result.out and "coreml-reference" in result.out and "passed" in result.out


def test_a_tampered_artifact_fails_after_the_fact(zoo: TinyZoo, artifacts: Path, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "hourglass"
    shutil.copytree(artifacts, folder)
    blob = folder / "hourglass-fp32.mlpackage" / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    data = bytearray(blob.read_bytes())
    middle = len(data) // 2 // 64 * 64 + 64
    data[middle: middle + 8] = b"\x00\x00\x40\x40\x00\x00\x40\xc0"  # two weights become 3.0 and -3.0
    blob.write_bytes(bytes(data))
    result = invoke(capfd, *args(zoo, folder / "hourglass-fp32.mlpackage"))
    assert result.code == 10, result.err
    assert "sha256 differs from the one" in result.err
    assert len(result.error_lines) == 1 and "hourglass-fp32.mlpackage failed" in result.error_lines[0]


CASES = {
    "missing artifact": (lambda a, r: r / "hourglass-fp32.mlpackage", (), 16, r"artifact not found"),
    "unknown artifact": (lambda a, r: (r / "hourglass-fp32.bin").write_bytes(b"x") and r / "hourglass-fp32.bin",
                         (), 17, r"not a \.tflite, \.onnx, \.ort, \.mlpackage or \.mlmodel file"),
    "unknown precision": (lambda a, r: shutil.copytree(a / "hourglass-fp32.mlpackage", r / "hourglass.mlpackage"),
                          (), 17, r"cannot tell its precision"),
    "unknown model": (lambda a, r: a / "hourglass-fp32.mlpackage", ("--model", "nope"), 3, r"unknown model 'nope'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_with_its_exit_code(case: str, zoo: TinyZoo, artifacts: Path, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    make, extra, code, message = CASES[case]
    result = invoke(capfd, *args(zoo, make(artifacts, tmp_path), *extra))
    assert result.code == code, result.err
    assert len(result.error_lines) == 1
    import re

    assert re.search(message, result.error_lines[0]), result.error_lines


def test_a_missing_checkpoint_is_its_own_error(zoo: TinyZoo, artifacts: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    bad = args(zoo, artifacts / "hourglass-fp32.mlpackage")
    bad[bad.index("--checkpoint") + 1] = "gone.keras"
    result = invoke(capfd, *bad)
    assert result.code == 4 and "gone.keras: checkpoint not found" in result.error_lines[0]
