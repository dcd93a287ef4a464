"""A run records every .tflite and .onnx file's accelerator coverage in its manifest
(valid against the schema), and a spec that demands full delegation fails the run
with exit code 30 and one line when a file is not fully delegated: the tiny
hourglass built with UpSampling2D, whose .onnx holds Tile nodes NNAPI cannot take."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import keras
import pytest

from posepipe import models
from posepipe.models import registry
from posepipe.models.formats import Format
from posepipe.models.zoo import hourglass
from posepipe.pipeline.errors import CoverageNotMetError
from posepipe.pipeline.manifest.read import first_problem
from posepipe.pipeline.report.page import REPORT
from posepipe.pipeline.run.coverage import required
from posepipe.validators.perf.coverage import ACCELERATORS
from tests.support.harness import TinyZoo, invoke, read_manifest


def _demanding(monkeypatch: pytest.MonkeyPatch, *accelerators: str) -> None:
    """hourglass, for this test only, with a coverage demand (the registry is restored after)."""
    spec = models.get("hourglass")
    monkeypatch.setitem(registry._SPECS, "hourglass", replace(spec, coverage_required=accelerators))


def test_a_spec_demanding_full_delegation_fails_the_run_with_one_line(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _demanding(monkeypatch, "litert-gpu", "nnapi")
    # A non-delegable op: UpSampling2D lowers to Tile (the zoo's hourglass resizes, which NNAPI takes). Its
    # own cache: the same weights and code keys would otherwise share the shared tiny files.
    monkeypatch.setattr(hourglass, "upsample_nearest", lambda x, f, name: keras.layers.UpSampling2D(f, name=name)(x))
    result = invoke(capfd, *zoo.run_args("hourglass", "--formats", "tflite,onnx"), "--out", str(in_tmp / "artifacts"),
                    "--cache", str(in_tmp / "cache"))
    assert result.code == CoverageNotMetError.exit_code == 30, result.err
    assert len(result.error_lines) == 1 and "Traceback" not in result.err, result.err
    line = result.error_lines[0]
    assert "hourglass-fp32.onnx: not fully delegated on nnapi" in line and "Tile" in line, line
    assert "tflite" not in line  # its builtin ops all go to the GPU delegate: only the .onnx falls short

    manifest = read_manifest(in_tmp, "hourglass")
    assert manifest["passed"] is False and first_problem(manifest) is None
    for entry in manifest["artifacts"]:
        expected = {str(a) for a in ACCELERATORS[Format(entry["format"])]}
        assert set(entry["coverage"]) == expected, entry["file"]
    onnx = next(e for e in manifest["artifacts"] if e["format"] == "onnx")
    assert onnx["coverage"]["nnapi"]["fully_delegated"] is False
    assert onnx["coverage"]["coreml-mlprogram"]["fully_delegated"] is True
    tflite = next(e for e in manifest["artifacts"] if e["format"] == "tflite")
    estimates = [t for t in tflite["latency"]["targets"].values() if t["kind"] == "estimated"]
    assert estimates and all(t["runs_on"] == "cpu" for t in estimates)  # no delegate figure has a basis

    page = (in_tmp / "artifacts" / "hourglass" / REPORT).read_text()
    table = page.split("<table id='coverage'>", 1)[1].split("</table>", 1)[0]
    nnapi_row = next(row for row in table.split("<tr") if "hourglass-fp32.onnx" in row and ">nnapi<" in row)
    assert "class='fail'>no<" in nnapi_row and "Tile" in nnapi_row
    assert table.split("<tbody>", 1)[1].count("<tr>") == 4  # one .tflite x litert-gpu, one .onnx x three ORT providers


def test_an_unknown_accelerator_in_a_spec_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from posepipe.models.errors import ConfigError

    _demanding(monkeypatch, "npu")
    with pytest.raises(ConfigError, match="npu"):
        required(models.get("hourglass"))
