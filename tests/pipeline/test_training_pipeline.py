"""Training past one machine: the tf.data input pipeline's augmentation geometry
and determinism, bit-identical same-seed trainings, a 2-replica CPU
MirroredStrategy, multi-worker's TF_CONFIG check, and a killed training resuming.

Trainings use the micro model (tests/micro.py): the tiny hourglass's encoder,
decoder and loss around three convolutions, so each costs seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from posepipe.calibration.samples import SampleSet
from posepipe.models.spec import Augmentation
from posepipe.pipeline.training.input_pipeline import (
    InputPipeline,
    affine_matrices,
    transform_images,
    transform_keypoints,
)
from tests.support import micro
from tests.support.harness import TinyZoo, invoke

ROOT = Path(__file__).resolve().parents[2]
SIZE = (48, 64)  # height, width: not square, so x and y cannot be confused
SWAP = tf.constant([1, 0, 2])  # keypoints 0 and 1 are a left/right pair, 2 is central


def _move(points: np.ndarray, flip: bool, scale: float, degrees: float) -> np.ndarray:
    matrices = affine_matrices(tf.constant([flip]), tf.constant([scale]), tf.constant([np.radians(degrees)],
                                                                                          tf.float32), SIZE)
    moved = transform_keypoints(tf.constant(points[None], tf.float32), matrices, tf.constant([flip]), SWAP, SIZE)
    return moved.numpy()[0]


def test_keypoints_go_where_the_affine_says_and_flips_swap_left_and_right() -> None:
    points = np.array([[40.5, 10.5, 2.0], [20.0, 30.0, 1.0], [32.0, 24.0, 2.0]], np.float32)
    np.testing.assert_allclose(_move(points, False, 1.0, 0.0), points)
    # a flip mirrors x about the width and swaps the pair; the centre stays
    np.testing.assert_allclose(_move(points, True, 1.0, 0.0),
                               [[64 - 20.0, 30.0, 1.0], [64 - 40.5, 10.5, 2.0], [32.0, 24.0, 2.0]])
    # scale 2 about the centre (32, 24) doubles offsets; a 90 degree turn takes (dx, dy) to (-dy, dx)
    np.testing.assert_allclose(_move(points, False, 2.0, 0.0)[2], [32.0, 24.0, 2.0])
    np.testing.assert_allclose(_move(points, False, 1.0, 90.0)[1], [32.0 - 6.0, 24.0 - 12.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(_move(points, False, 1.5, 0.0)[0], [32.0 + 1.5 * 8.5, 24.0 - 1.5 * 13.5, 2.0])


def test_keypoints_pushed_out_of_the_input_are_unlabelled() -> None:
    points = np.array([[60.0, 4.0, 2.0], [30.0, 20.0, 2.0], [33.0, 25.0, 0.0]], np.float32)
    moved = _move(points, False, 1.5, 0.0)  # (60, 4) -> (74, -6): outside
    np.testing.assert_array_equal(moved[0], [0.0, 0.0, 0.0])
    assert moved[1, 2] == 2.0  # near the centre: stays labelled
    np.testing.assert_array_equal(moved[2], [0.0, 0.0, 0.0])  # unlabelled stays unlabelled


@pytest.mark.parametrize(("flip", "scale", "degrees"), [(False, 1.0, 0.0), (True, 1.0, 0.0), (False, 1.2, 25.0),
                                                         (True, 0.8, -30.0)])
def test_the_image_moves_with_its_keypoints(flip: bool, scale: float, degrees: float) -> None:
    """A bright blob lands where its keypoint does (its centroid: the map is affine)."""
    ys, xs = np.mgrid[0:SIZE[0], 0:SIZE[1]] + 0.5  # pixel centres
    image = np.exp(-((xs - 40.5) ** 2 + (ys - 14.5) ** 2) / 8.0)[None, ..., None].astype(np.float32)
    angle = tf.constant([np.radians(degrees)], tf.float32)
    matrices = affine_matrices(tf.constant([flip]), tf.constant([scale]), angle, SIZE)
    out = transform_images(tf.constant(image), matrices).numpy()[0, ..., 0]
    centroid = [(out * xs).sum() / out.sum(), (out * ys).sum() / out.sum()]
    points = np.array([[40.5, 14.5, 2.0], [5.0, 5.0, 0.0], [5.0, 5.0, 0.0]], np.float32)
    expected = _move(points, flip, scale, degrees)[1 if flip else 0]
    np.testing.assert_allclose(centroid, expected[:2], atol=0.02)


def test_no_augmentation_leaves_the_pixels_as_they_are() -> None:
    pixels = np.random.default_rng(1).integers(0, 255, (2, *SIZE, 3)).astype(np.float32)
    same = affine_matrices(tf.constant([False, False]), tf.ones([2]), tf.zeros([2]), SIZE)
    np.testing.assert_array_equal(transform_images(tf.constant(pixels), same).numpy(), pixels)
    mirrored = affine_matrices(tf.constant([True, True]), tf.ones([2]), tf.zeros([2]), SIZE)
    np.testing.assert_array_equal(transform_images(tf.constant(pixels), mirrored).numpy(), pixels[:, :, ::-1])


DEFAULT_AUGMENTATION = Augmentation()


def _pipeline(seed: int, augmentation: Augmentation = DEFAULT_AUGMENTATION) -> InputPipeline:
    rng = np.random.default_rng(0)
    samples = SampleSet(pixels=rng.integers(0, 255, (10, 64, 64, 3), np.uint8), transforms=(),
                        keypoints=np.zeros((10, 17, 3), np.float32), bboxes=np.zeros((10, 4), np.float32),
                        areas=np.ones(10, np.float32), image_ids=np.arange(10))
    keypoints = np.concatenate([rng.uniform(8, 56, (10, 17, 2)), np.full((10, 17, 1), 2.0)], -1).astype(np.float32)
    object.__setattr__(samples, "input_keypoints", lambda: keypoints)  # input pixels already: no crop transforms
    return InputPipeline(micro.MICRO, micro.MICRO.tiny, samples, augmentation, 4, seed, ("heatmaps",))


def _batches(pipeline: InputPipeline, epoch: int) -> list[np.ndarray]:
    return [array for images, targets in pipeline.epoch(epoch)
            for array in (images.numpy(), targets["heatmaps"].numpy())]


def test_batches_are_a_function_of_seed_and_epoch() -> None:
    pipeline = _pipeline(seed=3)
    first = _batches(pipeline, 1)
    assert [len(a) for a in first[::2]] == [4, 4, 2] and pipeline.steps_per_epoch == 3
    assert first[1].shape == (4, 16, 16, 17) and first[0].shape == (4, 64, 64, 3)
    images_spec, targets_spec = pipeline.epoch(1).element_spec  # static sizes: layers like UpSampling2D need them
    assert images_spec.shape.as_list() == [None, 64, 64, 3]
    assert targets_spec["heatmaps"].shape.as_list() == [None, 16, 16, 17]
    assert all(np.array_equal(a, b) for a, b in zip(first, _batches(_pipeline(seed=3), 1), strict=True))
    assert not np.array_equal(first[0], _batches(pipeline, 2)[0])  # another epoch, another shuffle and draw
    assert not np.array_equal(first[0], _batches(_pipeline(seed=4), 1)[0])
    # without augmentation a batch is the normalised crops in the epoch's order, targets from the spec's encoder
    plain = _pipeline(seed=3, augmentation=Augmentation(flip=0.0, scale=(1.0, 1.0), rotation=0.0))
    images, targets = next(iter(plain.epoch(1)))
    order = np.argsort(tf.random.stateless_uniform([10], seed=[3, 2]).numpy(), kind="stable")[:4]
    samples = plain.samples
    np.testing.assert_allclose(images.numpy(), micro.MICRO.input.normalise(samples.pixels[order]), atol=1e-6)
    encoder = micro.MICRO.make_encoder(micro.MICRO.tiny)
    expected = np.stack([encoder.encode(samples.input_keypoints()[i][None])["heatmaps"] for i in order])
    np.testing.assert_allclose(targets["heatmaps"].numpy(), expected, atol=1e-6)


def _weights(folder: Path) -> list[np.ndarray]:
    model = micro.MICRO.build(micro.MICRO.tiny)
    model.load_weights(folder / "epochs" / "epoch-001.weights.h5")
    return [np.asarray(w) for w in model.weights]


def test_two_trainings_with_one_seed_give_bit_identical_weights(zoo: TinyZoo, tmp_path: Path) -> None:
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        micro.train(tmp_path / name, zoo.data, epochs=1, seed=seed)
    a, b, c = (_weights(tmp_path / name) for name in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))  # the seed matters
    assert (tmp_path / "a" / "model.keras").read_bytes() != b""
    record = json.loads((tmp_path / "a" / "training.json").read_text())
    assert record["distribution"] == {"strategy": "default", "replicas": 1, "devices": [],
                                      "batch_size": {"per_replica": 8, "global": 8}}
    assert not (tmp_path / "a.partial").exists()


def _micro(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "true"}
    return subprocess.Popen([sys.executable, "-m", "tests.support.micro", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_two_replica_cpu_mirrored_strategy_trains(zoo: TinyZoo, tmp_path: Path) -> None:
    done = _micro(str(tmp_path / "m"), str(zoo.data), "--epochs", "1", "--strategy", "mirrored",
                  "--cpu-replicas", "2")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]
    record = json.loads((tmp_path / "m" / "training.json").read_text())
    assert record["distribution"]["strategy"] == "mirrored" and record["distribution"]["replicas"] == 2
    assert len(record["distribution"]["devices"]) == 2
    assert record["distribution"]["batch_size"] == {"per_replica": 8, "global": 16}
    assert [e["epoch"] for e in record["epochs"]] == [1] and "(mirrored, 2 replicas)" in err


def test_multi_worker_needs_tf_config(zoo: TinyZoo, in_tmp: Path, capfd: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["train", "hourglass", "--preset", "tiny", "--data", str(zoo.data), "--strategy", "multi-worker"]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    missing = invoke(capfd, *args)
    assert missing.code == 25 and missing.error_lines == [
        'posepipe: error: --strategy multi-worker: TF_CONFIG is not set; set it to {"cluster": {"worker": '
        '["host:port", ...]}, "task": {"type": "worker", "index": I}} on every worker']
    monkeypatch.setenv("TF_CONFIG", "{cluster")
    assert "TF_CONFIG is not JSON" in invoke(capfd, *args).error_lines[0]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]},
                                                "task": {"type": "worker", "index": 1}}))
    wrong = invoke(capfd, *args)
    assert wrong.code == 25 and "is not in its cluster (worker: 1)" in wrong.error_lines[0]
    assert not (in_tmp / "artifacts").exists()


def test_a_killed_training_resumes_after_its_last_complete_epoch(zoo: TinyZoo, tmp_path: Path,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k"
    partial = out.with_name("k.partial")
    first_epoch = partial / "epochs" / "epoch-001.weights.h5"
    killed = _micro(str(out), str(zoo.data), "--epochs", "3", "--slow-epochs", "30")
    deadline = time.monotonic() + 240
    while not (partial / "training.json").is_file() or not json.loads(
            (partial / "training.json").read_text())["epochs"]:
        assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()[1][-2000:]
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)  # during epoch 1's slow end: epoch 2 never starts
    killed.communicate(timeout=60)
    assert not out.exists() and first_epoch.is_file()
    weights = _weights(partial)

    capfd.readouterr()
    record = micro.train(out, zoo.data, epochs=3)  # the same settings: resumes unasked
    assert "an interrupted training of these settings; resuming after epoch 1" in capfd.readouterr().err
    assert record["resumed_from"] == 1 and [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    assert all(np.array_equal(x, y) for x, y in zip(weights, _weights(out), strict=True))  # epoch 1 kept
    assert not partial.exists() and (out / "model.keras").is_file()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_two_workers_on_localhost_train_as_one_two_replica_mirror(zoo: TinyZoo, tmp_path: Path) -> None:
    """MultiWorkerMirroredStrategy through Keras's fit (which needs two work-rounds,
    pipeline/training/distribute.py): two processes with TF_CONFIG train the same weights,
    and the same as MirroredStrategy over two CPU devices in one process."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in (0, 1):
        os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        try:
            workers.append(_micro(str(tmp_path / f"w{index}"), str(zoo.data), "--epochs", "1",
                                  "--strategy", "multi-worker"))
        finally:
            del os.environ["TF_CONFIG"]
    mirrored = _micro(str(tmp_path / "m"), str(zoo.data), "--epochs", "1", "--strategy", "mirrored",
                      "--cpu-replicas", "2")
    for process in (*workers, mirrored):
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
    records = [json.loads((tmp_path / name / "training.json").read_text()) for name in ("w0", "w1", "m")]
    assert [r["distribution"]["strategy"] for r in records] == ["multi-worker", "multi-worker", "mirrored"]
    assert all(r["distribution"]["replicas"] == 2 for r in records)
    w0, w1, m = (_weights(tmp_path / name) for name in ("w0", "w1", "m"))
    assert all(np.array_equal(x, y) for x, y in zip(w0, w1, strict=True))
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(w0, m, strict=True))


def test_an_augmentation_range_must_make_sense() -> None:
    for bad in ({"flip": 1.5}, {"scale": (1.2, 0.8)}, {"scale": (0.0, 1.0)}, {"rotation": -5.0}):
        with pytest.raises(ValueError, match="augmentation: flip"):
            Augmentation(**bad)  # type: ignore[arg-type]
