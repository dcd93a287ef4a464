"""A folder a command fills (``posepipe synth OUT``) and may fill again, but never
at the cost of files it did not make.

The command marks the folder with a file listing what it wrote. Filling it again
replaces those files and removes the ones the new contents lack; any other file
(one a person put there) stays. A folder with contents but no marker is someone
else's: the command refuses it unless told to write into it anyway (``--force``),
and even then it only replaces the files of the same names. The new contents are
made in a temporary folder beside the target first, so a failed or interrupted
fill leaves the target as it was; an empty or missing target takes the new
folder's name in one rename.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from posepipe.pipeline.engine.atomic import TEMP_PREFIX, write_json


def foreign(folder: Path, marker: str) -> bool:
    """Whether ``folder`` holds what its command did not make: a file in its place,
    or contents without the command's marker."""
    if not folder.exists():
        return False
    if not folder.is_dir():
        return True
    return not (folder / marker).is_file() and any(folder.iterdir())


@contextmanager
def filled(folder: Path, marker: str, command: str) -> Iterator[Path]:
    """Yield an empty temporary folder to fill; when the block completes, its
    files go into ``folder`` (see the module's docstring) and the marker lists them."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=folder.parent))
    try:
        yield temp
        made = sorted(p.relative_to(temp).as_posix() for p in temp.rglob("*") if p.is_file())
        if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
            write_json(temp / marker, {"made_by": command, "files": made})
            os.replace(temp, folder)
        else:
            _merge(temp, folder, marker, command, made)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _merge(temp: Path, folder: Path, marker: str, command: str, made: list[str]) -> None:
    """Each new file onto its name; the files the marker lists and the new set
    lacks removed; nothing else touched. The marker lists both sets while files
    move, so an interrupted merge still names everything the command wrote."""
    before = _listed(folder / marker)
    write_json(folder / marker, {"made_by": command, "files": sorted(set(before) | set(made))})
    for name in made:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp / name, target)
    for name in sorted(set(before) - set(made)):
        (folder / name).unlink(missing_ok=True)
    write_json(folder / marker, {"made_by": command, "files": made})


def _listed(marker: Path) -> list[str]:
    """The files a marker lists, only those inside its folder (a marker is data)."""
    try:
        files = json.loads(marker.read_text()).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in files if isinstance(f, str) and not os.path.isabs(f) and ".." not in Path(f).parts]
