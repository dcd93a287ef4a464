"""A zoo model on a 14-keypoint set, end to end: ``posepipe run hourglass -o
keypoints=aic14`` trains on the synthetic set's AI Challenger labels, converts and
verifies every file, and the manifest, the files' metadata and ``predict``'s JSON
say aic-14, with PCKh@0.5 beside PCK@0.2. Plus the refusals that need no run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from posepipe.calibration.synthetic import generate
from posepipe.converters import CONVERTERS
from posepipe.models.formats import Format
from posepipe.models.keypoints import AIC_14
from posepipe.pipeline.manifest import read_manifest as read_checked
from tests.support.harness import TINY_DATA, invoke, read_manifest
from tests.support.verdicts import not_task_checks, verdicts_agree

FILES = ["hourglass-fp32.mlpackage", "hourglass-fp32.onnx", "hourglass-fp32.tflite", "hourglass-int8.onnx",
         "hourglass-int8.tflite"]


@pytest.fixture(scope="module")
def aic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic set (the zoo's, same seed and sizes) labelled in AI Challenger's 14."""
    root = tmp_path_factory.mktemp("aic") / "data"
    generate(root, dataclasses.replace(TINY_DATA, keypoints=AIC_14))
    return root


def test_hourglass_trains_converts_and_verifies_on_aic_14(aic_data: Path, in_tmp: Path, tmp_path_factory:
                                                          pytest.TempPathFactory,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    """One tiny run, one epoch (what it trains on matters here, not how well). Its
    own checkpoint: a COCO-17 checkpoint cannot be reused for 14 heatmaps."""
    cache = tmp_path_factory.mktemp("aic-cache")
    result = invoke(capfd, "run", "hourglass", "--preset", "tiny", "-o", "keypoints=aic14", "--data", aic_data,
                    "--cache", cache, "--epochs", "1", "--formats", "tflite,onnx,coreml", "--precisions", "fp32,int8",
                    "--calibration-samples", "8", "--val-samples", "8", "--bench-runs", "5", "--no-profile",
                    "--jobs", "1")
    manifest = read_manifest(in_tmp, "hourglass")
    assert sorted(a["file"] for a in manifest["artifacts"]) == FILES
    # a tiny int8 file may fail its task checks only (the tiny model's heatmaps are noise)
    failed = verdicts_agree(result, manifest)
    assert all("-int8." in name for name in failed), failed
    for entry in manifest["artifacts"]:
        assert not_task_checks(entry["validation"]["failures"]) == [], entry["file"]
        assert entry["validation"]["checker"]["passed"] is True, entry["file"]  # each format's own check

    read_checked(in_tmp / "artifacts" / "hourglass" / "manifest.json")  # against the published schema
    assert manifest["config"]["num_keypoints"] == 14
    assert manifest["keypoints"] == {"names": list(AIC_14.names), "skeleton": [list(e) for e in AIC_14.skeleton],
                                     "set": "aic-14", "sigmas": list(AIC_14.sigmas), "head": [12, 13]}
    reference = manifest["reference"]
    assert reference["metric"] == "pck" and 0.0 <= reference["pckh"] <= 1.0
    assert f"reference: PCKh@0.5 {reference['pckh']:.3f}" in result.err
    for entry in manifest["artifacts"]:
        task = entry["validation"]["task"]
        assert task["pckh_reference"] == reference["pckh"] and 0.0 <= task["pckh"] <= 1.0
        assert task["pckh_delta"] == pytest.approx(100 * (task["pckh"] - reference["pckh"]))
        if entry["precision"] == "fp32":
            assert task["pckh_delta"] == pytest.approx(0.0, abs=1e-9)
        assert [o["shape"][-1] for o in entry["outputs"]] == [14]  # 14 heatmaps in every file
        document = CONVERTERS[Format(entry["format"])].read_metadata(
            in_tmp / "artifacts" / "hourglass" / entry["file"]).document
        assert document["keypoints"] == list(AIC_14.names), entry["file"]
        assert document["skeleton"] == [list(e) for e in AIC_14.skeleton], entry["file"]
    assert "no overlays" not in (in_tmp / "artifacts" / "hourglass" / "report.html").read_text()

    image = aic_data / "val" / "000000.jpg"
    result = invoke(capfd, "predict", "artifacts/hourglass/hourglass-fp32.tflite", image)
    assert result.code == 0, result.err
    written = json.loads((in_tmp / "predictions" / "000000_keypoints.json").read_text())
    assert written["keypoint_set"] == "aic-14" and written["keypoint_names"] == list(AIC_14.names)
    assert [np.shape(p["pose_keypoints_2d"]) for p in written["people"]] == [(14 * 3,)]


def test_a_model_fixed_to_coco_edges_refuses_another_set(capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "train", "posenet", "--preset", "tiny", "-o", "keypoints=lsp-14")
    assert result.code == 12
    assert result.error_lines == [
        "posepipe: error: posenet: keypoints=lsp-14 is not available: its displacement_fwd, displacement_bwd "
        "outputs follow the edges of coco-17; it is trained on coco-17 only"]
    assert "Traceback" not in result.err


def test_a_dataset_of_another_set_is_refused_before_training(aic_data: Path, tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "train", "hourglass", "--preset", "tiny", "-o", "keypoints=mpii16", "--data", aic_data,
                    "--cache", tmp_path / "cache", "--out", tmp_path / "checkpoint")
    assert result.code == 32
    assert result.error_lines == [
        f"posepipe: error: {aic_data / 'annotations' / 'person_keypoints_train.json'}: the data's keypoint set is "
        "aic-14 but the model's is mpii-16; use a model on it (-o keypoints=aic-14)"]
    assert not (tmp_path / "checkpoint").exists()
