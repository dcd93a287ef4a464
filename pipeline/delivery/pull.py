"""``posepipe pull``: fetch one verified artifact from a static host (http or
https) or a folder holding the artifacts tree, by its ``index.json``.

Every check comes before the file appears: the index entry's paths must stay
inside the artifacts root, the artifact must have passed validation (unless
``allow_failed``), and the bytes must hash to the index's sha256. The download
is written under a temporary name inside the destination and renamed into place
only when it verified, so a tampered or truncated file never replaces anything,
and a failed pull leaves the destination as it was. The files an entry lists as
its ``companions`` (an .ort's required-operators config) come with it, each
verified the same way and placed before the artifact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from posepipe.models.errors import FileSystemError
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.delivery.entries import SHA256, check_index
from posepipe.pipeline.delivery.index import INDEX
from posepipe.pipeline.engine.atomic import TEMP_PREFIX, replace
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import CHUNK, sha256_path
from posepipe.pipeline.errors import FailedArtifactError, IntegrityError, NotInIndexError, SourceError, UnsafePathError

TIMEOUT_S = 60


@dataclass(frozen=True)
class PullSettings:
    model: str
    format: Format
    precision: Precision
    source: str  # http(s) URL or folder: the artifacts root, with index.json in it
    dest: Path
    allow_failed: bool = False


def pull(settings: PullSettings, console: Console) -> Path:
    source = open_source(settings.source)
    index = source.index()
    entry = find_entry(index, settings)
    files = checked_files(entry)
    companions = checked_companions(entry) + golden_image(source, index, settings.model, entry)
    final = settings.dest / entry["file"]
    if final.exists() and sha256_path(final) == entry["sha256"] and _present(settings.dest, companions):
        console.step(f"{final}: up to date (sha256 {entry['sha256'][:12]})")
        return final
    if final.exists() and not entry["passed"]:
        raise FailedArtifactError(f"{final} exists and {entry['file']} failed validation; "
                                  "not overwriting it (pull into another --to folder)")
    with _staged(settings.dest, entry["file"]) as temp:
        for relative, expected in files:
            _fetch(source, relative, temp / expected["subpath"] if expected["subpath"] else temp, expected)
        got = sha256_path(temp)
        if got != entry["sha256"]:
            raise IntegrityError(f"{entry['path']}: sha256 {got} != {entry['sha256']} listed in the index; "
                                 "the file was changed on the host")
        for relative, companion in companions:  # each verified as it comes, placed before the artifact
            _fetch(source, relative, temp.with_name(companion["file"]), companion)
        for _, companion in companions:
            replace(temp.with_name(companion["file"]), settings.dest / companion["file"])
        replace(temp, final)
    console.step(f"pulled {entry['path']} -> {final} (sha256 {entry['sha256'][:12]}, verified)")
    return final


def find_entry(index: dict[str, Any], settings: PullSettings) -> dict[str, Any]:
    want = (settings.model, str(settings.format), str(settings.precision))
    entries = [a for a in index.get("artifacts", []) if (a.get("model"), a.get("format"), a.get("precision")) == want]
    if not entries:
        have = sorted({f"{a.get('format')}/{a.get('precision')}" for a in index.get("artifacts", [])
                       if a.get("model") == settings.model})
        known = f"; {settings.model} has {', '.join(have)}" if have else f"; no artifacts of {settings.model}"
        raise NotInIndexError(f"the index lists no {settings.model} {want[1]} {want[2]} artifact{known}")
    entry = entries[0]
    if not entry.get("passed") and not settings.allow_failed:
        raise FailedArtifactError(f"{entry.get('path')}: validation {entry.get('status', 'failed')}; "
                                  "refusing it (pass --allow-failed to take it anyway)")
    return entry


def checked_files(entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path under the root, what it must be) for every file of the artifact, each
    path checked: relative, no ``..``, no backslash, the artifact's own name."""
    path = _safe(entry.get("path"), "path")
    name = entry.get("file")
    if not isinstance(name, str) or PurePosixPath(path).name != name or "/" in name:
        raise UnsafePathError(f"index entry {path!r}: file {name!r} is not the last part of its path")
    if "files" not in entry:
        return [(path, {"subpath": "", "sha256": entry.get("sha256"), "bytes": entry.get("bytes")})]
    return [(f"{path}/{_safe(f.get('path'), 'files')}", {**f, "subpath": f["path"]}) for f in entry["files"]]


def checked_companions(entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path under the root, what it must be) for each file shipped beside the
    artifact: beside it on the host too, under its own plain name."""
    folder = PurePosixPath(entry["path"]).parent
    found = []
    for companion in entry.get("companions", ()):
        path, name = _safe(companion.get("path"), "companions"), companion.get("file")
        if not isinstance(name, str) or "/" in name or PurePosixPath(path) != folder / name or name == entry["file"]:
            raise UnsafePathError(f"index entry {path!r}: companion {name!r} is not a file beside {entry['path']}")
        found.append((path, companion))
    return found


def golden_image(source: Source, index: dict[str, Any], model: str,
                 entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The model's golden image (docs/preprocessing-contract.md) when its manifest
    lists one: pulled, verified and placed beside the artifact like a companion."""
    manifests = [m.get("manifest") for m in index.get("models", ()) if isinstance(m, dict) and m.get("model") == model]
    if not manifests or manifests[0] is None:
        return []
    path = _safe(manifests[0], "manifest")
    contract = _document(source, path).get("contract")
    if contract is None:
        return []
    name = contract.get("image") if isinstance(contract, dict) else None
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..", entry["file"]):
        raise UnsafePathError(f"{path}: golden image {name!r} is not a file beside the manifest")
    sha256, size = contract.get("sha256"), contract.get("bytes")
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256) or isinstance(size, bool) or not isinstance(
            size, int):
        raise SourceError(f"{path}: the contract's golden image has no sha256 and size to verify it by")
    return [(str(PurePosixPath(path).parent / name), {"file": name, "sha256": sha256, "bytes": size})]


def _document(source: Source, relative: str) -> dict[str, Any]:
    try:
        with source.open(relative) as stream:
            document = json.loads(stream.read())
    except (ValueError, RecursionError) as error:
        raise SourceError(f"{relative}: not a readable manifest ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise SourceError(f"{relative}: not a manifest (a JSON object)")
    return document


def _present(dest: Path, companions: list[tuple[str, dict[str, Any]]]) -> bool:
    return all((dest / c["file"]).is_file() and sha256_path(dest / c["file"]) == c["sha256"] for _, c in companions)


def _safe(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise UnsafePathError(f"index entry {field} {value!r}: not a path")
    pure = PurePosixPath(value)
    if "\\" in value or pure.is_absolute() or ".." in pure.parts or ":" in pure.parts[0] or value != pure.as_posix():
        raise UnsafePathError(f"index entry {field} {value!r} escapes the artifacts root; refusing it")
    return value


@contextmanager
def _staged(dest: Path, name: str) -> Iterator[Path]:
    """A temporary path inside ``dest``; on failure it goes, and so does ``dest``
    itself if this pull created it."""
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=dest))
    try:
        yield holder / name
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def _fetch(source: Source, relative: str, target: Path, expected: dict[str, Any]) -> None:
    """Stream one file to ``target``, hashing as it comes; a wrong size or digest
    stops here, before the artifact is assembled."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with source.open(relative) as stream:
        try:
            with target.open("wb") as out:
                while chunk := _read(stream, relative):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except OSError as error:  # the destination's: a full disk, no permission (closing flushes too)
            raise FileSystemError.of(error, target) from None
    if expected.get("bytes") is not None and size != expected["bytes"]:
        raise IntegrityError(f"{relative}: {size} bytes, the index lists {expected['bytes']}; the file was changed "
                             "on the host or truncated")
    if expected.get("sha256") and digest.hexdigest() != expected["sha256"]:
        raise IntegrityError(f"{relative}: sha256 {digest.hexdigest()} != {expected['sha256']} listed in the index; "
                             "the file was changed on the host")


def _read(stream: BinaryIO, relative: str) -> bytes:
    try:
        return stream.read(CHUNK)
    except OSError as error:  # the source's: a dropped connection, a timeout
        raise SourceError(f"{relative}: transfer failed ({error})") from None


class Source:
    """Where the artifacts tree is: an http(s) base URL or a folder."""

    def __init__(self, base: str) -> None:
        self.base = base

    def index(self) -> dict[str, Any]:
        try:
            with self.open(INDEX) as stream:
                document = json.loads(stream.read())
        except ValueError as error:  # UnicodeDecodeError too
            raise SourceError(f"{self.base}: {INDEX} is not valid JSON ({error})") from None
        except RecursionError:
            raise SourceError(f"{self.base}: {INDEX} is nested too deeply to be an index") from None
        return check_index(document, self.base)

    @contextmanager
    def open(self, relative: str) -> Iterator[BinaryIO]:
        raise NotImplementedError


class HttpSource(Source):
    @contextmanager
    def open(self, relative: str) -> Iterator[BinaryIO]:
        url = urllib.parse.urljoin(self.base.rstrip("/") + "/", urllib.parse.quote(relative))
        try:
            response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as error:
            raise SourceError(f"{url}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise SourceError(f"{url}: cannot fetch ({getattr(error, 'reason', error)})") from None
        with response:
            yield response


class FolderSource(Source):
    @contextmanager
    def open(self, relative: str) -> Iterator[BinaryIO]:
        root = Path(self.base).resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):  # a symlink out of the tree
            raise UnsafePathError(f"{relative}: resolves outside {root}; refusing it")
        try:
            handle = path.open("rb")
        except OSError as error:
            raise SourceError(f"{path}: cannot read ({error.strerror})") from None
        with handle:
            yield handle


def open_source(text: str) -> Source:
    url = urllib.parse.urlparse(text)
    if url.scheme in ("http", "https"):
        return HttpSource(text)
    folder = urllib.parse.unquote(url.path) if url.scheme == "file" else text
    if url.scheme not in ("", "file") or not Path(folder).is_dir():
        raise SourceError(f"{text}: not an http(s) URL or an existing folder")
    return FolderSource(folder)
