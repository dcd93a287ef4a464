"""Reading a manifest: the one way every command (index, report, bench, predict,
validate) opens ``manifest.json``, so a missing, truncated or incomplete one is a
one-line ``ManifestError`` (exit 19) naming the file and what is wrong, never a
traceback from deep inside the reader.

The shape is checked against ``schema.json`` (JSON Schema 2020-12, shipped with
the package), the same file CI jobs and app teams can validate against.
"""

from __future__ import annotations

import dataclasses
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from posepipe import models
from posepipe.models.errors import ConfigError
from posepipe.models.keypoints import keypoint_set
from posepipe.models.spec import ModelSpec
from posepipe.pipeline.errors import ManifestError

SCHEMA_FILE = "schema.json"
LONGEST_VALUE = 60  # characters of an offending value quoted in the one-line error
PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of the manifest."""
    return json.loads((resources.files(__package__) / SCHEMA_FILE).read_text(encoding="utf-8"))


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path`` as a dict, checked against the schema; else ManifestError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest; run `posepipe run MODEL` first") from None
    except OSError as error:
        raise ManifestError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None
    document = parse(raw, path)
    problem = first_problem(document)
    if problem is not None:
        raise ManifestError(f"{path}: {problem}")
    return document


def parse(raw: bytes, path: Path) -> Any:
    """JSON from bytes, or a ManifestError saying where it stops being JSON."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno})") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except RecursionError:
        raise ManifestError(f"{path}: not valid JSON (nested too deeply)") from None


def first_problem(document: Any) -> str | None:
    """The most telling schema violation, as ``where: what``; None when the document is valid.

    jsonschema's ``best_match`` prefers the error highest in the document: for a
    truncated artifact entry that is the entry's missing key, not a symptom below it.
    """
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(document))
    if error is None:
        return None
    where = location(error.absolute_path)
    return f"{where}: {describe(error)}" if where else describe(error)


def location(path: Any) -> str:
    """``artifacts[2].validation``: the JSON path of an error, as a reader writes it
    (a key that is not a plain name is quoted, so the error stays one line)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def describe(error: Any) -> str:
    """What is wrong, in one short line: the offending value is quoted only when short."""
    if error.validator == "type":
        expected = error.validator_value
        text = f"expected {expected if isinstance(expected, str) else ' or '.join(expected)}, " \
               f"got {_json_type(error.instance)}"
    elif error.validator in ("enum", "const"):
        allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
        text = f"{_quote(error.instance)} is not one of {', '.join(json.dumps(v) for v in allowed)}"
    elif len(error.message) <= 2 * LONGEST_VALUE:
        text = error.message
    else:
        text = f"{_quote(error.instance)} breaks the schema's {error.validator!r} rule"
    return " ".join(text.split())


def _quote(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        return _json_type(value)
    return text if len(text) <= LONGEST_VALUE else f"{_json_type(value)} {text[: LONGEST_VALUE - 3]}..."


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null", int: "integer",
             float: "number"}
    return names.get(type(value), type(value).__name__)


def manifest_spec(manifest: dict[str, Any]) -> ModelSpec:
    """The spec of the model a run built, on the keypoint set it was trained on (the
    manifest's ``keypoints.set``; a manifest without one is on the model's own set)."""
    spec = models.get(manifest["model"])
    recorded = manifest.get("keypoints", {})
    name = recorded.get("set")
    if name is not None and not spec.keypoints.called(name):
        try:
            spec = spec.with_keypoints(keypoint_set(name))
        except ConfigError as error:
            raise ManifestError(f"the manifest's keypoint set: {error}") from None
    if "names" in recorded and list(recorded["names"]) != list(spec.keypoints.names):
        raise ManifestError(f"the manifest's keypoint names are not those of {spec.name} on {spec.keypoints.name}")
    return spec


def manifest_config(spec: ModelSpec, manifest: dict[str, Any]) -> Any:
    """The model config a run used, rebuilt from the manifest's copy of it (the
    schema cannot check it: its fields are the model's own, so they are checked here)."""
    preset = spec.config(manifest.get("preset", "default"))
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in manifest.get("config", {}).items()}
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(preset)})
    if unknown:
        raise ManifestError(f"the manifest's config has fields {spec.name} does not know: {', '.join(unknown)}")
    return dataclasses.replace(preset, **fields)
