"""The bottom-up models (PoseNet, OpenPose): their shapes,
sizes and config checks, their losses, and one training step each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from posepipe import models
from posepipe.models import losses
from posepipe.models.codecs.paf import HEATMAPS, PAFS
from posepipe.models.codecs.posenet import BWD, FWD, HEATMAP, OFFSET
from posepipe.models.errors import ConfigError


def _channels(model: object) -> dict[str, tuple[int, ...]]:
    return {name: tuple(tensor.shape[1:]) for name, tensor in model.output.items()}  # type: ignore[attr-defined]


def test_tiny_posenet_has_its_four_heads_in_order_on_a_5x5_grid() -> None:
    spec = models.get("posenet")
    model = spec.build(spec.tiny)
    assert spec.tiny.input_size == (65, 65)
    assert [o.name for o in spec.outputs] == [HEATMAP, OFFSET, FWD, BWD]
    assert list(model.output) == [HEATMAP, OFFSET, FWD, BWD]
    assert _channels(model) == {HEATMAP: (5, 5, 17), OFFSET: (5, 5, 34), FWD: (5, 5, 32), BWD: (5, 5, 32)}


def test_tiny_openpose_deploys_heatmaps_and_pafs_on_an_8x8_grid() -> None:
    spec = models.get("openpose")
    assert [o.name for o in spec.outputs] == [HEATMAPS, PAFS]
    assert _channels(spec.build(spec.tiny)) == {HEATMAPS: (8, 8, 17), PAFS: (8, 8, 38)}
    training = spec.training_model(spec.tiny)
    assert list(training.output) == ["stage1_heatmaps", "stage1_pafs", HEATMAPS, PAFS]
    assert sorted(spec.training_losses(spec.tiny)) == sorted(training.output)


def test_posenet_1_0_at_257_stride_16_is_the_published_13_3_mb() -> None:
    spec = models.get("posenet")
    config = dataclasses.replace(spec.default, depth_multiplier=1.0)
    assert (config.input_size, config.output_stride) == ((257, 257), 16)
    megabytes = spec.build(config).count_params() * 4 / 1e6
    assert abs(megabytes - 13.3) / 13.3 < 0.1, megabytes
    # PoseNet PyTorch's "101" is the 1.0 architecture, trained separately
    same = spec.build(dataclasses.replace(config, depth_multiplier=1.01)).count_params()
    assert same * 4 / 1e6 == megabytes


@pytest.mark.parametrize(("stride", "grid"), [(8, 33), (16, 17), (32, 9)])
def test_posenet_output_stride_sets_the_grid(stride: int, grid: int) -> None:
    spec = models.get("posenet")
    config = spec.config("default", {"output_stride": str(stride)})
    assert _channels(spec.build(config))[HEATMAP] == (grid, grid, 17)
    targets = spec.make_encoder(config).encode(np.zeros((1, 17, 3), np.float32))
    assert targets[HEATMAP].shape == (grid, grid, 17)
    assert {o.stride for o in spec.outputs_for(config)} == {stride}  # what the manifest and metadata say


def test_the_atrous_trunk_dilates_every_block_after_the_stride_it_keeps() -> None:
    from posepipe.models.backbones.mobilenet_v1 import atrous_plan

    assert atrous_plan(32)[-2:] == [(2, 1), (1, 1)]
    assert atrous_plan(16)[-2:] == [(1, 1), (1, 2)]  # block 12 keeps stride 16; block 13 dilates by 2
    assert atrous_plan(8)[5:] == [(1, 1)] + [(1, 2)] * 6 + [(1, 4)]


@pytest.mark.parametrize(("name", "overrides", "message"), [
    ("posenet", {"depth_multiplier": "0.6"}, r"depth_multiplier=0.6; allowed: 0.5, 0.75, 1, 1.01"),
    ("posenet", {"output_stride": "4"}, r"output_stride=4; allowed: 8, 16, 32"),
    ("posenet", {"input_size": "256"}, r"input_size 256x256: each side must be a multiple of output_stride 16 plus 1"),
    ("openpose", {"input_size": "100"}, r"input_size 100x100 must be a multiple of 8"),
    ("openpose", {"refinements": "6"}, r"refinements=6; allowed: 0 to 5"),
])
def test_a_bad_config_names_the_field(name: str, overrides: dict[str, str], message: str) -> None:
    spec = models.get(name)
    with pytest.raises(ConfigError, match=message):
        spec.build(spec.config("default", overrides))


def test_openpose_rejects_an_unknown_backbone() -> None:
    with pytest.raises(ConfigError, match="backbone='resnet'"):
        models.get("openpose").config("default", {"backbone": "resnet"})


@pytest.mark.parametrize("refinements", [0, 1])
def test_the_vgg19_openpose_has_the_papers_convolutions_at_stride_8(refinements: int) -> None:
    import keras

    spec = models.get("openpose")
    config = spec.config("tiny", {"backbone": "vgg19", "refinements": str(refinements)})
    model = spec.training_model(config)
    convs = [layer for layer in model.layers if type(layer) is keras.layers.Conv2D]
    # ten VGG19 convolutions, two CPM, stage 1's 2 x (3 + 1 + output), each later stage's 2 x (5 + 1 + output)
    assert len(convs) == 10 + 2 + 10 + 14 * refinements
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert _channels(spec.build(config)) == {HEATMAPS: (8, 8, 17), PAFS: (8, 8, 38)}


def _value(tensor: object) -> float:
    return float(np.asarray(tensor).sum())


def test_heatmap_focal_prefers_the_better_prediction_and_is_zero_when_exact() -> None:
    target = np.zeros((1, 5, 5, 2), np.float32)
    target[0, 2, 2] = 1.0
    target[0, 1:4, 1:4, 1] = 0.5  # soft targets count too
    target[0, 2, 2, 1] = 1.0
    logit = np.log(np.clip(target, 1e-7, 1 - 1e-7) / np.clip(1 - target, 1e-7, 1 - 1e-7))
    exact = _value(losses.heatmap_focal(target, logit))
    good = _value(losses.heatmap_focal(target, np.clip(logit, -2.0, 2.0)))  # right, less sure
    flat = _value(losses.heatmap_focal(target, np.zeros_like(target)))
    assert exact < 1e-6 < good < flat


def test_masked_huber_ignores_unsupervised_cells_and_keeps_the_gradient_finite() -> None:
    import tensorflow as tf

    loss = losses.masked_huber(24.0)
    target = np.full((2, 4, 4, 6), np.nan, np.float32)
    target[0, 1, 1, :] = 12.0
    predicted = np.zeros_like(target)
    base = loss(target, predicted).numpy()
    np.testing.assert_allclose(base, [0.5 * 0.5**2, 0.0])  # a mean over supervised cells; none: 0
    wild = predicted.copy()
    wild[0, 3, 3, :] = wild[1] = 1e30  # a huge error where the target is NaN
    variable = tf.Variable(wild)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(loss(target, variable))
    gradient = tape.gradient(value, variable).numpy()
    np.testing.assert_allclose(loss(target, wild).numpy(), base)
    assert np.isfinite(gradient).all() and not gradient[1].any() and gradient[0, 1, 1].all()
    assert float(losses.Weighted(loss, 0.25)(target, predicted)[0]) == pytest.approx(0.25 * base[0])


def _people(rng: np.random.Generator, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """One random person per image, every keypoint labelled, inside the input."""
    h, w = size
    xy = rng.uniform(0.1, 0.9, (count, 1, 17, 2)) * np.array([w - 1, h - 1])
    return [np.concatenate([p, np.full((1, 17, 1), 2.0)], axis=-1).astype(np.float32) for p in xy]


@pytest.mark.parametrize("name", ["posenet", "openpose"])
def test_one_training_step_of_the_tiny_model_gives_a_finite_loss(name: str) -> None:
    """The encoder's targets fit the training graph, the losses take them (NaN and
    all), and the decoder reads what the model outputs."""
    import keras

    spec = models.get(name)
    config = spec.tiny
    rng = np.random.default_rng(0)
    model = spec.training_model(config)
    encoder = spec.make_encoder(config)
    encoded = [encoder.encode(person) for person in _people(rng, 2, config.input_size)]
    targets = {k: np.stack([t[k] for t in encoded]) for k in model.output}
    assert {k: v.shape[1:] for k, v in targets.items()} == _channels(model)
    images = rng.uniform(-1.0, 1.0, (2, *config.input_size, 3)).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(spec.tiny_schedule.learning_rate),
                  loss=spec.training_losses(config))
    history = model.fit(images, targets, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(np.asarray(w)).all() for w in model.weights)
    deployed = spec.deployed(model, config)
    outputs = {k: v[0] for k, v in deployed.predict(images[:1], verbose=0).items()}
    poses = spec.make_decoder(config).decode(outputs)
    assert poses.ndim == 3 and poses.shape[1:] == (17, 3)
