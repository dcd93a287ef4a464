"""The stage engine: a rerun does only what changed and says what was up to date,
a record is trusted only while its files are intact, the worker pool builds the
same bytes as one process, and a run killed at any point leaves nothing that a
later run (or a reader of the manifest) would wrongly trust."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.pipeline.engine.records import StageCache
from tests.support.harness import TinyZoo, invoke, read_manifest

FILES = ("hourglass-fp32.tflite", "hourglass-fp32.onnx")


def _args(zoo: TinyZoo, *extra: str) -> list[str]:
    return [*zoo.run_args("hourglass"), "--formats", "tflite,onnx", "--targets", "host-cpu-1t", *extra]


def _converted(err: str) -> list[str]:
    return [line.split("convert: ", 1)[1] for line in err.splitlines() if line.startswith("> convert: ")]


def _state(folder: Path) -> dict[str, tuple[int, str]]:
    return {p.name: (p.stat().st_mtime_ns, sha256_path(p)) for p in sorted(folder.iterdir())}


def test_a_rerun_redoes_only_the_stages_whose_inputs_changed(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    first = invoke(capfd, *_args(zoo))
    assert first.code == 0, first.err
    assert _converted(first.err) == list(FILES)
    folder = in_tmp / "artifacts" / "hourglass"
    before = _state(folder)

    again = invoke(capfd, *_args(zoo))
    assert again.code == 0, again.err
    assert _converted(again.err) == [] and "latency: hourglass" not in again.err
    assert "artifacts up to date: hourglass-fp32.tflite, hourglass-fp32.onnx" in again.err
    assert "manifest: up to date" in again.err and "report: up to date" in again.err
    assert ", 0 run;" in again.err
    assert _state(folder) == before  # not one file rewritten, the manifest included

    with (folder / "hourglass-fp32.onnx").open("ab") as handle:  # a record vouches for its bytes only
        handle.write(b"\0")
    mended = invoke(capfd, *_args(zoo))
    assert mended.code == 0 and _converted(mended.err) == ["hourglass-fp32.onnx"], mended.err
    manifest = read_manifest(in_tmp, "hourglass")
    assert all(sha256_path(folder / e["file"]) == e["sha256"] for e in manifest["artifacts"])

    timed = invoke(capfd, *_args(zoo, "--bench-runs", "3"))  # a latency setting: timings only
    assert timed.code == 0 and _converted(timed.err) == []
    assert "> latency: hourglass-fp32.tflite" in timed.err
    assert read_manifest(in_tmp, "hourglass")["latency"]["settings"]["runs"] == 3

    forced = invoke(capfd, *_args(zoo, "--force"))
    assert forced.code == 0 and _converted(forced.err) == list(FILES)
    assert "stages: 0 up to date" in forced.err


def test_a_stage_record_needs_its_key_and_its_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    made = out / "file.bin"
    made.write_bytes(b"bytes")
    stages = StageCache(tmp_path / "stages", out)
    stages.put("stage", "k1", {"answer": 42}, [made])
    assert stages.get("stage", "k1") == {"answer": 42}
    assert stages.get("stage", "k2") is None  # an input changed
    assert StageCache(tmp_path / "stages", tmp_path / "elsewhere").get("stage", "k1") is None
    assert StageCache(tmp_path / "stages", out, force=True).get("stage", "k1") is None
    made.write_bytes(b"other bytes")
    assert stages.get("stage", "k1") is None  # the file is not what the record describes
    made.write_bytes(b"bytes")
    for record in (tmp_path / "stages").iterdir():
        record.write_text('{"key": "k1", "value":')  # a torn record is no record
    assert stages.get("stage", "k1") is None


def test_the_worker_pool_builds_the_same_bytes_as_one_process(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """fp16 too: the tiny fp16 ONNX file fails its agreement check, the same way
    in both runs; its bytes must be the same all the same."""
    one = invoke(capfd, *_args(zoo, "--out", "one", "--precisions", "fp32,fp16"))
    pooled = invoke(capfd, *_args(zoo, "--out", "pool", "--precisions", "fp32,fp16", "--jobs", "2"))
    assert pooled.code == one.code and one.error_lines[-1:] == [
        line.replace("pool/", "one/") for line in pooled.error_lines[-1:]], pooled.err
    assert "convert: 4 artifacts on 2 worker processes" in pooled.err
    assert all(f"{name}: passed" in pooled.err for name in FILES)
    first, second = (json.loads((in_tmp / o / "hourglass" / "manifest.json").read_text()) for o in ("one", "pool"))
    assert first["reproducible"] == {"tflite": True, "onnx": True}
    digests = [{e["file"]: e["sha256"] for e in m["artifacts"]} for m in (first, second)]
    assert digests[0] == digests[1] and len(digests[0]) == 4
    assert all(line.startswith((">", " ", "warning:", "hourglass", "FAILED", "posepipe: error:"))
               for line in pooled.err.splitlines() if line.strip()), pooled.err  # nothing from the workers


# --- killed runs ----------------------------------------------------------------------------

def _posepipe(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CI": "true"}
    with log.open("wb") as handle:
        # ^C's default action restored: a suite started in the background by a script
        # (as CI may start it) runs with SIGINT ignored, which stays ignored across exec.
        return subprocess.Popen([sys.executable, "-c", "from posepipe.pipeline.cli.main import main; main()", *args],
                                cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], sig: signal.Signals) -> int:
    deadline = time.monotonic() + 240
    while not ready():
        assert process.poll() is None, "the run ended before the point it was to be killed at"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(sig)
    return process.wait(timeout=120)


def _trusted_files_are_intact(folder: Path) -> None:
    """Whatever manifest is there vouches only for the bytes it names."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        for entry in json.loads(manifest.read_text())["artifacts"]:
            assert sha256_path(folder / entry["file"]) == entry["sha256"]


def test_a_killed_run_leaves_nothing_trusted_and_the_next_run_completes(zoo: TinyZoo, tmp_path: Path) -> None:
    # Timing long enough (20000 runs, capped at --bench-max-secs) that the ^C lands in it:
    # the log lags the run, and a tiny model's 20 runs are over before the line is read.
    args = _args(zoo, "--formats", "tflite", "--precisions", "fp32,fp16", "--bench-runs", "20000",
                 "--bench-max-secs", "6")
    folder, log = tmp_path / "artifacts" / "hourglass", tmp_path / "run.log"
    points: list[tuple[Callable[[], bool], signal.Signals]] = [
        # SIGKILL mid-conversion: a temporary folder exists (the file is being written)
        (lambda: folder.is_dir() and any(p.name.startswith(".tmp-") for p in folder.iterdir()), signal.SIGKILL),
        # ^C while timing: every artifact built, the manifest not yet written
        (lambda: "> latency: hourglass-fp" in log.read_text(), signal.SIGINT),
        # SIGKILL while the report is drawn, after the manifest
        (lambda: "> report: overlays" in log.read_text(), signal.SIGKILL),
    ]
    for ready, sig in points:
        code = _kill_when(_posepipe(args, tmp_path, log), ready, sig)
        assert code == (130 if sig is signal.SIGINT else -signal.SIGKILL), log.read_text()
        _trusted_files_are_intact(folder)
        assert not (folder / "report.html").exists() or (folder / "manifest.json").exists()
    final = _posepipe(args, tmp_path, log)
    assert final.wait(timeout=300) == 0, log.read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(e["file"] for e in manifest["artifacts"]) == ["hourglass-fp16.tflite", "hourglass-fp32.tflite"]
    assert manifest["passed"] and all(e["validation"]["status"] == "passed" for e in manifest["artifacts"])
    _trusted_files_are_intact(folder)
    assert not any(p.name.startswith(".tmp-") for p in folder.iterdir())
    assert (folder / "report.html").is_file()


def test_two_processes_build_byte_identical_tflite_and_onnx_files(zoo: TinyZoo, tmp_path: Path) -> None:
    """Each in a fresh process started as the command starts: the same checkpoint,
    calibration set and settings give the same bytes at fp32, fp16 and int8."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    logs = [tmp_path / f"{name}.log" for name in ("first", "second")]
    runs = [subprocess.Popen([sys.executable, "-m", "tests.support.reproduce", str(zoo.checkpoint("hourglass")),
                              str(zoo.data), str(tmp_path / log.stem)], env=env, cwd=Path(__file__).parents[2],
                             stdout=log.open("wb"), stderr=subprocess.STDOUT)
            for log in logs]
    for run, log in zip(runs, logs, strict=True):
        assert run.wait(timeout=600) == 0, log.read_text()[-3000:]
    files = [{p.name: sha256_path(p) for p in (tmp_path / name).glob("hourglass-*")} for name in ("first", "second")]
    assert len(files[0]) == 6 and files[0] == files[1]
