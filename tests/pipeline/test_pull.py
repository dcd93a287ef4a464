"""``posepipe index`` and ``posepipe pull`` against a real HTTP server on
127.0.0.1: the verified file arrives; a tampered file, a traversal path and a
failed artifact are refused with their own exit codes, and the destination is
left exactly as it was."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from posepipe.pipeline.engine.hashing import sha256_path
from tests.support.harness import invoke


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def host(tiny_run: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Iterator[tuple[str, Path]]:
    """A copy of the run's artifacts tree with its index, served over HTTP."""
    root = tmp_path / "host"
    shutil.copytree(tiny_run / "artifacts", root)
    result = invoke(capfd, "index", "--out", root)
    assert result.code == 0, result.err
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


def snapshot(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): sha256_path(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def pull(capfd: pytest.CaptureFixture[str], url: str, dest: Path, fmt: str = "tflite", *extra: str):  # type: ignore[no-untyped-def]
    return invoke(capfd, "pull", "hourglass", "--format", fmt, "--precision", "fp32", "--from", url, "--to", dest,
                  *extra)


def edit_index(root: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = root / "index.json"
    index = json.loads(path.read_text())
    by_key = {(a["format"], a["precision"]): a for a in index["artifacts"]}
    change(by_key)
    index["artifacts"] = list(by_key.values())
    path.write_text(json.dumps(index))


def test_index_lists_every_artifact_of_every_manifest(host: tuple[str, Path]) -> None:
    _, root = host
    index = json.loads((root / "index.json").read_text())
    manifest = json.loads((root / "hourglass" / "manifest.json").read_text())
    assert [(a["file"], a["sha256"], a["bytes"]) for a in index["artifacts"]] == [
        (a["file"], a["sha256"], a["bytes"]) for a in manifest["artifacts"]]
    assert all(a["passed"] and a["path"] == f"hourglass/{a['file']}" for a in index["artifacts"])
    package = next(a for a in index["artifacts"] if a["format"] == "coreml")
    assert {f["path"] for f in package["files"]} >= {"Manifest.json"}
    assert index["models"] == [{"model": "hourglass", "manifest": "hourglass/manifest.json", "passed": True,
                                "report": "hourglass/report.html"}]


def test_index_refuses_a_file_changed_after_its_run(host: tuple[str, Path], capfd: pytest.CaptureFixture[str]) -> None:
    _, root = host
    with (root / "hourglass" / "hourglass-fp32.onnx").open("ab") as handle:
        handle.write(b"\0")
    result = invoke(capfd, "index", "--out", root)
    assert result.code == 24 and "not the file its manifest lists" in result.error_lines[0]


def test_pull_over_http_verifies_every_format(host: tuple[str, Path], tmp_path: Path,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    url, root = host
    dest = tmp_path / "app" / "models"
    for fmt, name in (("tflite", "hourglass-fp32.tflite"), ("coreml", "hourglass-fp32.mlpackage"),
                      ("onnx", "hourglass-fp32.onnx")):
        result = pull(capfd, url, dest, fmt)
        assert result.code == 0, result.err
        assert sha256_path(dest / name) == sha256_path(root / "hourglass" / name)
    assert sorted(p.name for p in dest.iterdir()) == ["hourglass-fp32.mlpackage", "hourglass-fp32.onnx",
                                                      "hourglass-fp32.tflite", "hourglass-golden.png"]  # no temporaries
    again = pull(capfd, url, dest, "coreml")
    assert again.code == 0 and "up to date" in again.err


def test_pull_from_a_folder(host: tuple[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _, root = host
    result = pull(capfd, str(root), tmp_path / "dest", "coreml-nn")
    assert result.code == 0, result.err
    assert sha256_path(tmp_path / "dest" / "hourglass-fp32.mlmodel") == sha256_path(root / "hourglass" /
                                                                                  "hourglass-fp32.mlmodel")


def _tamper_file(root: Path) -> None:
    path = root / "hourglass" / "hourglass-fp32.tflite"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))


def _tamper_package(root: Path) -> None:
    weights = next((root / "hourglass" / "hourglass-fp32.mlpackage").rglob("weight.bin"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)


REFUSALS = {
    "tampered file": ("tflite", _tamper_file, 24, "sha256"),
    "tampered package": ("coreml", _tamper_package, 24, "sha256"),
    "traversal path": ("tflite", lambda r: edit_index(r, lambda a: a[("tflite", "fp32")].update(
        path="../../etc/hourglass-fp32.tflite")), 22, "escapes the artifacts root"),
    "absolute path": ("tflite", lambda r: edit_index(r, lambda a: a[("tflite", "fp32")].update(
        path="/etc/hourglass-fp32.tflite")), 22, "escapes the artifacts root"),
    "traversal in a package": ("coreml", lambda r: edit_index(r, lambda a: a[("coreml", "fp32")]["files"][0].update(
        path="../../../secret")), 22, "escapes the artifacts root"),
    "file name not its path": ("tflite", lambda r: edit_index(r, lambda a: a[("tflite", "fp32")].update(
        file="../x.tflite")), 22, "not the last part of its path"),
    "failed artifact": ("tflite", lambda r: edit_index(r, lambda a: a[("tflite", "fp32")].update(
        passed=False, status="failed")), 23, "refusing it (pass --allow-failed"),
    "not in the index": ("tflite", lambda r: edit_index(r, lambda a: a.pop(("tflite", "fp32"))), 21,
                         "lists no hourglass tflite fp32"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
@pytest.mark.parametrize("existing", [False, True], ids=["empty-dest", "good-file-in-dest"])
def test_pull_refuses_and_leaves_the_destination_untouched(
        case: str, existing: bool, host: tuple[str, Path], tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    url, root = host
    fmt, spoil, code, message = REFUSALS[case]
    dest = tmp_path / "dest"
    if existing:  # a good copy pulled before, of another bytes than the host will serve
        assert pull(capfd, url, dest, fmt).code == 0
        for path in dest.rglob("*"):
            if path.is_file() and path.suffix in (".tflite", ".bin"):
                path.write_bytes(path.read_bytes() + b"local")  # differs from the index: a pull must not keep it
        before = snapshot(dest)
    spoil(root)
    result = pull(capfd, url, dest, fmt)
    assert result.code == code, result.err
    assert len(result.error_lines) == 1 and message in result.error_lines[0], result.err
    if existing:
        assert snapshot(dest) == before
    else:
        assert not dest.exists()


def test_allow_failed_takes_a_failed_artifact_but_never_over_a_file(
        host: tuple[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    url, root = host
    edit_index(root, lambda a: a[("tflite", "fp32")].update(passed=False, status="failed"))
    taken = pull(capfd, url, tmp_path / "fresh", "tflite", "--allow-failed")
    assert taken.code == 0 and (tmp_path / "fresh" / "hourglass-fp32.tflite").is_file()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "hourglass-fp32.tflite").write_bytes(b"an app's own good file")
    refused = pull(capfd, url, dest, "tflite", "--allow-failed")
    assert refused.code == 23 and "not overwriting" in refused.error_lines[0]
    assert (dest / "hourglass-fp32.tflite").read_bytes() == b"an app's own good file"


def test_pull_from_nowhere(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for source in (f"http://127.0.0.1:{port}/", str(tmp_path / "missing"), str(tmp_path)):
        result = pull(capfd, source, tmp_path / "dest")
        assert result.code == 20 and len(result.error_lines) == 1, result.err
    assert not (tmp_path / "dest").exists()
