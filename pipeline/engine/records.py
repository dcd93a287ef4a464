"""Stage records: what a finished stage made, kept under the key of its inputs.

A stage's key digests everything its result depends on (file contents, parameters,
the code and the tool versions; never timestamps). Its record is written atomically
and only after its outputs are in place, and it names their sha256: a record is
trusted only while those files are still the bytes it describes. So a run killed
at any moment leaves at worst a stage to redo, never one wrongly taken as done.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posepipe.pipeline.engine.atomic import write_json
from posepipe.pipeline.engine.hashing import key, sha256_path


@dataclass
class StageCache:
    """The records of one model's stages for one output folder (``out``): the
    same stage written into two folders has two records."""

    root: Path
    out: Path
    force: bool = False  # --force: every stage is redone (and recorded afresh)
    fresh: list[str] = field(default_factory=list)  # stages found up to date, in order
    redone: list[str] = field(default_factory=list)

    def get(self, stage: str, stage_key: str) -> Any | None:
        """The value recorded for ``stage`` under ``stage_key``, if its files are
        still there with the recorded digests; else None (the stage must run)."""
        record = None if self.force else _read(self._path(stage))
        if record is None or record.get("key") != stage_key or not _intact(record.get("files", {})):
            return None
        self.fresh.append(stage)
        return record["value"]

    def put(self, stage: str, stage_key: str, value: Any, files: Sequence[Path] = ()) -> None:
        """Record a finished stage: call only once ``files`` are in their final place."""
        self.redone.append(stage)
        write_json(self._path(stage), {"stage": stage, "key": stage_key, "value": value,
                                       "files": {str(p): sha256_path(p) for p in files}})

    def _path(self, stage: str) -> Path:
        return self.root / f"{stage}-{key(str(self.out.resolve()))[:8]}.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, or not JSON: not a record to trust
        return None
    return record if isinstance(record, dict) else None


def _intact(files: dict[str, str]) -> bool:
    return all(Path(name).exists() and sha256_path(Path(name)) == digest for name, digest in files.items())
