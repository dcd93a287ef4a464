"""Datasets in the trees they ship in: COCO 2017 (with COCO's whole JSON structure:
licenses, segmentations, crowd regions in RLE, the 1-based skeleton), AI Challenger
and the synthetic generator's, told apart by their files; a folder that is none of
them is refused with one line listing what was looked for. A tiny run reads COCO
2017 through --data and --calibration-data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posepipe import models
from posepipe.calibration.coco import CocoKeypoints, Skip
from posepipe.calibration.errors import DatasetNotFoundError
from posepipe.calibration.layouts import AIC_SPLITS, Layout, annotation_files, detect, expected
from tests.support.harness import TinyZoo, invoke, read_manifest
from tests.support.real_layouts import write_ai_challenger, write_coco_2017
from tests.support.verdicts import failed_on_task_checks_only


@pytest.fixture(scope="module")
def coco_2017(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("coco2017")
    write_coco_2017(root, tiny_data)
    return root


def test_each_shipped_layout_is_told_apart_by_its_files(coco_2017: Path, tiny_data: Path, tmp_path: Path) -> None:
    write_ai_challenger(tmp_path / "aic", tiny_data)
    assert detect(coco_2017) is Layout.COCO_2017
    assert detect(tiny_data) is Layout.COCO
    assert detect(tmp_path / "aic") is Layout.AI_CHALLENGER
    assert [f.name for f in annotation_files(coco_2017, Layout.COCO_2017)] == [
        "person_keypoints_train2017.json", "person_keypoints_val2017.json"]
    assert annotation_files(tmp_path / "aic", Layout.AI_CHALLENGER) == [
        tmp_path / "aic" / split.annotation_path for split in AIC_SPLITS.values()]


def test_a_folder_of_no_known_layout_is_one_line_listing_the_layouts(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text("{}")  # COCO's detection file: not keypoints
    with pytest.raises(DatasetNotFoundError) as error:
        detect(tmp_path)
    text = str(error.value)
    assert text.startswith(f"{tmp_path}: no dataset layout posepipe reads; looked for ") and "\n" not in text
    for looked_for in ("annotations/person_keypoints_val.json", "COCO 2017: annotations/person_keypoints_val2017.json",
                       "AI Challenger keypoints 2017: ai_challenger_keypoint_validation_20170911/"
                       "keypoint_validation_annotations_20170911.json"):
        assert looked_for in text
    with pytest.raises(DatasetNotFoundError, match="dataset folder not found"):
        detect(tmp_path / "nowhere")


def test_coco_2017_as_shipped_gives_every_person_and_skips_its_crowds(coco_2017: Path, tiny_data: Path) -> None:
    written = json.loads((coco_2017 / "annotations" / "person_keypoints_val2017.json").read_text())
    source = json.loads((tiny_data / "annotations" / "person_keypoints_val.json").read_text())
    crowds = sum(a["iscrowd"] for a in written["annotations"])
    assert crowds > 0 and all(isinstance(a["segmentation"], dict) for a in written["annotations"] if a["iscrowd"])
    dataset = CocoKeypoints.load(coco_2017, "val", 17)
    assert dataset.split == "val2017" and dataset.skipped == {Skip.CROWD: crowds}
    assert f"{crowds} {Skip.CROWD}" in (dataset.skipped_note() or "")
    for image in dataset.images.values():
        assert image.path.parent == coco_2017 / "val2017" and image.path.is_file()
        assert len(image.path.stem) == 12 and image.path.stem == f"{image.id:012d}"
    assert len(dataset.people) == len(source["annotations"])
    for person, original in zip(dataset.people, source["annotations"], strict=True):
        assert np.array_equal(person.keypoints.ravel(), np.float32(original["keypoints"]))
        assert person.bbox == tuple(original["bbox"]) and person.area == original["area"]


def test_a_run_reads_coco_2017_through_data_and_calibration_data(
        coco_2017: Path, zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """hourglass from an untrained checkpoint (nothing trains: the run reads data, it
    does not learn from it; an untrained tiny int8 file seldom fails, so the
    sensitivity debugger seldom runs), one int8 TFLite file: its reference and
    validation on COCO 2017's val split, its calibration set drawn from COCO 2017's
    train split. The model's keypoints are noise, so the file may fail on its task
    checks alone (tests/support/verdicts.py)."""
    spec = models.get("hourglass")
    checkpoint = in_tmp / "untrained.keras"
    spec.build(spec.tiny).save(checkpoint)
    result = invoke(capfd, "run", "hourglass", "--preset", "tiny", "--data", coco_2017, "--checkpoint", checkpoint,
                    "--calibration-data", coco_2017, "--cache", zoo.cache, "--formats", "tflite", "--precisions",
                    "int8", "--val-samples", "4", "--calibration-samples", "8", "--bench-runs", "5", "--no-profile",
                    "--jobs", "1")
    manifest = read_manifest(in_tmp, "hourglass")
    failed_on_task_checks_only(result, manifest)
    assert manifest["data"]["root"] == str(coco_2017) and manifest["data"]["val_split"] == "val2017"
    assert not manifest["data"]["synthetic"] and manifest["data"]["val_samples"] == 4
    console = result.out + result.err
    assert f"calibration: 8 samples from {coco_2017} (train split)" in console
    written = json.loads((coco_2017 / "annotations" / "person_keypoints_val2017.json").read_text())
    crowds = sum(a["iscrowd"] for a in written["annotations"])
    assert f"person_keypoints_val2017.json: {crowds} annotation(s) not used as written: {crowds} crowd regions" \
        in console
    (artifact,) = manifest["artifacts"]
    assert artifact["file"] == "hourglass-int8.tflite" and artifact["quantization"]["calibration"]["samples"] == 8


def test_an_ai_challenger_set_needs_a_model_on_its_keypoint_set(
        tiny_data: Path, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Refused by the data stage, before a checkpoint is trained or loaded."""
    write_ai_challenger(in_tmp / "aic", tiny_data)
    result = invoke(capfd, "run", "hourglass", "--preset", "tiny", "--data", in_tmp / "aic", "--cache", in_tmp / "c",
                    "--formats", "tflite")
    assert result.code == 32
    assert result.error_lines == [
        f"posepipe: error: {in_tmp / 'aic' / AIC_SPLITS['val'].annotation_path}: the data's keypoint set is aic-14 "
        "but the model's is coco-17; use a model on it (-o keypoints=aic-14)"]
    assert not (in_tmp / "artifacts").exists() and not (in_tmp / "c" / "checkpoints").exists()


def test_an_ai_challenger_folder_without_its_validation_split_is_named(tiny_data: Path, tmp_path: Path) -> None:
    write_ai_challenger(tmp_path, tiny_data)
    (tmp_path / AIC_SPLITS["val"].annotation_path).unlink()
    assert detect(tmp_path) is Layout.AI_CHALLENGER  # its train split is enough to calibrate on
    assert len(CocoKeypoints.load(tmp_path, "train", 14).people) > 0
    with pytest.raises(DatasetNotFoundError, match=r"no ai_challenger_keypoint_validation_20170911/"
                                                   r"keypoint_validation_annotations_20170911.json \(AI Challenger's "
                                                   r"val split\)$"):
        CocoKeypoints.load(tmp_path, "val", 14)
    with pytest.raises(DatasetNotFoundError, match=r"AI Challenger has no split 'test_a' \(train or val\)$"):
        CocoKeypoints.load(tmp_path, "test_a", 14)


def test_the_cli_names_the_layouts_it_looked_for(in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (in_tmp / "photos").mkdir()
    result = invoke(capfd, "run", "hourglass", "--preset", "tiny", "--data", in_tmp / "photos", "--cache",
                    in_tmp / "c", "--formats", "tflite")
    assert result.code == 13 and "Traceback" not in result.err
    assert result.error_lines == [f"posepipe: error: {in_tmp / 'photos'}: no dataset layout posepipe reads; "
                                  f"looked for {expected()} (docs/datasets.md)"]
    assert "COCO 2017: annotations/person_keypoints_val2017.json" in expected()
