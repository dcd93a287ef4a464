"""The command line: help, the zoo, a whole tiny run, and every bad input as one
line with its own exit code and nothing left half-written in artifacts/."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.harness import TinyZoo, invoke, read_manifest


def artifacts_files(root: Path) -> list[str]:
    folder = root / "artifacts"
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def _listed_commands(top_help: str) -> list[str]:
    """The command names in the "Commands:" section of ``posepipe --help``."""
    section = top_help.split("\nCommands:\n", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.strip()]


def test_help_explains_every_command(capfd: pytest.CaptureFixture[str]) -> None:
    """Every command the group has (discovered, not listed by hand: a new command
    is covered the day it is added) is listed, and its own help says what it does
    and explains every option."""
    import click

    from posepipe.pipeline.cli.main import cli

    result = invoke(capfd, "--help")
    assert result.code == 0
    assert sorted(_listed_commands(result.out)) == sorted(cli.commands)
    for name, command in cli.commands.items():
        assert (command.help or "").strip(), f"{name} has no docstring"
        own = invoke(capfd, name, "--help")
        assert own.code == 0, (name, own.err)
        assert own.out.startswith(f"Usage: posepipe {name} "), (name, own.out)
        text = " ".join(own.out.split())
        first_line = command.help.strip().splitlines()[0]  # type: ignore[union-attr]
        assert " ".join(first_line.split()) in text, name
        for option in command.params:
            if isinstance(option, click.Option) and not option.hidden:
                assert (option.help or "").strip(), f"{name} {option.opts[0]} has no help"
                assert all(opt in text for opt in option.opts), (name, option.opts)
    run_help = invoke(capfd, "run", "--help").out
    for option in ("--checkpoint", "--data", "--formats", "--preset", "--option", "--val-samples", "--precisions",
                   "--calibration-samples", "--calibration-data", "--keep-float", "--auto-mixed-precision"):
        assert option in run_help


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "posepipe"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "version" in done.stdout


def _table_rows(out: str) -> dict[str, dict[str, str]]:
    """A rich table as {first cell: {column: cell}}: a row's cells wrap onto the
    lines below it (first cell empty), joined back here with spaces."""
    lines = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines()]
    header = next(line.split("┃")[1:-1] for line in out.splitlines() if line.startswith("┃"))
    columns = [c.strip() for c in header]
    rows: list[list[str]] = []
    for cells in (c for c in lines if len(c) == len(columns)):
        if cells[0]:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def test_list_shows_the_zoo(capfd: pytest.CaptureFixture[str]) -> None:
    """One row per registered model with its default input, size and keypoints.
    Expected values come from outside posepipe's own counters: Keras's parameter
    count, the input sizes the README's zoo table documents, COCO's 17 keypoints,
    and the hourglass's 149 M MACs measured in the design notes (DESIGN.md)."""
    from posepipe import models

    result = invoke(capfd, "list")
    assert result.code == 0, result.err
    rows = _table_rows(result.out)
    assert sorted(rows) == models.names()
    documented = {"hourglass": "128x128", "cpm": "128x128", "simplebaseline": "128x96", "blazepose": "128x128",
                  "posenet": "257x257", "openpose": "192x192"}
    for name, row in rows.items():
        spec = models.get(name)
        assert row["input"] == documented[name], row
        assert row["keypoints"] == "17", row  # COCO's keypoint set
        assert row["params"] == f"{spec.build(spec.default).count_params() / 1e6:.2f} M", row
        for output in spec.outputs_for(spec.default):
            assert output.name in row["outputs"], row
        assert all(target in row["budgets (p50 ms)"] for target in spec.budgets), row
        # the system it follows by name, never a reference document's number
        assert row["based on"] == " ".join(spec.origin.split()) and not re.fullmatch(r"[\d ]+", row["based on"])
    assert rows["hourglass"]["GMAC"] == "0.149"


def test_a_tiny_run_converts_validates_and_writes_the_manifest(
        zoo: TinyZoo, tiny_run: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The session's shared tiny run (conftest.tiny_run), then a narrower run over a copy of it."""
    manifest = read_manifest(tiny_run, "hourglass")
    assert manifest["passed"] is True and manifest["model"] == "hourglass"
    assert manifest["checkpoint"]["sha256"] == _sha(zoo.checkpoint("hourglass"))
    by_file = {a["file"]: a for a in manifest["artifacts"]}
    assert sorted(by_file) == ["hourglass-fp32.mlmodel", "hourglass-fp32.mlpackage",
                               "hourglass-fp32.onnx", "hourglass-fp32.ort", "hourglass-fp32.tflite"]
    for name, entry in by_file.items():
        path = tiny_run / "artifacts" / "hourglass" / name
        assert entry["bytes"] > 0 and entry["sha256"] == _sha(path)
        if entry["format"].startswith("coreml"):  # an image: the file normalises the pixels itself
            image = {"color": "RGB", "scale": pytest.approx(1 / 127.5), "bias": [-1.0, -1.0, -1.0]}
            assert entry["inputs"] == [{"name": "image", "shape": [1, 64, 64, 3], "dtype": "uint8", "image": image}]
        else:
            assert entry["inputs"] == [{"name": "image", "shape": [1, 64, 64, 3], "dtype": "float32"}]
        assert entry["outputs"][0]["name"] == "heatmaps"
    for name in by_file:
        validation = by_file[name]["validation"]
        assert validation["status"] == "passed" and validation["samples"] == 16
        assert validation["task"]["agreement"] == 1.0
    for name in ("hourglass-fp32.mlpackage", "hourglass-fp32.mlmodel"):
        assert by_file[name]["validation"]["runtime"] == "coreml-reference"
    assert not [f for f in artifacts_files(tiny_run) if ".tmp-" in f]
    listed = sorted(p.name for p in (tiny_run / "artifacts" / "hourglass").iterdir())
    companions = [c["file"] for entry in by_file.values() for c in entry.get("companions", [])]
    assert companions == ["hourglass-fp32.required_operators.config"]  # beside the .ort
    assert listed == sorted(["manifest.json", "report.html", "hourglass-golden.png", *by_file, *companions])

    audit = subprocess.run([sys.executable, str(Path(__file__).parents[2] / "scripts" / "audit_manifest.py"),
                            str(tiny_run / "artifacts/hourglass/manifest.json")],
                           capture_output=True, text=True, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "audit: manifest agrees" in audit.stdout

    shutil.copytree(tiny_run / "artifacts", in_tmp / "artifacts")
    narrower = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "onnx")
    assert narrower.code == 0
    assert "hourglass-fp32.onnx" in narrower.out and "passed" in narrower.out
    assert [f for f in artifacts_files(in_tmp) if "fp32" in f] == ["hourglass/hourglass-fp32.onnx"]


def test_the_default_checkpoint_is_trained_once_then_reused(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    args = ["run", "hourglass", "--preset", "tiny", "--data", str(zoo.data), "--cache", str(in_tmp / "cache"),
            "--formats", "tflite", "--precisions", "fp32", "--no-profile"]
    first = invoke(capfd, *args)
    assert first.code == 0, first.err
    assert "checkpoint: training hourglass" in first.err
    record = json.loads(Path(read_manifest(in_tmp, "hourglass")["checkpoint"]["record"]).read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    assert {"loss", "val_pck", "seconds"} <= record["epochs"][0].keys()
    second = invoke(capfd, *args)
    assert second.code == 0 and "checkpoint: up to date" in second.err and "training" not in second.err


def test_train_writes_a_checkpoint_and_its_record(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "train", "hourglass", "--preset", "tiny", "--data", str(zoo.data), "--epochs", "1",
                    "--out", "ckpt")
    assert result.code == 0, result.err
    assert (in_tmp / "ckpt" / "model.keras").is_file()
    record = json.loads((in_tmp / "ckpt" / "training.json").read_text())
    assert record["model"] == "hourglass" and len(record["epochs"]) == 1 and 0 <= record["val_pck"] <= 1


def _sha(path: Path) -> str:
    from posepipe.pipeline.engine.hashing import sha256_path

    return sha256_path(path)


# --- bad input ------------------------------------------------------------------------------


def broken_copy(zoo: TinyZoo, root: Path) -> Path:
    data = root / "data"
    shutil.copytree(zoo.data, data)
    return data


def _set_val_annotations(data: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = data / "annotations" / "person_keypoints_val.json"
    doc = json.loads(path.read_text())
    path.write_text(change(doc) if callable(change) else change)


CASES = {
    "unknown model": (lambda z, r: ["run", "nope"], 3, r"unknown model 'nope'; known models: .*hourglass"),
    "missing checkpoint": (lambda z, r: z.run_args("hourglass")[:-2] + ["--checkpoint", "gone.keras"], 4,
                           r"gone.keras: checkpoint not found"),
    "corrupt checkpoint": (lambda z, r: (r / "bad.keras").write_bytes(b"PK\x03\x04junk") and
                           z.run_args("hourglass")[:-2] + ["--checkpoint", str(r / "bad.keras")], 4,
                           r"bad.keras: not a readable Keras checkpoint"),
    "other input size": (lambda z, r: z.run_args("hourglass") + ["-o", "input_size=128"], 5,
                         r"model.keras: input 64x64x3, but hourglass with this config takes 128x128x3"),
    "other architecture": (lambda z, r: z.run_args("hourglass") + ["-o", "depth=1"], 5,
                           r"model.keras: \d+ weight tensors, but hourglass with this config has \d+"),
    "malformed json": (lambda z, r: _set_val_annotations(d := broken_copy(z, r), '{"images": [') or
                       z.run_args("hourglass")[:4] + ["--data", str(d)] + z.run_args("hourglass")[6:], 6,
                       r"person_keypoints_val.json: not valid JSON"),
    "missing image": (lambda z, r: (d := broken_copy(z, r)).joinpath("val", "000000.jpg").unlink() or
                      z.run_args("hourglass")[:4] + ["--data", str(d)] + z.run_args("hourglass")[6:], 7,
                      r"val/000000.jpg: image file not found"),
    "empty dataset": (lambda z, r: _set_val_annotations(d := broken_copy(z, r),
                                                        lambda doc: json.dumps({**doc, "annotations": []})) or
                      z.run_args("hourglass")[:4] + ["--data", str(d)] + z.run_args("hourglass")[6:], 8,
                      r"person_keypoints_val.json: no person with a labelled keypoint"),
    "no dataset": (lambda z, r: ["run", "hourglass", "--preset", "tiny", "--data", str(r / "nowhere")], 13,
                   r"nowhere: dataset folder not found"),
    "bad override": (lambda z, r: z.run_args("hourglass") + ["-o", "colour=red"], 12,
                     r"HourglassConfig has no field 'colour'"),
    "precision no format builds": (lambda z, r: z.run_args("hourglass") + ["--formats", "tflite", "--precisions",
                                                                            "fp32,w8"], 12,
                                   r"--precisions: no chosen format builds w8 \(formats: tflite\)"),
    "keep-float no such layer": (lambda z, r: z.run_args("hourglass") + ["--precisions", "int8", "--keep-float",
                                                                          "stem_conv", "--keep-float", "nope"], 12,
                                 r"--keep-float: hourglass has no layer nope"),
    "calibration folder missing": (lambda z, r: z.run_args("hourglass") + ["--precisions", "int8",
                                                                            "--calibration-data", str(r / "gone")],
                                   13, r"gone: calibration folder not found"),
    "calibration folder empty": (lambda z, r: (r / "empty").mkdir() or z.run_args("hourglass") + [
                                 "--precisions", "int8", "--calibration-data", str(r / "empty")], 8,
                                 r"empty: no .jpg, .jpeg, .png, .bmp, .webp image to calibrate on"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_with_its_exit_code_and_leaves_nothing(
        case: str, zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    make_args, code, message = CASES[case]
    result = invoke(capfd, *make_args(zoo, in_tmp))
    assert result.code == code, result.err
    assert len(result.error_lines) == 1, result.err
    assert re.search(message, result.error_lines[0]), result.error_lines
    assert artifacts_files(in_tmp) == []


def test_a_bad_option_is_a_usage_error(capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "run", "hourglass", "--formats", "tflite,jpeg")
    assert result.code == 2 and "unknown format 'jpeg'" in result.err
    result = invoke(capfd, "run", "hourglass", "--precisions", "fp32,int4")
    assert result.code == 2 and "unknown precision 'int4'" in result.err


def test_a_conversion_that_dies_half_way_leaves_no_file(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from posepipe.converters import CONVERTERS
    from posepipe.models.formats import Format

    def half_write(request, out):  # type: ignore[no-untyped-def]
        out.write_bytes(b"TFL3 half a flatbuffer")
        raise RuntimeError("killed mid-write")

    assert invoke(capfd, *zoo.run_args("hourglass"), "--formats", "tflite").code == 0
    verified = {f: _sha(in_tmp / "artifacts" / f) for f in artifacts_files(in_tmp) if "." in f}
    monkeypatch.setattr(CONVERTERS[Format.TFLITE], "convert", half_write)
    # --force: the converter is patched behind the stage keys' back, so its record still says up to date
    result = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "tflite,onnx", "--force")
    assert result.code == 9
    assert "hourglass-fp32.tflite: conversion failed: tflite: RuntimeError: killed mid-write" in result.err
    assert "kept as it was" in result.error_lines[0]  # a failed rebuild never replaces a verified file
    assert {f: _sha(in_tmp / "artifacts" / f) for f in artifacts_files(in_tmp) if "." in f} == verified

    shutil.rmtree(in_tmp / "artifacts")  # no verified file to keep: the failure is published, its fragment is not
    result = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "tflite,onnx")
    assert result.code == 9
    assert "hourglass-fp32.tflite: conversion failed: tflite: RuntimeError: killed mid-write" in result.err
    assert artifacts_files(in_tmp) == ["hourglass", "hourglass/hourglass-fp32.onnx", "hourglass/hourglass-golden.png",
                                      "hourglass/manifest.json", "hourglass/report.html"]
    manifest = read_manifest(in_tmp, "hourglass")
    assert manifest["passed"] is False
    assert manifest["artifacts"][0]["validation"]["status"] == "failed"
