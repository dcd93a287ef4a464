"""One writer per output folder, and folders put back as they were: the lock
excludes other processes (its waiter says whom it waits for, ``--no-wait`` stops
at once with exit 27) and goes with a SIGKILLed holder; a snapshot restores a
folder byte for byte; ``synth`` never deletes a file it did not make."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from posepipe.pipeline.engine import snapshot as snapshots
from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.pipeline.engine.lock import holder, lock_path, writing
from posepipe.pipeline.engine.owned import filled, foreign
from posepipe.pipeline.errors import FolderLockedError
from tests.support.harness import invoke

HOLD = """
import sys
from pathlib import Path
from posepipe.pipeline.engine.lock import writing
target, log, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
say = lambda line: print(line, flush=True)
for _ in range(rounds):
    with writing(target, "posepipe run hourglass", True, lambda m: say("waiting: " + m)):
        with log.open("a") as handle:
            handle.write(f"enter {sys.argv[4]}\\n")
            handle.flush()
            say("held")
            if rounds == 1:
                sys.stdin.readline()  # held until the test writes a line
            handle.write(f"leave {sys.argv[4]}\\n")
say("released")
"""


def _holder(target: Path, log: Path, rounds: int = 1, name: str = "a") -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLD, str(target), str(log), str(rounds), name],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _until(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    for got in process.stdout:
        if got.strip() == line:
            return
    raise AssertionError(f"the process ended before saying {line!r}")


def test_a_second_writer_waits_for_the_first_and_says_whom_for(tmp_path: Path) -> None:
    target, log = tmp_path / "artifacts" / "hourglass", tmp_path / "order.log"
    first = _holder(target, log, name="first")
    _until(first, "held")
    assert holder(target) is not None and holder(target).pid == first.pid  # type: ignore[union-attr]
    with pytest.raises(FolderLockedError) as refused, writing(target, "posepipe run hourglass", wait=False):
        pass
    assert refused.value.exit_code == 27
    assert str(refused.value) == (f"{target.resolve()} is being written by pid {first.pid} (posepipe run hourglass, "
                                  f"since {holder(target).since[11:19]}); --no-wait given")  # type: ignore[union-attr]
    second = _holder(target, log, name="second")
    assert second.stdout is not None
    said = second.stdout.readline().strip()
    assert said.startswith("waiting: ") and f"being written by pid {first.pid}" in said and said.endswith("; waiting")
    assert first.stdin is not None and second.stdin is not None
    first.stdin.write("\n")
    first.stdin.flush()
    _until(second, "held")
    second.stdin.write("\n")
    second.stdin.flush()
    assert first.wait(30) == 0 and second.wait(30) == 0
    assert log.read_text().split("\n")[:-1] == ["enter first", "leave first", "enter second", "leave second"]
    assert not lock_path(target).exists() and not target.parent.exists()  # made for the lock, gone with it


def test_the_lock_goes_with_a_sigkilled_holder(tmp_path: Path) -> None:
    target = tmp_path / "hourglass"
    first = _holder(target, tmp_path / "log")
    _until(first, "held")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert lock_path(target).exists()  # a killed holder removes nothing; the kernel drops its lock all the same
    with writing(target, "posepipe run hourglass", wait=False):
        assert holder(target).pid == os.getpid()  # type: ignore[union-attr]
    assert not lock_path(target).exists()


def test_writers_never_overlap(tmp_path: Path) -> None:
    """Four processes take and drop one lock 25 times each: the lock file is removed
    on every release, so waiters keep finding a removed file's lock and must retry."""
    target, log = tmp_path / "shared", tmp_path / "order.log"
    runs = [_holder(target, log, rounds=25, name=str(i)) for i in range(4)]
    for process in runs:
        assert process.wait(120) == 0
    lines = log.read_text().split("\n")[:-1]
    assert len(lines) == 200
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("enter ") and leave == "leave " + enter.split()[1], lines


def test_one_process_cannot_take_its_own_lock_twice(tmp_path: Path) -> None:
    with writing(tmp_path / "x", "one"), pytest.raises(RuntimeError, match="already holds"), \
            writing(tmp_path / "x", "two"):
        pass


# --- snapshots ------------------------------------------------------------------------------

def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_path(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _folder(root: Path) -> Path:
    folder = root / "hourglass"
    (folder / "hourglass-fp32.mlpackage" / "Data").mkdir(parents=True)
    (folder / "hourglass-fp32.mlpackage" / "Data" / "weight.bin").write_bytes(b"weights")
    (folder / "hourglass-fp32.onnx").write_bytes(b"onnx")
    (folder / "hourglass-int8.onnx.recipe.json").write_text("{}")
    (folder / "manifest.json").write_text('{"passed": true}')
    (folder / "report.html").write_text("<html>")
    return folder


def _change_everything(folder: Path) -> None:
    from posepipe.pipeline.engine.atomic import atomic_path, remove, write_json

    remove(folder / "manifest.json")
    remove(folder / "report.html")
    with atomic_path(folder / "hourglass-fp32.onnx") as temp:
        temp.write_bytes(b"other onnx")
    with atomic_path(folder / "hourglass-fp32.mlpackage") as temp:
        (temp / "Data").mkdir(parents=True)
        (temp / "Data" / "weight.bin").write_bytes(b"other weights")
    remove(folder / "hourglass-int8.onnx.recipe.json")
    (folder / "hourglass-fp16.onnx").write_bytes(b"new")
    (folder / ".tmp-stage").mkdir()
    write_json(folder / "manifest.json", {"passed": False})


def test_a_failed_command_leaves_the_folder_byte_identical(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    before = _files(folder)
    with pytest.raises(OSError, match="No space"), snapshots.kept_on_failure(folder, ("manifest.json", "report.html")):
        _change_everything(folder)
        assert _files(folder) != before
        raise OSError(28, "No space left on device")
    assert _files(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted({name.split("/")[0] for name in before})


def test_a_completed_command_keeps_its_changes_and_drops_the_snapshot(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with snapshots.kept_on_failure(folder, ("manifest.json",)):
        _change_everything(folder)
        after = {name: digest for name, digest in _files(folder).items() if not name.startswith(snapshots.SNAPSHOT)}
    assert _files(folder) == after and not (folder / snapshots.SNAPSHOT).exists()
    assert json.loads((folder / "manifest.json").read_text()) == {"passed": False}


def test_a_folder_that_was_not_there_is_not_there_after_a_failure(tmp_path: Path) -> None:
    folder = tmp_path / "hourglass"
    with pytest.raises(KeyboardInterrupt), snapshots.kept_on_failure(folder):
        folder.mkdir()
        (folder / "hourglass-fp32.onnx").write_bytes(b"half")
        raise KeyboardInterrupt
    assert not folder.exists()


def test_the_manifest_is_put_back_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restore cut short must not leave a manifest describing files not yet back."""
    folder = _folder(tmp_path)
    order: list[str] = []
    real = snapshots.replace
    monkeypatch.setattr(snapshots, "replace", lambda source, final: (order.append(final.name), real(source, final)))
    with pytest.raises(RuntimeError), snapshots.kept_on_failure(folder, ("manifest.json", "report.html")):
        _change_everything(folder)
        raise RuntimeError
    assert order[-2:] == ["manifest.json", "report.html"] and len(order) == 5, order


def test_only_what_the_command_owns_is_kept_and_put_back(tmp_path: Path) -> None:
    """A checkpoint trained into the same folder meanwhile is not the run's to undo."""
    folder = _folder(tmp_path)
    (folder / "checkpoint").mkdir()
    with pytest.raises(RuntimeError), snapshots.kept_on_failure(folder, ("manifest.json",),
                                                                owned=lambda name: name != "checkpoint"):
        assert not (folder / snapshots.SNAPSHOT / "checkpoint").exists()
        (folder / "checkpoint" / "model.keras").write_text("trained meanwhile")
        (folder / "bench-train.json").write_text("{}")
        (folder / "manifest.json").unlink()
        raise RuntimeError
    assert (folder / "checkpoint" / "model.keras").read_text() == "trained meanwhile"
    assert not (folder / "bench-train.json").exists() and (folder / "manifest.json").is_file()


def test_a_killed_commands_snapshot_is_discarded_by_the_next(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    stale = snapshots.take(folder)
    assert stale is not None and (folder / snapshots.SNAPSHOT / "manifest.json").is_file()
    before = _files(folder)
    with snapshots.kept_on_failure(folder):
        pass
    assert not (folder / snapshots.SNAPSHOT).exists()
    assert _files(folder) == {k: v for k, v in before.items() if not k.startswith(snapshots.SNAPSHOT)}


# --- folders a command made ----------------------------------------------------------------

def _fill(temp: Path, names: dict[str, str]) -> None:
    for name, text in names.items():
        (temp / name).parent.mkdir(parents=True, exist_ok=True)
        (temp / name).write_text(text)


def test_a_refill_replaces_what_it_made_and_keeps_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with filled(folder, ".mine", "test") as temp:
        _fill(temp, {"train/1.jpg": "a", "train/2.jpg": "b", "annotations/train.json": "one"})
    (folder / "notes.txt").write_text("a person's file")
    (folder / "train" / "mine.jpg").write_text("theirs too")
    assert not foreign(folder, ".mine")
    with filled(folder, ".mine", "test") as temp:
        _fill(temp, {"train/1.jpg": "c", "annotations/train.json": "two"})
    assert _files(folder) == _files_of({"train/1.jpg": "c", "annotations/train.json": "two", "notes.txt":
                                        "a person's file", "train/mine.jpg": "theirs too"}, tmp_path, folder)
    assert json.loads((folder / ".mine").read_text())["files"] == ["annotations/train.json", "train/1.jpg"]


def _files_of(names: dict[str, str], tmp_path: Path, folder: Path) -> dict[str, str]:
    expected = tmp_path / "expected"
    _fill(expected, names)
    (expected / ".mine").write_text((folder / ".mine").read_text())
    return _files(expected)


def test_a_failed_fill_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    _fill(folder, {"keep.txt": "x"})
    with pytest.raises(RuntimeError), filled(folder, ".mine", "test") as temp:
        _fill(temp, {"keep.txt": "y"})
        raise RuntimeError
    assert _files(folder) == {"keep.txt": sha256_path(folder / "keep.txt")} and (folder / "keep.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_synth_refuses_a_folder_it_did_not_make(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    _fill(folder, {"holiday.jpg": "precious", "val/000000.jpg": "also precious"})
    before = _files(folder)
    small = ["--train-images", "2", "--val-images", "1"]
    refused = invoke(capfd, "synth", str(folder), *small)
    assert refused.code == 2 and "was not made by posepipe synth" in refused.err and "--force" in refused.err
    assert _files(folder) == before
    forced = invoke(capfd, "synth", str(folder), *small, "--force")
    assert forced.code == 0, forced.err
    assert (folder / "holiday.jpg").read_text() == "precious"
    assert (folder / "annotations" / "person_keypoints_train.json").is_file()
    assert (folder / "val" / "000000.jpg").read_bytes() != b"also precious"  # the set's own name: replaced
    again = invoke(capfd, "synth", str(folder), "--train-images", "1", "--val-images", "1")  # its own now
    assert again.code == 0, again.err
    assert not (folder / "train" / "000001.jpg").exists() and (folder / "holiday.jpg").read_text() == "precious"
    fresh = invoke(capfd, "synth", str(tmp_path / "new"), *small)
    assert fresh.code == 0 and (tmp_path / "new" / "train" / "000001.jpg").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no lock or temporary left
