"""A folder put back as it was when the command writing it fails.

A run changes its folder only once everything it built has passed (the files
move in from staging, pipeline/run/publish.py), but latency, the manifest and the
report come after that, and a full disk, a ^C or a bug can stop it there. So the
run keeps a snapshot: every file of the folder hard-linked into
``.posepipe-snapshot/`` inside it before anything changes (no bytes copied, so it
costs nothing on a full disk), and on any exception the folder is put back from
it with renames, byte for byte, and the snapshot dropped. A completed run drops
it; a killed one leaves it, and the next run discards it (the folder's manifest
is then absent or true: the run takes it away before it swaps a file it lists).

Every writer here replaces files by rename and never writes into an existing
file, so a linked file keeps the bytes it had. The files that vouch for the rest
(the manifest, then the report) are taken away first and put back last: a restore
cut short leaves no manifest describing files that are not back yet. Only the
entries the command owns are kept and put back (``owned``): a checkpoint another
command trains into the same folder is neither linked nor touched.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from posepipe.pipeline.engine.atomic import TEMP_PREFIX, remove, replace

SNAPSHOT = ".posepipe-snapshot"
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}

Identity = tuple[int, int]  # (st_dev, st_ino): a replaced entry has another
Owned = Callable[[str], bool]  # which names of the folder the command writes


@dataclass(frozen=True)
class Snapshot:
    folder: Path
    existed: bool
    entries: dict[str, Identity | None]  # what the folder held of the command's, by name
    owned: Owned = lambda name: True

    @property
    def copy(self) -> Path:
        return self.folder / SNAPSHOT


@contextmanager
def kept_on_failure(folder: Path, vouchers: Sequence[str] = (), say: Callable[[str], None] | None = None,
                    owned: Owned | None = None) -> Iterator[None]:
    """Run the block; if it raises, put ``folder`` back as it was and re-raise.
    ``vouchers`` name the files that describe the others (manifest, report)."""
    snapshot = take(folder, say, owned)
    try:
        yield
    except BaseException:
        if snapshot is not None and restore(snapshot, vouchers) and say is not None:
            say(f"{folder} is back as it was before this command (nothing it changed is kept)")
        raise
    finally:
        if snapshot is not None:
            shutil.rmtree(snapshot.copy, ignore_errors=True)


def take(folder: Path, say: Callable[[str], None] | None = None, owned: Owned | None = None) -> Snapshot | None:
    """Link every owned entry of ``folder`` (bar temporaries) into its snapshot;
    None when the file system has no hard links (said, and the folder unprotected)."""
    mine = owned or (lambda name: True)
    shutil.rmtree(folder / SNAPSHOT, ignore_errors=True)  # a killed command's
    if not folder.is_dir():
        return Snapshot(folder, False, {}, mine)
    entries = {p.name: _identity(p) for p in folder.iterdir() if _kept(p.name) and mine(p.name)}
    snapshot = Snapshot(folder, True, entries, mine)
    try:
        snapshot.copy.mkdir()
        for name in entries:
            _link(folder / name, snapshot.copy / name)
    except OSError as error:
        shutil.rmtree(snapshot.copy, ignore_errors=True)
        if error.errno not in _NO_LINKS:
            raise  # a full disk: nothing changed yet, and the command stops here
        if say is not None:
            say(f"{folder}: no hard links here ({error.strerror}); a command that fails part-way leaves it "
                "without a manifest instead of as it was")
        return None
    return snapshot


def restore(snapshot: Snapshot, vouchers: Sequence[str] = ()) -> bool:
    """Put the folder back; whether anything had changed. Renames and unlinks
    only, so it works on a full disk."""
    folder = snapshot.folder
    if not snapshot.existed:
        if not folder.is_dir():
            return False
        for path in [folder / name for name in vouchers] + sorted(folder.iterdir()):
            if snapshot.owned(path.name) or not _kept(path.name):
                remove(path)
        with suppress(OSError):
            folder.rmdir()  # unless another command wrote into it meanwhile
        return True
    changed = [name for name in snapshot.entries if _identity(folder / name) != snapshot.entries[name]]
    extra = [p for p in folder.iterdir() if p.name != SNAPSHOT and p.name not in snapshot.entries
             and (snapshot.owned(p.name) or not _kept(p.name))]
    if not changed and not extra:
        return False
    for name in vouchers:
        if name in changed or (folder / name).exists() and name not in snapshot.entries:
            remove(folder / name)
    for path in extra:
        remove(path)
    last = [name for name in vouchers if name in changed]
    for name in [n for n in changed if n not in last] + last:
        replace(snapshot.copy / name, folder / name)
    return True


def _kept(name: str) -> bool:
    return name != SNAPSHOT and not name.startswith(TEMP_PREFIX)


def _identity(path: Path) -> Identity | None:
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _link(source: Path, target: Path) -> None:
    """A hard-linked copy: files linked, folders (an .mlpackage) made and filled."""
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True, copy_function=os.link)
    else:
        os.link(source, target, follow_symlinks=False)
