"""Staged training (BlazePose: heatmap pre-training, then regression fine-tuning
with the features frozen), resuming from a chosen epoch, the JSON record, and
CPM's intermediate supervision."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posepipe import models
from posepipe.models.spec import TrainSchedule, TrainStage
from tests.support.harness import TinyZoo, invoke


def _weights(path: Path) -> dict[str, np.ndarray]:
    spec = models.get("blazepose")
    model = spec.training_model(spec.tiny)
    model.load_weights(path)
    return {w.path: np.asarray(w) for w in model.weights}


def test_blazepose_pretrains_then_fine_tunes_frozen_features_and_resumes(
        zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = in_tmp / "bp"
    common = ["train", "blazepose", "--preset", "tiny", "--data", str(zoo.data), "--cache", str(in_tmp / "cache"),
              "--epochs", "1", "--out", str(out)]
    first = invoke(capfd, *common)
    assert first.code == 0, first.err
    record = json.loads((out / "training.json").read_text())
    assert [(e["epoch"], e["stage"]) for e in record["epochs"]] == [(1, "pretrain"), (2, "finetune")]
    assert "val_pck_heatmaps" in record["epochs"][0] and record["resumed_from"] is None
    before, after = _weights(out / "epochs" / "epoch-001.weights.h5"), _weights(out / "epochs" / "epoch-002.weights.h5")
    frozen = [k for k in before if k.startswith(("backbone", "heatmap"))]
    tuned = [k for k in before if k.startswith("regression") and "kernel" in k]
    assert frozen and tuned
    assert all(np.array_equal(before[k], after[k]) for k in frozen)  # fine-tuning froze the features
    assert all(not np.array_equal(before[k], after[k]) for k in tuned)

    resumed = invoke(capfd, *common, "--resume-from", "1")
    assert resumed.code == 0, resumed.err
    again = json.loads((out / "training.json").read_text())
    assert again["resumed_from"] == 1
    assert again["epochs"][0] == record["epochs"][0]  # epoch 1 kept from the record, not retrained
    assert [e["stage"] for e in again["epochs"]] == ["pretrain", "finetune"]
    resumed_weights = _weights(out / "epochs" / "epoch-001.weights.h5")
    assert all(np.array_equal(before[k], resumed_weights[k]) for k in before)

    missing = invoke(capfd, *common[:-1], str(in_tmp / "nowhere"), "--resume-from", "1")
    assert missing.code == 4 and "--resume-from 1:" in missing.error_lines[0]


def test_the_deployed_blazepose_outputs_coordinates_and_optionally_heatmaps() -> None:
    spec = models.get("blazepose")
    model = spec.build(spec.tiny)
    assert sorted(model.output) == ["coords", "visibility"]
    assert tuple(model.output["coords"].shape) == (None, 17, 2)
    assert tuple(model.output["visibility"].shape) == (None, 17)
    with_maps = spec.config("tiny", {"heatmaps": "true"})
    assert sorted(spec.build(with_maps).output) == ["coords", "heatmaps", "visibility"]
    decoder = spec.make_decoder(spec.tiny)
    assert decoder.name == "coords-regression"
    xy = np.tile(np.array([[0.25, 0.5]], np.float32), (17, 1))
    decoded = decoder.decode({"coords": xy, "visibility": np.full(17, 0.75, np.float32)})
    h, w = spec.tiny.input_size
    assert decoded.shape == (1, 17, 3)
    np.testing.assert_allclose(decoded[0, 0], [0.25 * w, 0.5 * h, 0.75])


def test_cpm_supervises_every_stage_and_deploys_the_last() -> None:
    spec = models.get("cpm")
    config = spec.config("tiny", {"stages": "3"})
    assert sorted(spec.training_model(config).output) == ["heatmaps", "stage1_heatmaps", "stage2_heatmaps"]
    assert sorted(spec.training_losses(config)) == ["heatmaps", "stage1_heatmaps", "stage2_heatmaps"]
    assert sorted(spec.build(config).output) == ["heatmaps"]
    targets = spec.make_encoder(config).encode(np.array([[[30.0, 20.0, 2.0]] * 17], np.float32))
    assert all(np.array_equal(targets[k], targets["heatmaps"]) for k in targets)
    from posepipe.models.errors import ConfigError

    with pytest.raises(ConfigError, match=r"stages=6; a CPM has 1 to 5 stages \(as in Mobile Pose Estimation for"):
        spec.build(spec.config("tiny", {"stages": "6"}))


def test_a_staged_schedule_must_add_up() -> None:
    stage = TrainStage("a", 2, ("x",))
    with pytest.raises(ValueError, match="epochs 3 != the stages' total 2"):
        TrainSchedule(3, 8, 1e-3, 10, 10, stages=(stage,))
    schedule = TrainSchedule(2, 8, 1e-3, 10, 10, stages=(stage,)).with_epochs(5)
    assert schedule.epochs == 5 and schedule.stages[0].epochs == 5
