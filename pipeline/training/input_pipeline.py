"""The training input pipeline: tf.data over in-memory crops, augmented in parallel.

The inputs are the ones validation sees (``calibration.samples.load_samples``:
people's crops for top-down models, whole letterboxed images for bottom-up ones). Each epoch is a fixed function of
(seed, epoch): its shuffle and every sample's flip, scale and rotation come from
stateless random ops seeded by the pair, and the parallel maps keep their order,
so two trainings with one seed see the same batches bit for bit, and a training
resumed after epoch N sees what an uninterrupted one would have from N + 1 on.

Geometry is in continuous input pixels (a pixel's centre at +0.5, as the crop
transforms and the old ``mirror`` use): a flip maps x to ``width - x`` and
swaps left and right keypoints, then scale and rotation act about the crop centre.
Images are resampled by one projective transform per sample (bilinear, black
outside, as ``person_crop`` fills); a keypoint the transform pushes out of the
input is unlabelled. Targets come from the spec's own NumPy encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import tensorflow as tf

from posepipe.calibration.samples import SampleSet
from posepipe.models.spec import Augmentation, ModelSpec

Batch = tuple[tf.Tensor, dict[str, tf.Tensor]]


@dataclass(frozen=True)
class InputPipeline:
    """Batches of one sample set for ``outputs``; ``batch_size`` is the global batch
    (per replica times replicas) that a distribution strategy splits."""

    spec: ModelSpec
    config: Any
    samples: SampleSet
    augmentation: Augmentation
    batch_size: int
    seed: int
    outputs: tuple[str, ...]

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.samples) / self.batch_size)

    def epoch(self, number: int) -> tf.data.Dataset:
        """The batches of epoch ``number`` (1-based, numbered as the training record does)."""
        pixels, keypoints = self._tensors
        count = len(self.samples)
        order = tf.argsort(tf.random.stateless_uniform([count], seed=[self.seed, 2 * number]))
        draws = tf.random.stateless_uniform([count, 3], seed=[self.seed, 2 * number + 1])
        encode = self._encoder()
        size = self.config.input_size
        flip_index = tf.constant(self.spec.keypoints.flip_index, tf.int32)
        mean = tf.constant(self.spec.input.mean, tf.float32)
        std = tf.constant(self.spec.input.std, tf.float32)

        def augment(indices: tf.Tensor, uniform: tf.Tensor) -> Batch:
            matrices, flips = affine(uniform, self.augmentation, size)
            images = transform_images(tf.cast(tf.gather(pixels, indices), tf.float32), matrices)
            points = transform_keypoints(tf.gather(keypoints, indices), matrices, flips, flip_index, size)
            return (images - mean) / std, encode(points)

        return (tf.data.Dataset.from_tensor_slices((order, tf.gather(draws, order)))
                .batch(self.batch_size)
                .map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))

    @cached_property
    def _tensors(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The uint8 inputs and their people's input-pixel keypoints [N, P, K, 3] (P = 1
        for a top-down crop), made tensors once for every epoch."""
        keypoints = self.samples.input_keypoints()
        people = keypoints[:, None] if keypoints.ndim == 3 else keypoints
        return tf.constant(self.samples.pixels), tf.constant(people, tf.float32)

    def _encoder(self) -> Any:
        """Keypoints [B, P, K, 3] -> {output: targets [B, ...]} through the spec's NumPy
        encoder, one sample's people at a time; shapes and dtypes from encoding one
        unlabelled person."""
        encoder = self.spec.make_encoder(self.config)
        names = self.outputs
        probe = encoder.encode(np.zeros((1, len(self.spec.keypoints), 3), np.float32))
        shapes = {name: probe[name].shape for name in names}

        def encode_numpy(points: np.ndarray) -> tuple[np.ndarray, ...]:
            targets = [encoder.encode(people) for people in points]
            return tuple(np.stack([t[name] for t in targets]).astype(np.float32) for name in names)

        def encode(points: tf.Tensor) -> dict[str, tf.Tensor]:
            tensors = tf.numpy_function(encode_numpy, [points], [tf.float32] * len(names), stateful=False)
            for tensor, name in zip(tensors, names, strict=True):
                tensor.set_shape((None, *shapes[name]))
            return dict(zip(names, tensors, strict=True))

        return encode


def affine(uniform: tf.Tensor, augmentation: Augmentation, size: tuple[int, int]) -> tuple[tf.Tensor, tf.Tensor]:
    """Per sample, from three uniforms in [0, 1): whether it is flipped and the 3x3
    map from original to augmented input pixels (flip, then scale and rotation
    about the centre)."""
    flips = uniform[:, 0] < augmentation.flip
    low, high = augmentation.scale
    scale = low + (high - low) * uniform[:, 1]
    angle = (2.0 * uniform[:, 2] - 1.0) * augmentation.rotation * (math.pi / 180.0)
    return affine_matrices(flips, scale, angle, size), flips


def affine_matrices(flips: tf.Tensor, scale: tf.Tensor, angle: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """[B, 3, 3]: p' = C + s R(angle) (F(p) - C), F the optional mirror x -> width - x."""
    height, width = size
    cx, cy = width / 2.0, height / 2.0
    zero, one = tf.zeros_like(scale), tf.ones_like(scale)
    sign = tf.where(flips, -one, one)
    mirror_shift = tf.where(flips, width * one, zero)
    cos, sin = scale * tf.cos(angle), scale * tf.sin(angle)
    # s R (F(p) - C) + C with F(p) = (sign x + shift, y)
    row_x = tf.stack([cos * sign, -sin, cos * (mirror_shift - cx) + sin * cy + cx], axis=-1)
    row_y = tf.stack([sin * sign, cos, sin * (mirror_shift - cx) - cos * cy + cy], axis=-1)
    bottom = tf.stack([zero, zero, one], axis=-1)
    return tf.stack([row_x, row_y, bottom], axis=1)


def transform_keypoints(points: tf.Tensor, matrices: tf.Tensor, flips: tf.Tensor, flip_index: tf.Tensor,
                        size: tuple[int, int]) -> tf.Tensor:
    """Keypoints [B, K, 3] or [B, P, K, 3] (x, y, visibility) under ``matrices``; a
    flipped sample's keypoints swap left and right first. Unlabelled or pushed-out
    keypoints are zeros."""
    if points.shape.rank == 4:
        people = tf.shape(points)[1]
        flat = transform_keypoints(tf.reshape(points, [-1, points.shape[2], 3]), tf.repeat(matrices, people, axis=0),
                                   tf.repeat(flips, people, axis=0), flip_index, size)
        return tf.reshape(flat, tf.shape(points))
    height, width = size
    swapped = tf.where(flips[:, None, None], tf.gather(points, flip_index, axis=1), points)
    xy1 = tf.concat([swapped[..., :2], tf.ones_like(swapped[..., :1])], axis=-1)
    moved = tf.einsum("bij,bkj->bki", matrices, xy1)[..., :2]
    x, y = moved[..., 0], moved[..., 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height) & (swapped[..., 2] > 0)
    out = tf.concat([moved, swapped[..., 2:]], axis=-1)
    return tf.where(inside[..., None], out, tf.zeros_like(out))


def transform_images(images: tf.Tensor, matrices: tf.Tensor) -> tf.Tensor:
    """Images [B, H, W, C] resampled so that what was at p is at ``matrices`` @ p.

    The op maps each output pixel index to the input one it samples, so it takes the
    inverse map, moved from continuous coordinates (centres at +0.5) to indices."""
    half = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    back = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    inverse = back @ tf.linalg.inv(matrices) @ half
    flat = tf.reshape(inverse, [-1, 9])[:, :8] / inverse[:, 2:3, 2]
    out = tf.raw_ops.ImageProjectiveTransformV3(images=images, transforms=flat, output_shape=tf.shape(images)[1:3],
                                                fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    out.set_shape(images.shape)  # the op loses the static size, which layers like UpSampling2D need
    return out
