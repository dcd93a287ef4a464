"""The one preprocessing path: training, calibration and validation all use it.

Top-down models see a person's box, grown by ``PADDING`` and widened to the
model's aspect ratio around its centre (never stretched), resampled to the input
size. Bottom-up models see the whole image the same way. ``prepare`` adds the
model's normalisation; ``CropTransform`` maps keypoints between image and input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from posepipe.models.spec import InputSpec

PADDING = 1.25  # context around a person box, as SimpleBaseline and HRNet crop


@dataclass(frozen=True)
class CropTransform:
    """input = (image - origin) * scale, the same scale on both axes."""

    origin: tuple[float, float]
    scale: float

    def to_input(self, points: np.ndarray) -> np.ndarray:
        out = np.array(points, np.float32, copy=True)
        out[..., :2] = (out[..., :2] - np.asarray(self.origin, np.float32)) * self.scale
        return out

    def to_image(self, points: np.ndarray) -> np.ndarray:
        out = np.array(points, np.float32, copy=True)
        out[..., :2] = out[..., :2] / self.scale + np.asarray(self.origin, np.float32)
        return out


def crop_window(bbox: tuple[float, float, float, float], size: tuple[int, int], padding: float) -> CropTransform:
    """The aspect-preserving window around ``bbox`` (x, y, w, h) for an input of
    ``size`` (height, width)."""
    x, y, w, h = bbox
    out_h, out_w = size
    aspect = out_w / out_h
    window_w = max(w, h * aspect, 1.0) * padding
    cx, cy = x + w / 2, y + h / 2
    return CropTransform(origin=(cx - window_w / 2, cy - window_w / aspect / 2), scale=out_w / window_w)


def crop(image: np.ndarray, window: CropTransform, size: tuple[int, int]) -> np.ndarray:
    """Resample ``image`` into the window; outside the image is black."""
    out_h, out_w = size
    inverse = 1.0 / window.scale
    ox, oy = window.origin
    picture = Image.fromarray(image).transform(
        (out_w, out_h), Image.Transform.AFFINE, (inverse, 0.0, ox, 0.0, inverse, oy),
        resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0),
    )
    return np.asarray(picture)


def person_crop(image: np.ndarray, bbox: tuple[float, float, float, float],
                size: tuple[int, int], padding: float = PADDING) -> tuple[np.ndarray, CropTransform]:
    window = crop_window(bbox, size, padding)
    return crop(image, window, size), window


def whole_image(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, CropTransform]:
    """The whole image letterboxed into the input, for bottom-up models."""
    h, w = image.shape[:2]
    return person_crop(image, (0.0, 0.0, float(w), float(h)), size, padding=1.0)


def prepare(image: np.ndarray, bbox: tuple[float, float, float, float], size: tuple[int, int],
            spec: InputSpec) -> tuple[np.ndarray, CropTransform]:
    """A person's model input (float32 [H, W, 3]) and its transform."""
    pixels, window = person_crop(image, bbox, size)
    return spec.normalise(pixels), window
