"""The exit-code table (pipeline/errors.py ERRORS) is complete and reached: every
PosepipeError subclass anywhere in posepipe is listed with a code of its own,
and every code in the table is produced by a real cause, here when that is cheap
(the CLI where it can be) or by the named test elsewhere that produces it."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from posepipe.models.errors import PosepipeError
from posepipe.pipeline.errors import ERRORS, INTERRUPTED_EXIT_CODE, USAGE_EXIT_CODE
from tests.support.harness import TinyZoo, invoke

PACKAGES = ("pipeline", "models", "calibration", "converters", "validators")  # setup.py's FOLDERS


def _every_module() -> list[str]:
    names = []
    for package in PACKAGES:
        module = importlib.import_module(f"posepipe.{package}")
        names += [module.__name__, *(m.name for m in pkgutil.walk_packages(module.__path__, f"{module.__name__}."))]
    return sorted(set(names))


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_posepipe_error_is_in_the_table_with_a_code_of_its_own() -> None:
    """Issue 21: an error class nobody listed would print a code the README never mentions."""
    modules = _every_module()
    assert "posepipe.pipeline.cli.main" in modules and "posepipe.calibration.coco_parse" in modules
    for name in modules:
        importlib.import_module(name)
    defined = {cls for cls in _subclasses(PosepipeError) if cls.__module__.startswith("posepipe.")}
    missing = sorted(f"{cls.__module__}.{cls.__name__}" for cls in defined - set(ERRORS))
    assert not missing, f"not in pipeline/errors.py ERRORS: {missing}"
    codes = [error.exit_code for error in ERRORS]
    assert len(set(codes)) == len(codes), sorted(codes)
    assert not {0, PosepipeError.exit_code, USAGE_EXIT_CODE, INTERRUPTED_EXIT_CODE} & set(codes)


# --- every code reached -----------------------------------------------------------------------
# Each trigger returns the exit code it produced (CLI) or the PosepipeError raised; a
# string names the test elsewhere that reaches the code through a whole run.

Trigger = Callable[[Any], Any]


def _cli(*args: str) -> Trigger:
    return lambda ctx: invoke(ctx.capfd, *[a.format(tmp=ctx.tmp, data=ctx.zoo.data) for a in args])


def _raised(call: Callable[[Any], object]) -> Trigger:
    def trigger(ctx: Any) -> PosepipeError:
        with pytest.raises(PosepipeError) as error:
            call(ctx)
        return error.value
    return trigger


def _broken_data(change: Callable[[Path], None]) -> Trigger:
    """``posepipe train`` on a copy of the tiny data with ``change`` made to it: it
    reads the dataset before the first epoch."""
    def trigger(ctx: Any) -> Any:
        data = ctx.tmp / "data"
        shutil.copytree(ctx.zoo.data, data)
        change(data)
        return invoke(ctx.capfd, "train", "hourglass", "--preset", "tiny", "--data", data, "--epochs", "1",
                      "--out", ctx.tmp / "ckpt")
    return trigger


def _train_annotations(edit: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def change(data: Path) -> None:
        path = data / "annotations" / "person_keypoints_train.json"
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))
    return change


def _index(entries: list[dict[str, Any]], files: dict[str, bytes] | None = None) -> Callable[[Path], Path]:
    """A folder holding an artifacts tree whose index.json lists ``entries``."""
    def make(root: Path) -> Path:
        host = root / "host"
        host.mkdir()
        (host / "index.json").write_text(json.dumps({"schema": 1, "artifacts": entries}))
        for name, data in (files or {}).items():
            (host / name).parent.mkdir(parents=True, exist_ok=True)
            (host / name).write_bytes(data)
        return host
    return make


def _entry(**fields: Any) -> dict[str, Any]:
    return {"model": "hourglass", "file": "hourglass-fp32.tflite", "path": "hourglass/hourglass-fp32.tflite",
            "format": "tflite", "precision": "fp32", "sha256": "0" * 64, "bytes": 4, "passed": True,
            "status": "passed", **fields}


def _pull(make_host: Callable[[Path], Path], dest: str = "dest") -> Trigger:
    return lambda ctx: invoke(ctx.capfd, "pull", "hourglass", "--format", "tflite", "--precision", "fp32",
                              "--from", make_host(ctx.tmp), "--to", ctx.tmp / dest)


def _mismatched_checkpoint(ctx: Any) -> None:
    from posepipe import models
    from posepipe.pipeline.run.checkpoint import load_checkpoint

    spec = models.get("hourglass")
    path = ctx.tmp / "other.keras"
    spec.build(spec.config("tiny", {"input_size": "32"})).save(path)
    load_checkpoint(path, spec, spec.config("tiny"))


def _no_calibration(ctx: Any) -> None:
    from posepipe import models
    from posepipe.converters.base import ConversionRequest
    from posepipe.models.formats import Precision

    ConversionRequest(None, models.get("hourglass"), (64, 64), Precision.INT8).calibration_data()


def _too_large_image(ctx: Any) -> None:
    from PIL import Image

    from posepipe.calibration.coco import read_image

    Image.new("RGB", (300, 300)).save(ctx.tmp / "big.png")
    ctx.monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000)  # refused above twice this: 90 000 pixels are
    read_image(ctx.tmp / "big.png")


def _pull_into_a_file(ctx: Any) -> Any:
    (ctx.tmp / "a-file").write_text("not a folder")
    return _pull(_index([_entry()]), "a-file/dest")(ctx)


TRIGGERS: dict[int, Trigger | str] = {
    3: _cli("run", "nope"),
    4: _cli("run", "hourglass", "--preset", "tiny", "--data", "{data}", "--formats", "tflite", "--checkpoint",
            "{tmp}/gone.keras"),
    5: _raised(_mismatched_checkpoint),
    6: _broken_data(_train_annotations(lambda d: d["annotations"][0].update(area="big"))),
    7: _broken_data(lambda data: next((data / "train").glob("*.jpg")).unlink()),
    8: _broken_data(_train_annotations(lambda d: d.update(annotations=[]))),
    9: _raised(_no_calibration),
    10: "tests/pipeline/test_cli_validate.py::test_a_tampered_artifact_fails_after_the_fact",
    11: "tests/validators/test_latency.py::test_an_impossible_budget_fails_the_run_naming_artifact_and_target",
    12: _cli("train", "hourglass", "--preset", "tiny", "--data", "{data}", "-o", "input_size=-5"),
    13: _cli("train", "hourglass", "--preset", "tiny", "--data", "{tmp}/nowhere"),
    14: _raised(lambda ctx: __import__("posepipe.validators.perf.profile", fromlist=["profile"]).profile(
        ctx.tmp / "hourglass-fp32.mlpackage")),
    15: "tests/validators/test_coreml_eval.py::test_an_unknown_op_is_an_error_that_names_it",
    16: _cli("inspect", "{tmp}/missing.tflite"),
    17: lambda ctx: (ctx.tmp / "model.pt").write_bytes(b"x") and invoke(ctx.capfd, "inspect", ctx.tmp / "model.pt"),
    18: lambda ctx: (ctx.tmp / "m-fp32.onnx").write_bytes(bytes(range(256)) * 8) and invoke(
        ctx.capfd, "inspect", ctx.tmp / "m-fp32.onnx"),
    19: _cli("index", "--out", "{tmp}"),
    20: _cli("pull", "hourglass", "--format", "tflite", "--precision", "fp32", "--from", "{tmp}/nowhere", "--to",
             "{tmp}/dest"),
    21: _pull(_index([])),
    22: _pull(_index([_entry(path="../hourglass-fp32.tflite")])),
    23: _pull(_index([_entry(passed=False, status="failed")])),
    24: _pull(_index([_entry()], {"hourglass/hourglass-fp32.tflite": b"TFL3"})),
    25: lambda ctx: ctx.monkeypatch.delenv("TF_CONFIG", raising=False) or invoke(
        ctx.capfd, "train", "hourglass", "--preset", "tiny", "--strategy", "multi-worker"),
    26: "tests/pipeline/test_build_workers.py::test_a_killed_worker_fails_the_run_naming_what_was_unfinished",
    27: "tests/pipeline/test_locks.py::test_a_second_writer_waits_for_the_first_and_says_whom_for",
    28: _pull_into_a_file,
    29: _raised(_too_large_image),
    30: "tests/pipeline/test_coverage_run.py::test_a_spec_demanding_full_delegation_fails_the_run_with_one_line",
    31: "tests/pipeline/test_byo_model.py::test_spec_check_explains_a_spec",
    32: "tests/calibration/test_layouts.py::test_an_ai_challenger_set_needs_a_model_on_its_keypoint_set",
}


def test_the_triggers_cover_the_table_exactly() -> None:
    assert sorted(TRIGGERS) == sorted(error.exit_code for error in ERRORS)


class _Context:
    def __init__(self, zoo: TinyZoo, tmp: Path, capfd: pytest.CaptureFixture[str],
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.zoo, self.tmp, self.capfd, self.monkeypatch = zoo, tmp, capfd, monkeypatch


@pytest.mark.parametrize("code", sorted(TRIGGERS))
def test_every_exit_code_is_reached_by_a_real_cause(code: int, zoo: TinyZoo, in_tmp: Path,
                                                    capfd: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = TRIGGERS[code]
    if isinstance(trigger, str):  # reached by a whole run elsewhere: that test exists and asserts this code
        path, name = trigger.split("::")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert str(code) in inspect.getsource(getattr(module, name))
        return
    outcome = trigger(_Context(zoo, in_tmp, capfd, monkeypatch))
    if isinstance(outcome, PosepipeError):
        assert outcome.exit_code == code and "\n" not in str(outcome), outcome
        return
    assert outcome.code == code, outcome.err
    assert len(outcome.error_lines) == 1 and "Traceback" not in outcome.err, outcome.err
