"""Publishing a run's rebuilt artifacts: nothing verified is destroyed.

Each artifact is converted and validated under a staging name inside the
folder (``.tmp-*/<file>``, pipeline/engine/pool.py), so the folder and its
manifest stay as they were while a run builds. Only when every stage has
finished does the folder change, and then only if no rebuild failed where the
folder holds a verified file of that name (one its manifest lists as passed, with
those bytes): such a run stops before anything moves, says which file failed and
that the previous files and manifest are kept, and sets the failed build aside
in the logs for a look. A manifest mixing the kept file with the new ones would
describe a file its checkpoint and settings did not make.

Publishing takes the manifest and report away first (a run killed from there on
leaves no manifest vouching for files it no longer describes), then moves each
staged file onto its name: one rename each. A failure after that (latency, the
manifest write) is undone by the run's snapshot (pipeline/engine/snapshot.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from posepipe.converters import ConversionError
from posepipe.pipeline.engine.atomic import remove, replace
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.pipeline.engine.pool import Done
from posepipe.pipeline.errors import ChecksFailedError, ManifestError
from posepipe.pipeline.manifest import MANIFEST, read_manifest
from posepipe.pipeline.run.produce import recipe_path, sensitivity_path
from posepipe.validators.validate import Status

REJECTED = "rejected"  # under the run's logs folder: the last failed rebuild of each verified file


def keep_verified(built: Sequence[Done], out: Path, logs: Path, console: Console) -> None:
    """Stop the run, the folder untouched, when a rebuild that did not pass would
    replace a verified file."""
    unpassed = [d for d in built if d.entry["validation"]["status"] != Status.PASSED]
    verified = verified_files(out, [d.job.name for d in unpassed]) if unpassed else set()
    lost = [d for d in unpassed if d.job.name in verified]
    if not lost:
        return
    for done in lost:
        console.err.print(f"[red]FAILED[/] {done.job.name}: {'; '.join(_failures(done.entry))}")
        _set_aside(done, logs / REJECTED)
    discard(built)
    names = ", ".join(d.job.name for d in lost)
    kept = (f"{out} is kept as it was: its verified {names} and manifest are unchanged "
            f"(the failed build is in {logs / REJECTED})")
    if any("bytes" not in d.entry for d in lost):
        raise ConversionError(f"the rebuild of {names} failed to convert; {kept}")
    raise ChecksFailedError(f"the rebuild of {names} failed its checks; {kept}")


def verified_files(out: Path, names: Sequence[str]) -> set[str]:
    """Which of ``names`` the folder's manifest lists as passed, with the bytes it names."""
    try:
        manifest = read_manifest(out / MANIFEST)
    except ManifestError:
        return set()
    return {e["file"] for e in manifest["artifacts"]
            if e["file"] in names and e["validation"]["status"] == Status.PASSED and "sha256" in e
            and (out / e["file"]).exists() and sha256_path(out / e["file"]) == e["sha256"]}


def publish(done: Done, out: Path) -> tuple[Path, ...]:
    """Move a finished stage's files from staging onto their names, and remove what
    an earlier build left beside the artifact that this one did not make (the
    recipe of a file that no longer converts, the sensitivity report of one that
    now passes). The files now in place."""
    artifact = out / done.job.name
    placed = []
    companions = [out / c["file"] for c in done.entry.get("companions", ())]
    for final in (artifact, recipe_path(artifact), sensitivity_path(artifact), *companions):
        staged = done.staging / final.name
        if staged.exists():
            replace(staged, final)
            placed.append(final)
        else:
            remove(final)
    remove(done.staging)
    return tuple(placed)


def discard(built: Sequence[Done]) -> None:
    for done in built:
        remove(done.staging)


def _set_aside(done: Done, folder: Path) -> None:
    """Best effort (the logs may be on a full disk too): the failed file, its
    recipe and sensitivity report, for ``posepipe inspect`` and ``--keep-float``."""
    target = folder / done.job.name
    try:
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(done.staging, target)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)


def _failures(entry: dict[str, Any]) -> list[str]:
    return list(entry["validation"].get("failures") or [entry["validation"]["status"]])
