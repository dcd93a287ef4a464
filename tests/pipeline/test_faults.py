"""Faults a run must survive without destroying what was verified (issue 22): a
disk that fills during a conversion or during the manifest write, a rebuild that
fails its checks, two runs on one folder, and a run killed at random moments.

The full disk is a real one where the suite runs as root (a small tmpfs mounted
over artifacts/, filled at the chosen moment so the run's own write hits ENOSPC);
elsewhere the same moment raises ENOSPC from a patched writer. Either way the
assertions are the same: the run stops with one line and every file of the
folder, the manifest included, has the bytes it had before.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from posepipe.models.errors import FileSystemError
from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.pipeline.engine.lock import holder, lock_path
from tests.support.harness import TinyZoo, invoke
from tests.support.verdicts import not_task_checks

MODEL = "hourglass"


def _digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (an .mlpackage's too) and its sha256."""
    return {p.relative_to(folder).as_posix(): sha256_path(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_folder_invariant(folder: Path) -> None:
    """Whatever manifest is there lists only files that exist with those sha256s,
    and a report never outlives its manifest."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        for entry in json.loads(manifest.read_text())["artifacts"]:
            if "sha256" in entry:
                assert sha256_path(folder / entry["file"]) == entry["sha256"], entry["file"]
            recipe = (entry.get("quantization") or {}).get("recipe")
            assert recipe is None or (folder / recipe).is_file(), recipe
    assert not (folder / "report.html").exists() or manifest.exists()


# --- a full disk ----------------------------------------------------------------------------

@dataclass
class Disk:
    """The file system under ``root``: a real tmpfs (``real``) or a patched one."""

    root: Path
    real: bool
    filled: bool = False

    def fill(self, path: Path) -> None:
        """Make the next write under ``root`` fail with ENOSPC."""
        self.filled = True
        if not self.real:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        fd = os.open(self.root / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        chunk = 1 << 20
        try:
            while chunk:
                try:
                    os.write(fd, bytes(chunk))
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.root / "filler").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def verified(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run's folder (ONNX fp32 and int8, the int8 file's recipe beside
    it) to copy where each test breaks the next run."""
    root = tmp_path_factory.mktemp("verified")
    result = invoke(_NoCapture(), *_args(zoo, "--out", str(root)))  # type: ignore[arg-type]
    folder = root / MODEL
    # the tiny int8 file may fail its task checks (nothing else): it is kept all the same
    entries = json.loads((folder / "manifest.json").read_text())["artifacts"]
    assert all(not_task_checks(e["validation"]["failures"]) == [] for e in entries), entries
    assert result.code == (10 if any(e["validation"]["status"] == "failed" for e in entries) else 0)
    assert {"manifest.json", "report.html", f"{MODEL}-int8.onnx.recipe.json"} <= set(_digests(folder))
    return folder


def _args(zoo: TinyZoo, *extra: str) -> list[str]:
    return [*zoo.run_args(MODEL), "--formats", "onnx", "--precisions", "fp32,int8", "--calibration-samples", "8",
            "--targets", "host-cpu-1t", "--bench-runs", "2", *extra]


class _NoCapture:
    def readouterr(self) -> object:
        from types import SimpleNamespace

        return SimpleNamespace(out="", err="")


@pytest.fixture
def disk(in_tmp: Path) -> Iterator[Disk]:
    """artifacts/ on a 64 MB tmpfs when this process may mount one, else patched."""
    root = in_tmp / "artifacts"
    root.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(root)]
    mounted = os.geteuid() == 0 and shutil.which("mount") is not None and subprocess.run(
        mount, capture_output=True, check=False).returncode == 0
    try:
        yield Disk(root, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


def _older(folder: Path, name: str) -> None:
    """Make ``name`` a verified file of other bytes than this run builds (as if an
    older converter made it): the manifest lists its new digest."""
    with (folder / name).open("ab") as handle:
        handle.write(b"\0")
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(e for e in manifest["artifacts"] if e["file"] == name)
    entry["sha256"], entry["bytes"] = sha256_path(folder / name), (folder / name).stat().st_size
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _stopped_by_a_full_disk(zoo: TinyZoo, disk: Disk, verified: Path, capfd: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch, patch: Callable[[], None]) -> str:
    folder = disk.root / MODEL
    shutil.copytree(verified, folder)
    _older(folder, f"{MODEL}-fp32.onnx")
    before = _digests(folder)
    patch()
    result = invoke(capfd, *_args(zoo, "--force"))
    monkeypatch.undo()
    disk.free()
    assert disk.filled, "the fault was never injected"
    assert result.code == FileSystemError.exit_code, result.err
    assert len(result.error_lines) == 1 and "No space left on device" in result.error_lines[0], result.err
    assert "Traceback" not in result.err
    assert _digests(folder) == before  # byte for byte: the files, their recipe, manifest.json, report.html
    assert sorted(p.name for p in folder.iterdir()) == sorted({n.split("/")[0] for n in before})
    assert invoke(capfd, "index", "--out", str(disk.root)).code == 0  # the manifest and its files agree
    return result.err


def test_a_full_disk_during_a_conversion_keeps_the_verified_files(
        zoo: TinyZoo, disk: Disk, verified: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from posepipe.converters import CONVERTERS
    from posepipe.models.formats import Format

    onnx = CONVERTERS[Format.ONNX]
    convert = onnx.convert

    def filling(request, out):  # type: ignore[no-untyped-def]
        disk.fill(out)
        return convert(request, out)

    _stopped_by_a_full_disk(zoo, disk, verified, capfd, monkeypatch,
                            lambda: monkeypatch.setattr(onnx, "convert", filling))


def test_a_full_disk_during_the_manifest_write_keeps_the_verified_files(
        zoo: TinyZoo, disk: Disk, verified: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Here the rebuilt files had already taken their names (and the old manifest
    was gone) when the disk filled: the run's snapshot puts the folder back. And
    at every rename of that publishing, the folder invariant held: a SIGKILL at
    any of those moments leaves no manifest vouching for a file it does not describe."""
    from posepipe.pipeline.run import publish

    write_text, move, moved = Path.write_text, publish.replace, []

    def filling(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.name == "manifest.json" and self.resolve().is_relative_to(disk.root.resolve()):
            disk.fill(self)
        return write_text(self, *args, **kwargs)

    def checked(source: Path, final: Path) -> None:
        assert_folder_invariant(final.parent)
        move(source, final)
        moved.append(final.name)
        assert_folder_invariant(final.parent)

    def patch() -> None:
        monkeypatch.setattr(Path, "write_text", filling)
        monkeypatch.setattr(publish, "replace", checked)

    err = _stopped_by_a_full_disk(zoo, disk, verified, capfd, monkeypatch, patch)
    assert f"> convert: {MODEL}-fp32.onnx" in err and "is back as it was before this command" in err
    assert f"{MODEL}-fp32.onnx" in moved and f"{MODEL}-int8.onnx.recipe.json" in moved


def test_a_rebuild_that_fails_its_checks_keeps_the_verified_file(
        zoo: TinyZoo, in_tmp: Path, verified: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from posepipe.pipeline.run import produce
    from posepipe.validators.validate import Status

    folder = in_tmp / "artifacts" / MODEL
    shutil.copytree(verified, folder)
    before = _digests(folder)
    validate = produce.validate

    def failing(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = validate(path, *args, **kwargs)
        return replace(result, status=Status.FAILED, failures=("planted failure",)) if "fp32" in path.name else result

    monkeypatch.setattr(produce, "validate", failing)
    result = invoke(capfd, *_args(zoo, "--force"))
    assert result.code == 10, result.err
    assert f"FAILED {MODEL}-fp32.onnx: planted failure" in result.err
    assert "kept as it was" in result.error_lines[0] and len(result.error_lines) == 1
    assert _digests(folder) == before
    rejected = zoo.cache / "logs" / MODEL / "rejected" / f"{MODEL}-fp32.onnx" / f"{MODEL}-fp32.onnx"
    assert rejected.is_file()  # the failed build, set aside for a look


# --- two runs on one folder -----------------------------------------------------------------

def _posepipe(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen([sys.executable, "-c", "from posepipe.pipeline.cli.main import main; main()", *args],
                                cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "CI": "true"},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    while not ready():
        assert process.poll() is None, log.read_text()
        time.sleep(0.05)


def test_two_runs_on_one_folder_take_turns(zoo: TinyZoo, tmp_path: Path) -> None:
    """The issue's case: run A builds fp32 and fp16, run B fp16 alone. B waits for A
    (saying so), a third with --no-wait stops at once with exit 27, and the final
    manifest (B's) lists exactly the files there, with their bytes."""
    base = [*zoo.run_args(MODEL), "--formats", "tflite", "--targets", "host-cpu-1t"]
    folder, logs = tmp_path / "artifacts" / MODEL, [tmp_path / f"{name}.log" for name in "abc"]
    # A's timings run long (up to 10 s per file), so it still holds the folder when B and C, importing, ask
    first = _posepipe([*base, "--precisions", "fp32,fp16", "--bench-runs", "100000", "--bench-max-secs", "10"],
                      tmp_path, logs[0])
    _until(lambda: (holder(folder) or None) is not None and holder(folder).pid == first.pid,  # type: ignore[union-attr]
           first, logs[0])
    second = _posepipe([*base, "--precisions", "fp16"], tmp_path, logs[1])
    third = _posepipe([*base, "--precisions", "fp16", "--no-wait"], tmp_path, logs[2])
    assert third.wait(timeout=300) == 27, logs[2].read_text()
    refused = [line for line in logs[2].read_text().splitlines() if line.startswith("posepipe: error:")]
    assert len(refused) == 1 and refused[0].endswith("; --no-wait given"), refused
    assert any(f"is being written by pid {p.pid} (posepipe run {MODEL}, since" in refused[0] for p in (first, second))
    assert first.wait(timeout=900) == 0, logs[0].read_text()
    assert second.wait(timeout=900) == 0, logs[1].read_text()
    waited = logs[1].read_text()
    assert f"being written by pid {first.pid} (posepipe run {MODEL}, since" in waited and "; waiting" in waited
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [e["file"] for e in manifest["artifacts"]] == [f"{MODEL}-fp16.tflite"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{MODEL}-fp16.tflite", f"{MODEL}-fp16.tflite.recipe.json", f"{MODEL}-golden.png", "manifest.json",
         "report.html"])
    assert_folder_invariant(folder)
    assert not lock_path(folder).exists()


# --- a run killed at random moments ---------------------------------------------------------

KILLS = 10  # kill points that landed (a run that ends first is not one)
ENDED = (0, 10)  # passed, or the tiny fp16 .onnx failed its agreement check (tests/pipeline/test_stages.py)


@pytest.mark.slow
def test_a_run_killed_at_random_moments_never_leaves_a_lying_manifest(zoo: TinyZoo, tmp_path: Path) -> None:
    """Seeded random kill points over a whole --force run (conversion in one or two
    workers, publishing, timing, the manifest, the report): SIGKILL mostly, ^C
    sometimes. After each, the folder invariant holds; a last clean run passes."""
    rng = random.Random(22)
    base = [*zoo.run_args(MODEL), "--formats", "tflite,onnx", "--precisions", "fp32,fp16", "--targets",
            "host-cpu-1t", "--force"]
    folder, log = tmp_path / "artifacts" / MODEL, tmp_path / "run.log"
    started = time.monotonic()
    assert _posepipe(base, tmp_path, log).wait(timeout=900) in ENDED, log.read_text()
    whole = time.monotonic() - started  # spreads the kill points over a run's length; nothing is asserted on it
    landed: list[tuple[float, signal.Signals, str]] = []  # when, how, and the last thing the run said
    for _ in range(2 * KILLS):
        if len(landed) == KILLS:
            break
        sig, delay = (signal.SIGINT if rng.random() < 0.25 else signal.SIGKILL), rng.uniform(0.5, 1.15 * whole)
        process = _posepipe([*base, "--jobs", str(rng.choice((1, 2)))], tmp_path, log)
        try:
            code = process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(sig)
            code = process.wait(timeout=300)
            said = [line for line in log.read_text().splitlines() if line.startswith(">")]
            landed.append((round(delay, 1), sig, said[-1] if said else "(starting)"))
            assert code in (*ENDED, 130, -signal.SIGINT, -signal.SIGKILL), log.read_text()
        else:
            assert code in ENDED, log.read_text()
        assert_folder_invariant(folder)
        assert not (folder / ".posepipe-snapshot").exists() or code == -signal.SIGKILL
    assert len(landed) == KILLS, landed
    print("\n".join(f"killed at {delay} s ({sig.name}) after: {said}" for delay, sig, said in landed))
    final = _posepipe(base[:-1], tmp_path, log)
    assert final.wait(timeout=900) in (0, 10), log.read_text()
    assert_folder_invariant(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["artifacts"]:  # exit 10 only for the tiny fp16 files' task checks
        assert not_task_checks(entry["validation"]["failures"]) == [], entry
    assert {e["file"] for e in manifest["artifacts"]} == {f"{MODEL}-{p}.{f}" for p in ("fp32", "fp16")
                                                          for f in ("tflite", "onnx")}
    assert all(e["validation"]["status"] == "passed" for e in manifest["artifacts"] if "fp32" in e["file"])
    assert not [p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".posepipe"))]
