"""Every zoo model goes through ``posepipe run`` exactly as the others: its tiny
checkpoint converts to Core ML (both flavours) and every file passes validation
in the reference evaluator off macOS (or Core ML on macOS). TFLite and ONNX of
every model are converted and compared with Keras in tests/test_converters.py;
hourglass's full four-format run is in tests/test_cli.py.

A model registered without a tiny config or without this test fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest

from posepipe import models
from tests.support.harness import TinyZoo, invoke, read_manifest

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = (".mlpackage", ".mlmodel")


@pytest.mark.parametrize("name", models.names())
def test_tiny_model_converts_and_validates(zoo: TinyZoo, name: str, in_tmp: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, *zoo.run_args(name), "--formats", "coreml,coreml-nn")
    assert result.code == 0, result.err
    manifest = read_manifest(in_tmp, name)
    assert manifest["passed"] is True
    files = sorted(a["file"] for a in manifest["artifacts"])
    assert files == sorted(f"{name}-fp32{ext}" for ext in EXTENSIONS)
    for artifact in manifest["artifacts"]:
        assert artifact["validation"]["status"] == "passed", artifact["validation"]["failures"]
        assert artifact["validation"]["task"]["agreement"] >= 0.999
    spec = models.get(name)
    assert [o["name"] for o in manifest["outputs"]] == [o.name for o in spec.outputs_for(spec.tiny)]
    assert manifest["disabled"] == []  # named precisions leave nothing out


def test_a_precision_the_model_disables_is_left_out_and_recorded(zoo: TinyZoo, in_tmp: Path,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    from posepipe.models.formats import Precision

    args = zoo.run_args("blazepose", "--formats", "tflite")
    at = args.index("--precisions")
    del args[at:at + 2]  # the default matrix
    result = invoke(capfd, *args)
    assert result.code == 0, result.err
    reason = models.get("blazepose").disabled[Precision.INT8]
    assert f"matrix: blazepose tflite int8 left out by the model: {reason}" in result.out + result.err
    manifest = read_manifest(in_tmp, "blazepose")
    assert manifest["disabled"] == [{"format": "tflite", "precision": "int8", "reason": reason}]
    assert sorted(a["file"] for a in manifest["artifacts"]) == ["blazepose-fp16.tflite", "blazepose-fp32.tflite"]
    assert escape(reason) in (in_tmp / "artifacts" / "blazepose" / "report.html").read_text()

    # the independent audit decodes regressed coordinates too
    audit = subprocess.run([sys.executable, str(ROOT / "scripts" / "audit_manifest.py"),
                            str(in_tmp / "artifacts" / "blazepose" / "manifest.json")],
                           capture_output=True, text=True, check=False)
    assert audit.returncode == 0 and "audit: manifest agrees" in audit.stdout, audit.stdout + audit.stderr


@pytest.mark.parametrize("name", models.names())
def test_tiny_config_is_small_and_differs_from_the_default(name: str) -> None:
    spec = models.get(name)
    assert spec.tiny != spec.default
    assert spec.build(spec.tiny).count_params() < spec.build(spec.default).count_params() / 4
    assert spec.tiny_schedule.train_images <= 48 and spec.tiny_schedule.epochs <= 4


def test_every_registered_model_has_a_conversion_test() -> None:
    """Collected, not assumed: a model left out of the parametrisation (or a test
    renamed away) fails here."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider",
                           "tests/models/test_zoo.py", "tests/converters/test_converters.py"],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    collected = done.stdout
    for name in models.names():
        assert f"test_tiny_model_converts_and_validates[{name}]" in collected, name
        for check in ("test_each_format_has_batch_one_and_the_spec_names", "test_runtime_outputs_match_keras"):
            assert re.search(rf"::{check}\[(.+-)?{name}(-.+)?\]", collected), (check, name)
