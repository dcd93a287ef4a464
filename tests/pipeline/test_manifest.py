"""The manifest: typed records that write exactly the JSON its readers know, a
published JSON Schema that accepts what runs write and rejects what is broken,
and one reader: a missing, truncated or incomplete manifest is one line and exit
19 from every command that reads one, and no input whatever makes the reader
raise anything but a posepipe error (hypothesis)."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posepipe.converters.signature import Signature, TensorInfo
from posepipe.models.errors import PosepipeError
from posepipe.models.formats import Format, Precision
from posepipe.models.spec import OutputKind
from posepipe.pipeline.engine.console import RecordingConsole
from posepipe.pipeline.errors import ManifestError
from posepipe.pipeline.manifest import (
    MANIFEST,
    SCHEMA,
    artifact_entry,
    finite,
    quantization_entry,
    read_manifest,
    schema,
)
from posepipe.pipeline.manifest.document import Manifest
from posepipe.pipeline.manifest.read import first_problem
from posepipe.pipeline.manifest.records import ArtifactRecord
from posepipe.pipeline.run.convert import Built, Failed
from posepipe.pipeline.run.produce import Outcome
from posepipe.validators.accuracy.compare import OutputComparison
from posepipe.validators.accuracy.task import TaskMetric
from posepipe.validators.perf.targets import BudgetStatus
from posepipe.validators.validate import Status, TaskMetrics, ValidationResult
from tests.support.harness import invoke
from tests.support.manifests import schema_problems

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="session")
def written(tiny_run: Path) -> dict[str, Any]:
    """The shared tiny run's manifest, as it reads back."""
    return json.loads((tiny_run / "artifacts" / "hourglass" / MANIFEST).read_text())


def plant(root: Path, document: Any, text: str | None = None) -> Path:
    """A manifest planted on purpose under ``root/hourglass/`` (``root`` is never
    named ``artifacts``: the session's schema check looks only at runs' manifests)."""
    path = root / "hourglass" / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if text is None else text)
    return path


def _json_error(text: str) -> json.JSONDecodeError:
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return error
    raise AssertionError("the planted text parses")


# -- the schema and the records ---------------------------------------------------------------------------

def test_the_schema_ships_with_the_package_and_is_a_valid_2020_12_schema() -> None:
    from jsonschema import Draft202012Validator

    shipped = resources.files("posepipe.pipeline.manifest") / "schema.json"
    assert shipped.is_file() and json.loads(shipped.read_text()) == schema()
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_names_the_choices_the_code_has() -> None:
    """The published enums are the code's own: a new format, precision or status
    that the schema does not know would make every manifest that uses it unreadable."""
    defs = schema()["$defs"]
    assert defs["format"]["enum"] == [f.value for f in Format]
    assert defs["precision"]["enum"] == [p.value for p in Precision]
    assert defs["status"]["enum"] == [s.value for s in Status]
    assert defs["metric"]["enum"] == [m.value for m in TaskMetric]
    assert defs["timing"]["properties"]["status"]["enum"] == [b.value for b in BudgetStatus]
    assert schema()["properties"]["outputs"]["items"]["properties"]["kind"]["enum"] == [k.value for k in OutputKind]
    assert schema()["properties"]["schema"]["const"] == SCHEMA


def test_a_real_run_writes_a_manifest_its_schema_accepts(tiny_run: Path, written: dict[str, Any]) -> None:
    path = tiny_run / "artifacts" / "hourglass" / MANIFEST
    assert first_problem(written) is None
    assert read_manifest(path) == written
    assert schema_problems(tiny_run) == []


def test_the_records_write_back_exactly_what_the_run_wrote(written: dict[str, Any]) -> None:
    """Same keys, in the same order, with the same values: the records lose nothing."""
    rebuilt = json.loads(json.dumps(finite(Manifest.from_json(written).to_json())))
    assert json.dumps(rebuilt) == json.dumps(written)
    for entry in written["artifacts"]:
        assert ArtifactRecord.from_json(entry).to_json() == entry


def _built(precision: Precision = Precision.FP32) -> Built:
    tensor = TensorInfo("image", (1, 64, 64, 3), "float32")
    out = TensorInfo("heatmaps", (1, 16, 16, 17), "int8", (0.5, -3))
    return Built(Path(f"m-{precision}.onnx"), Format.ONNX, precision, 1234, "ab" * 32, Signature((tensor,), (out,)))


def _checked(failures: tuple[str, ...] = ()) -> ValidationResult:
    comparison = OutputComparison("heatmaps", (4, 16, 16, 17), 0.25, 0.01, 0.99, float("inf"), failures, 2)
    task = TaskMetrics(TaskMetric.OKS_AP, 0.5, 0.45, -5.0, 0.9, 2.0, people=0.75)
    return ValidationResult(Status.FAILED if failures else Status.PASSED, "onnxruntime", 4, (comparison,), task,
                            failures, 3.5)


def _quantized(failures: tuple[str, ...]) -> tuple[Built, dict[str, Any]]:
    """A failed int8 file with its recipe, calibration set and sensitivity report, as pool.entry_of builds it."""
    artifact, result = _built(Precision.INT8), _checked(failures)
    recipe = {"format": "onnx", "precision": "int8", "calibration": {"sha256": "cd" * 32, "samples": 8},
              "calibration_method": "percentile", "per_channel": True}
    outcome = Outcome(artifact, result, recipe, ("conv1",), Path("m-int8.onnx.sensitivity.json"), ("conv1", "head"))
    return artifact, artifact_entry(artifact, result) | quantization_entry(outcome, 4000)


ENTRY_CASES = {
    "passed": lambda: (_built(), artifact_entry(_built(), _checked())),
    "failed its checks": lambda: (_built(), artifact_entry(_built(), _checked(("cosine 0.2 < 0.9",)))),
    "not executed": lambda: (_built(), artifact_entry(_built(), ValidationResult.not_executed("no Core ML here"))),
    "not validated": lambda: (_built(), artifact_entry(_built(), None)),
    "conversion failed": lambda: (failed := Failed(Path("m-int8.tflite"), Format.TFLITE, Precision.INT8, "boom"),
                                  artifact_entry(failed, None)),
    "quantized": lambda: _quantized(("agreement 50% < 90%",)),
}


@pytest.mark.parametrize("case", ENTRY_CASES)
def test_every_shape_of_entry_round_trips_and_fits_the_schema(case: str, written: dict[str, Any]) -> None:
    """Each validation shape the code can write, built from the objects a run
    holds, reads back into the same record and passes the schema in a manifest."""
    artifact, entry = ENTRY_CASES[case]()
    as_written = json.loads(json.dumps(finite(entry)))
    assert ArtifactRecord.from_json(as_written).to_json() == entry  # "inf" read back as the float it was
    assert json.dumps(finite(ArtifactRecord.from_json(as_written).to_json())) == json.dumps(as_written)
    assert entry["file"] == artifact.path.name and entry["validation"]["status"] in {s.value for s in Status}
    assert ("sha256" in entry) == isinstance(artifact, Built)
    document = copy.deepcopy(written) | {"passed": False, "artifacts": [json.loads(json.dumps(finite(entry)))]}
    assert first_problem(document) is None, first_problem(document)


def test_the_quantization_block_says_how_the_file_was_made() -> None:
    artifact, entry = _quantized(("agreement 50% < 90%",))
    assert entry["quantization"] == {
        "precision": "int8", "recipe": f"{artifact.path.name}.recipe.json", "calibration": {"sha256": "cd" * 32,
                                                                                          "samples": 8},
        "method": {"calibration_method": "percentile", "per_channel": True}, "keep_float": ["conv1"],
        "size_ratio": artifact.bytes / 4000, "sensitivity": f"{artifact.path.name}.sensitivity.json",
        "sensitive_layers": ["conv1", "head"]}
    assert list(entry)[-1] == "quantization"  # after validation, as runs always wrote it


def test_the_validation_block_keeps_its_numbers(written: dict[str, Any]) -> None:
    result = _checked(("cosine 0.2 < 0.9",))
    validation = artifact_entry(_built(), result)["validation"]
    comparison = result.outputs[0]
    assert validation["status"] == Status.FAILED and validation["failures"] == list(result.failures)
    assert validation["outputs"][0] == {
        "name": comparison.name, "shape": list(comparison.shape), "max_abs": comparison.max_abs,
        "mean_abs": comparison.mean_abs, "cosine": comparison.cosine, "worst_sample": comparison.worst_sample,
        "snr_db": comparison.snr_db, "passed": comparison.passed}
    assert validation["task"] == result.task.to_json() and "people_agreement" in validation["task"]
    assert finite(validation)["outputs"][0]["snr_db"] == "inf"


# -- planted defects --------------------------------------------------------------------------------------

def _without(document: dict[str, Any], *keys: str | int) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    target = broken
    for k in keys[:-1]:
        target = target[k]
    del target[keys[-1]]
    return broken


def _with(document: dict[str, Any], value: Any, *keys: str | int) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    target = broken
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    return broken


def test_the_schema_rejects_planted_defects(written: dict[str, Any]) -> None:
    last = len(written["artifacts"]) - 1
    cases = {
        f"artifacts[{last}].validation: 'status' is a required property":
            _without(written, "artifacts", last, "validation", "status"),
        "'model' is a required property": _without(written, "model"),
        "passed: expected boolean, got string": _with(written, "yes", "passed"),
        "artifacts[0].bytes: -1 is less than the minimum of 0": _with(written, -1, "artifacts", 0, "bytes"),
        "artifacts[0].validation: 'samples' is a required property":
            _without(written, "artifacts", 0, "validation", "samples"),
        "expected object, got array": [written],
        'artifacts[0].format: "tflight" is not one of "tflite", "onnx", "coreml", "coreml-nn", "ort"':
            _with(written, "tflight", "artifacts", 0, "format"),
    }
    for expected, document in cases.items():
        assert first_problem(document) == expected
    no_digest = first_problem(_without(written, "artifacts", 0, "sha256"))
    assert no_digest is not None and no_digest.startswith("artifacts[0]: ") and "'sha256'" in no_digest
    failed_but_passed = _with(written, {"status": "failed", "failures": ["x"]}, "artifacts", 0, "validation")
    assert first_problem(failed_but_passed) is not None  # the top-level verdict says passed
    assert first_problem(_with(failed_but_passed, False, "passed")) is None


def test_the_reader_says_what_is_wrong_in_one_line(written: dict[str, Any], tmp_path: Path) -> None:
    text = json.dumps(written, indent=1)
    truncated = text[: len(text) // 2]
    error = _json_error(truncated)
    cases = {
        "truncated": (truncated, f"not valid JSON (line {error.lineno}, column {error.colno})"),
        "empty": ("", "not valid JSON (line 1, column 1)"),
        "incomplete": (json.dumps(_without(written, "artifacts", 1, "validation", "status")),
                       "artifacts[1].validation: 'status' is a required property"),
    }
    for name, (content, problem) in cases.items():
        path = plant(tmp_path / name, None, content)
        with pytest.raises(ManifestError) as raised:
            read_manifest(path)
        assert str(raised.value) == f"{path}: {problem}", name
    binary = tmp_path / "binary" / MANIFEST
    binary.parent.mkdir()
    binary.write_bytes(b"\x80\x81\xfe")
    with pytest.raises(ManifestError, match=r"manifest\.json: not valid JSON \(not UTF-8 text\)$"):
        read_manifest(binary)
    with pytest.raises(ManifestError) as missing:
        read_manifest(tmp_path / "none" / MANIFEST)
    assert str(missing.value) == f"{tmp_path / 'none' / MANIFEST}: no manifest; run `posepipe run MODEL` first"
    (tmp_path / "folder" / MANIFEST).mkdir(parents=True)
    with pytest.raises(ManifestError, match="cannot be read"):
        read_manifest(tmp_path / "folder" / MANIFEST)


def _commands(root: Path, run: Path) -> dict[str, list[str]]:
    artifact = root / "hourglass" / "hourglass-fp32.onnx"
    shutil.copy(run / "artifacts" / "hourglass" / artifact.name, artifact)  # predict loads the file first
    return {"index": ["index", "--out", str(root)], "report": ["report", "hourglass", "--out", str(root)],
            "bench": ["bench", "hourglass", "--out", str(root)], "predict": ["predict", str(artifact), "x.jpg"]}


@pytest.mark.parametrize("defect", ["truncated", "incomplete"])
def test_every_reader_command_exits_19_with_one_line(defect: str, tiny_run: Path, written: dict[str, Any],
                                                     tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    text = json.dumps(written, indent=2)
    if defect == "truncated":
        content = text[: int(len(text) * 0.7)]
        error = _json_error(content)
        problem = f"not valid JSON (line {error.lineno}, column {error.colno})"
    else:
        content = json.dumps(_without(written, "artifacts", 2, "validation", "status"), indent=2)
        problem = "artifacts[2].validation: 'status' is a required property"
    root = tmp_path / "planted"
    path = plant(root, None, content)
    for command, args in _commands(root, tiny_run).items():
        result = invoke(capfd, *args)
        assert result.code == 19, (command, result.err)
        assert result.error_lines == [f"posepipe: error: {path}: {problem}"], (command, result.err)
        assert "Traceback" not in result.err + result.out, command


def test_a_run_writes_over_an_unreadable_manifest_and_keeps_an_equal_one(written: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    from posepipe.pipeline.run.orchestrate import _manifest

    path = plant(tmp_path / "old", None, '{"model": "hourglass", "artifa')
    assert _manifest(path, written, RecordingConsole()) == written
    assert json.loads(path.read_text()) == written
    newer = written | {"created": "2099-01-01T00:00:00+00:00"}
    console = RecordingConsole()
    assert _manifest(path, newer, console) == written  # the same bar its date: left as it was
    assert json.loads(path.read_text())["created"] == written["created"]
    assert any("manifest: up to date" in text for _, text in console.messages)


def test_the_session_check_finds_a_broken_run_manifest(written: dict[str, Any], tmp_path: Path) -> None:
    """The check tests/conftest.py runs at the end of the session can fail."""
    good = tmp_path / "artifacts" / "hourglass" / MANIFEST
    bad = tmp_path / "artifacts" / "cpm" / MANIFEST
    try:
        plant(tmp_path / "artifacts", written)
        bad.parent.mkdir()
        bad.write_text(json.dumps(_without(written, "tools")))
        assert schema_problems(tmp_path) == [f"{bad}: 'tools' is a required property"]
        assert good.is_file()
    finally:
        bad.unlink(missing_ok=True)  # the session's own check must not see it


# -- fuzzing: any input is a dict or a posepipe error ---------------------------------------------------------

def _read(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """What ``read_manifest`` makes of ``raw``: (document, None) or (None, its error);
    any other exception escapes and fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / MANIFEST
        path.write_bytes(raw)
        try:
            document = read_manifest(path)
        except PosepipeError as error:
            message = str(error)
            assert message.startswith(f"{path}: ") and "\n" not in message, message
            return None, message
        assert isinstance(document, dict)
        return document, None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_read_as_a_manifest_or_a_posepipe_error(raw: bytes) -> None:
    _read(raw)


@FUZZ
@given(JSON_VALUES)
def test_any_json_value_reads_as_a_manifest_or_a_posepipe_error(value: Any) -> None:
    document, error = _read(json.dumps(value).encode())
    assert document is None and error is not None  # nothing this small is a whole manifest


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


@FUZZ
@given(data=st.data())
def test_a_mutated_manifest_reads_as_a_manifest_or_a_posepipe_error(written: dict[str, Any], data: Any) -> None:
    document = copy.deepcopy(written)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(_paths(document)))
        parent = document
        for k in where[:-1]:
            parent = parent[k]
        if data.draw(st.booleans()):
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(JSON_VALUES)
    read, error = _read(json.dumps(document).encode())
    assert json.dumps(read) == json.dumps(document) if error is None else read is None  # NaN != NaN: as text


@FUZZ
@given(cut=st.floats(0.0, 0.999))
def test_a_truncated_manifest_is_never_read(written: dict[str, Any], cut: float) -> None:
    text = json.dumps(written, indent=2)
    document, error = _read(text[: int(len(text) * cut)].encode())
    assert document is None and error is not None and "not valid JSON (line " in error
