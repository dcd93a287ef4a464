"""App and keypoints files through ``posepipe run`` (issue 23): the int8 app file takes
camera pixels as uint8 with no requantizing, the keypoints files decode in the graph,
every file is validated from the val crops' pixels, the .ort files follow their .onnx,
and each keypoints file's whole path is timed beside its model-only file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from posepipe import models
from posepipe.models.formats import Variant
from posepipe.pipeline.report.page import REPORT
from tests.conftest import session_root
from tests.support.harness import TinyZoo, invoke, read_manifest, shared_once
from tests.support.tflite_support_env import display

FORMATS = ("tflite", "onnx", "ort")
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx", "ort": ".ort"}


class _Plain:
    def readouterr(self) -> SimpleNamespace:
        return SimpleNamespace(out="", err="")


@pytest.fixture(scope="module")
def variants_run(zoo: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny hourglass runs of the app and keypoints files: fp32 in every format that has them
    (``fp32/``), and the int8 .tflite pair (``int8/``)."""
    def make(root: Path) -> None:
        for precision, formats in (("fp32", ",".join(FORMATS)), ("int8", "tflite")):
            result = invoke(_Plain(), *zoo.run_args(  # type: ignore[arg-type]
                "hourglass", "--formats", formats, "--variants", "app,keypoints", "--precisions", precision,
                "--calibration-samples", "24", "--out", str(root / precision / "artifacts")))
            assert result.code in (0, 10), result.code  # int8 task checks on a tiny model's flat heatmaps may fail

    return shared_once(session_root(tmp_path_factory) / "variants-run", make)


@pytest.fixture(scope="module")
def entries(variants_run: Path) -> dict[str, dict[str, Any]]:
    return {a["file"]: a for precision in ("fp32", "int8")
            for a in read_manifest(variants_run / precision, "hourglass")["artifacts"]}


def test_every_app_and_keypoints_file_is_built_and_validated_from_pixels(entries: dict[str, dict[str, Any]]) -> None:
    assert sorted(entries) == sorted([f"hourglass-fp32-{v}{SUFFIX[f]}" for f in FORMATS for v in ("app", "keypoints")]
                                     + ["hourglass-int8-app.tflite", "hourglass-int8-keypoints.tflite"])
    for name, entry in entries.items():
        assert entry["variant"] == name.split("-")[2].split(".")[0]
        assert entry["inputs"][0]["dtype"] == "uint8" and entry["inputs"][0].get("quantization") is None, name
        assert entry["validation"]["samples"] == 16, name
        if entry["precision"] == "fp32":
            assert entry["validation"]["status"] == "passed", (name, entry["validation"])
            assert entry["validation"]["task"]["agreement"] == 1.0, name
        else:  # int8: the tensors hold; only the tiny model's noisy task checks may fail
            assert all(f.startswith(("keypoint agreement", "PCK@0.2 drop")) for f in entry["validation"]["failures"])
    assert entries["hourglass-fp32-app.tflite"]["validation"]["outputs"][0]["max_abs"] < 1e-4
    keypoints = entries["hourglass-int8-keypoints.tflite"]
    assert [(o["name"], o["shape"], o["dtype"]) for o in keypoints["outputs"]] == [("keypoints", [1, 17, 3],
                                                                                     "float32")]
    assert keypoints["validation"]["outputs"] == []  # judged on its keypoints, not tensors


def test_keypoints_files_are_timed_end_to_end_beside_the_model_only_file(entries: dict[str, dict[str, Any]]) -> None:
    for precision in ("fp32", "int8"):
        block = entries[f"hourglass-{precision}-keypoints.tflite"]["latency"]["end_to_end"]
        assert block["app_side"]["p50_ms"] == 0.0  # a top-down file gives the keypoints
        figure = block["targets"]["host-cpu-1t"]
        assert figure["model_only_file"] == f"hourglass-{precision}-app.tflite"
        assert figure["total_ms"] == figure["invoke_ms"] > 0 and 0 <= figure["decoder_share"] <= 1


def test_the_report_says_which_file_suits_which_app(variants_run: Path) -> None:
    page = (variants_run / "fp32" / "artifacts" / "hourglass" / REPORT).read_text()
    table = page.split("<table id='variants'>")[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 6 and "decoded in the file" in table and "uint8 RGB pixels" in table


def test_metadata_displayer_reads_pixels_in_and_keypoints_out(variants_run: Path) -> None:
    spec = models.get("hourglass")
    shown = display(variants_run / "int8" / "artifacts" / "hourglass" / "hourglass-int8-keypoints.tflite")
    (subgraph,) = shown["metadata"]["subgraph_metadata"]
    (image,) = subgraph["input_tensor_metadata"]
    (unit,) = image["process_units"]
    assert unit["options"] == {"mean": [0.0] * 3, "std": [1.0] * 3}  # the file normalises: apps feed pixels
    assert image["stats"] == {"min": [0.0] * 3, "max": [255.0] * 3}
    assert "pixels as they are: the file normalises them itself (pixel - 127.5) / 127.5" in image["description"]
    (keypoints,) = subgraph["output_tensor_metadata"]
    assert keypoints["name"] == "keypoints" and "x, y in input pixels and the score" in keypoints["description"]
    assert shown["files"]["keypoints.txt"].splitlines() == list(spec.keypoints.names)


def test_the_variant_files_say_what_they_are(variants_run: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from posepipe.converters import CONVERTERS
    from posepipe.models.formats import Format

    folder = variants_run / "fp32" / "artifacts" / "hourglass"
    for fmt in (Format.TFLITE, Format.ONNX, Format.ORT):
        document = CONVERTERS[fmt].read_metadata(folder / f"hourglass-fp32-keypoints{fmt.suffix}").document
        assert document["variant"] == Variant.KEYPOINTS and document["input"]["in_graph"] is True
        assert [o["kind"] for o in document["outputs"]] == ["keypoints"]
    shown = invoke(capfd, "inspect", folder / "hourglass-fp32-app.onnx")
    assert shown.code == 0 and "  variant: app\n" in shown.out
    assert "; uint8 RGB pixels in, normalised inside the file" in shown.out


def test_a_variant_no_chosen_format_builds_is_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "run", "hourglass", "--formats", "coreml,coreml-nn", "--variants", "app,keypoints")
    assert result.code == 12  # ConfigError, as for any matrix that cannot be built
    assert result.error_lines == ["posepipe: error: --variants: none of coreml, coreml-nn builds app, keypoints files "
                                  "(app and keypoints files: tflite, onnx, ort)"]
    unknown = invoke(capfd, "run", "hourglass", "--variants", "tensor,pixels")
    assert unknown.code == 2 and "unknown variant 'pixels'; choose from tensor, app, keypoints" in unknown.err


def test_the_independent_audit_agrees_on_the_app_and_keypoints_files(variants_run: Path) -> None:
    """scripts/audit_manifest.py, which shares no code with posepipe, crops the val images itself,
    feeds the app and keypoints files their pixels and scores what they give."""
    import subprocess
    import sys

    manifest = variants_run / "fp32" / "artifacts" / "hourglass" / "manifest.json"
    audit = subprocess.run([sys.executable, str(Path(__file__).parents[2] / "scripts" / "audit_manifest.py"),
                            str(manifest)], capture_output=True, text=True, check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "hourglass-fp32-keypoints.ort: sha256 ok" in audit.stdout and "audit: manifest agrees" in audit.stdout


def test_a_file_the_model_disables_is_left_out_with_its_reason() -> None:
    """PoseNet's int8 keypoints .tflite (measured broken in TFLite's selective int8) leaves the default
    matrix with its reason; its int8 app file and int8 keypoints .onnx stay; named, it is built."""
    from posepipe.models.formats import Format, Precision
    from posepipe.pipeline.run.matrix import MatrixCell, cells, left_out

    spec, everything = models.get("posenet"), tuple(Variant)
    dropped = MatrixCell(Format.TFLITE, Precision.INT8, Variant.KEYPOINTS)
    chosen = cells((Format.TFLITE, Format.ONNX), None, spec.disabled, everything, spec.disabled_files)
    assert dropped not in chosen
    assert {MatrixCell(Format.TFLITE, Precision.INT8, Variant.APP),
            MatrixCell(Format.ONNX, Precision.INT8, Variant.KEYPOINTS)} <= set(chosen)
    assert left_out((Format.TFLITE,), None, spec.disabled, everything, spec.disabled_files) == (
        (dropped, spec.disabled_files[(Format.TFLITE, Precision.INT8, Variant.KEYPOINTS)]),)
    assert dropped in cells((Format.TFLITE,), (Precision.INT8,), spec.disabled, everything, spec.disabled_files)
