"""Where a derived cell's file comes from (an .ort from its precision's .onnx,
pipeline/run/matrix.py ``SOURCES``): the source file as this run has it, built
now (in its staging folder) or up to date (in the run's folder), and only once it
passed. Its digest joins the derived cell's stage key, so a new .onnx makes a new .ort."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posepipe.pipeline.engine.pool import Done
from posepipe.pipeline.manifest import artifact_entry
from posepipe.pipeline.run.convert import Failed
from posepipe.pipeline.run.matrix import MatrixCell
from posepipe.validators.validate import Status


@dataclass(frozen=True)
class Source:
    path: Path
    sha256: str


def derived_sources(derived: Sequence[MatrixCell], entries: dict[MatrixCell, dict[str, Any]],
                    built: Sequence[Done], out: Path) -> dict[MatrixCell, Source | str]:
    """Each derived cell's source file, or why there is none (a sentence)."""
    staged = {done.job.cell: done.staging / done.job.name for done in built}
    found: dict[MatrixCell, Source | str] = {}
    for cell in derived:
        assert cell.source is not None  # a derived cell by definition
        entry = entries[cell.source]
        status = entry["validation"]["status"]
        if status != Status.PASSED or "sha256" not in entry:
            found[cell] = f"not made: it is made from {entry['file']}, which did not pass ({status})"
        else:
            found[cell] = Source(staged.get(cell.source, out / entry["file"]), entry["sha256"])
    return found


def unbuilt_entry(path: Path, cell: MatrixCell, reason: str) -> dict[str, Any]:
    """The manifest entry of a derived cell that was not made: failed, no file."""
    return artifact_entry(Failed(path, cell.format, cell.precision, reason, variant=cell.variant), None)
