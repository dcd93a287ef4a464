"""``artifacts/index.json``: every model's files in one list, what ``posepipe pull``
reads from a static host (or a folder) to fetch exactly the file that was verified.

Paths are relative to the artifacts root, POSIX style. An .mlpackage is a folder,
which a static host cannot list, so its entry also lists each file in it with its
own digest; the folder's sha256 is the manifest's (pipeline/engine/hashing.py).
Files that ship beside an artifact (an .ort's required-operators config) are its
``companions``, each with its own path and digest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posepipe.pipeline.engine.atomic import write_json
from posepipe.pipeline.engine.hashing import sha256_path, size_bytes
from posepipe.pipeline.engine.versions import tool_versions
from posepipe.pipeline.errors import IntegrityError, ManifestError
from posepipe.pipeline.manifest import read_manifest
from posepipe.validators.validate import Status

INDEX = "index.json"
SCHEMA = 1


def write_index(root: Path) -> dict[str, Any]:
    """Index every ``root/<model>/manifest.json``; a file that is not the one its
    manifest lists stops it (the index would vouch for unverified bytes)."""
    manifests = sorted(root.glob("*/manifest.json"))
    if not manifests:
        raise ManifestError(f"{root}: no <model>/manifest.json to index; run `make artifacts` first")
    models, artifacts = [], []
    for path in manifests:
        manifest = read_manifest(path)
        model = manifest["model"]
        models.append({"model": model, "manifest": f"{model}/{path.name}", "passed": manifest.get("passed"),
                       "report": f"{model}/report.html" if (path.parent / "report.html").is_file() else None})
        artifacts += [_entry(path.parent, model, a) for a in manifest["artifacts"] if "sha256" in a]
    document = {"schema": SCHEMA, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "posepipe": tool_versions()["posepipe"], "models": models, "artifacts": artifacts}
    write_json(root / INDEX, document)
    return document


def _entry(folder: Path, model: str, artifact: dict[str, Any]) -> dict[str, Any]:
    path = folder / artifact["file"]
    if not path.exists() or sha256_path(path) != artifact["sha256"]:
        raise IntegrityError(f"{path}: missing or not the file its manifest lists (sha256); "
                             f"rerun `posepipe run {model}`")
    status = artifact["validation"]["status"]
    entry = {"model": model, "file": artifact["file"], "path": f"{model}/{artifact['file']}",
             "format": artifact["format"], "precision": artifact["precision"], "sha256": artifact["sha256"],
             "bytes": artifact["bytes"], "passed": status == Status.PASSED, "status": status}
    if artifact.get("companions"):
        entry["companions"] = [_companion(folder, model, c) for c in artifact["companions"]]
    if path.is_dir():
        entry["files"] = [{"path": p.relative_to(path).as_posix(), "bytes": size_bytes(p), "sha256": sha256_path(p)}
                          for p in sorted(path.rglob("*")) if p.is_file()]
    return entry


def _companion(folder: Path, model: str, companion: dict[str, Any]) -> dict[str, Any]:
    """A file that ships beside the artifact (an .ort's required-operators config), checked like it."""
    path = folder / companion["file"]
    if not path.is_file() or sha256_path(path) != companion["sha256"]:
        raise IntegrityError(f"{path}: missing or not the file its manifest lists (sha256); "
                             f"rerun `posepipe run {model}`")
    return {"file": companion["file"], "path": f"{model}/{companion['file']}", "bytes": companion["bytes"],
            "sha256": companion["sha256"]}
