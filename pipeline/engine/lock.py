"""One writer per output folder: ``run``, ``report``, ``index``, ``pull --to`` and
``synth`` hold an exclusive lock on what they write for as long as they write it;
a second writer waits, saying whom for, or stops at once (``--no-wait``, exit 27).

The lock is the kernel's (``flock``) on a file beside the target,
``.<name>.posepipe.lock``, so it goes with its holder on any exit, SIGKILL
included. The holder writes who it is (pid, command, start) into that file for a
waiter to print. The file is removed on release, under the lock: a folder a
command left (or refused to write) keeps no trace of it. A waiter that then holds
a removed file's lock sees that the path names another file (or none) and tries
again, so two writers never both hold it. ``filelock`` (used by the test harness)
keeps its file for that reason and leaves no room for the holder's name in it.

Pool workers do not inherit the lock (file descriptors are not inheritable); they
write only under staging names and die with their parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from posepipe.pipeline.errors import FolderLockedError

SUFFIX = ".posepipe.lock"

_HELD: set[Path] = set()  # this process's locks: a second acquisition would wait on itself


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its lock file says."""

    pid: int
    command: str
    since: str  # ISO time, local
    host: str

    def describe(self) -> str:
        since = self.since[11:19] if len(self.since) >= 19 else self.since
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where} ({self.command}, since {since})"


def lock_path(target: Path) -> Path:
    """The lock of ``target`` (a folder or file a command writes): beside it, so it
    can be taken before the target exists and never lands among its contents."""
    target = target.resolve()
    return target.parent / f".{target.name}{SUFFIX}"


@contextmanager
def writing(target: Path, command: str, wait: bool = True,
            say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``target``'s lock for the block. If another process holds it: wait for
    it (``say`` is told whom for, once per holder), or raise FolderLockedError."""
    path = lock_path(target)
    if path in _HELD:
        raise RuntimeError(f"{target}: this process already holds its lock")
    created: list[Path] = []
    fd = _acquire(path, target, wait, say or (lambda _: None), created)
    _HELD.add(path)
    try:
        _write_holder(fd, command)
        yield
    finally:
        _HELD.discard(path)
        _release(fd, path, created)


@contextmanager
def writing_all(targets: Iterable[Path], command: str, wait: bool = True,
                say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the locks of every target, taken in one order (sorted), so commands
    that take several never each hold one the other waits for."""
    with ExitStack() as stack:
        for target in sorted({t.resolve() for t in targets}):
            stack.enter_context(writing(target, command, wait, say))
        yield


def holder(target: Path) -> Holder | None:
    """Who holds ``target``'s lock now, if anyone says so."""
    try:
        return _parse(lock_path(target).read_bytes())
    except OSError:
        return None


def _acquire(path: Path, target: Path, wait: bool, say: Callable[[str], None], created: list[Path]) -> int:
    """The open lock file, locked; ``created`` gets the folders made for it."""
    announced: Holder | None | bool = False
    while True:
        created += _make_parents(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except FileNotFoundError:  # its folder went with an earlier holder's lock file
            continue
        try:
            if not _try_lock(fd):
                who = _read_holder(fd)
                if not wait:
                    raise FolderLockedError(f"{target} is {_by(who)}; --no-wait given")
                if who != announced:
                    say(f"{target} is {_by(who)}; waiting")
                    announced = who
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _names(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed this file as it let go: lock the one there now


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _names(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the open file ``fd``."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)


def _by(who: Holder | None) -> str:
    return f"being written by {who.describe()}" if who else "being written by another posepipe process"


def _write_holder(fd: int, command: str) -> None:
    """Best effort: a full disk must not stop a writer from taking its lock."""
    me = Holder(os.getpid(), command, datetime.now().isoformat(timespec="seconds"), socket.gethostname())
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
    except OSError:
        pass


def _read_holder(fd: int) -> Holder | None:
    try:
        return _parse(os.pread(fd, 4096, 0))
    except OSError:
        return None


def _parse(raw: bytes) -> Holder | None:
    """The holder a lock file names; None for an empty, torn or foreign file."""
    try:
        fields = json.loads(raw)
        return Holder(int(fields["pid"]), str(fields["command"]), str(fields["since"]), str(fields["host"]))
    except (ValueError, TypeError, KeyError):
        return None


def _release(fd: int, path: Path, created: list[Path]) -> None:
    try:
        if _names(fd, path):
            path.unlink()
    except OSError:
        pass
    finally:
        os.close(fd)  # the kernel drops the lock with the last descriptor
    for folder in reversed(created):  # made for the lock only: gone with it, unless something else is there now
        try:
            folder.rmdir()
        except OSError:
            break


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones this call made, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    made = []
    for path in reversed(missing):
        try:
            path.mkdir()
            made.append(path)
        except FileExistsError:
            pass
    return made
