"""One preprocessing path: aspect-preserving crops and exact keypoint transforms."""

from __future__ import annotations

import numpy as np

from posepipe.calibration.preprocess import PADDING, crop_window, person_crop, prepare, whole_image
from posepipe.models.spec import InputSpec


def test_a_pixel_lands_where_the_transform_says() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[40, 150] = 255  # the pixel whose centre is (150.5, 40.5)
    crop, window = person_crop(image, (120, 20, 60, 60), (64, 64))
    y, x = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    expected = window.to_input(np.array([[150.5, 40.5]]))[0]
    assert (x, y) == (int(expected[0]), int(expected[1]))


def test_transforms_round_trip_and_keep_visibility() -> None:
    window = crop_window((10, 20, 30, 90), (128, 96), PADDING)
    points = np.array([[15.0, 30.0, 2.0], [40.0, 110.0, 1.0]], np.float32)
    assert np.allclose(window.to_image(window.to_input(points)), points, atol=1e-4)
    assert np.array_equal(window.to_input(points)[:, 2], points[:, 2])


def test_the_window_keeps_the_aspect_ratio_and_centres_the_box() -> None:
    for bbox in [(0, 0, 30, 90), (0, 0, 90, 30), (5, 5, 1, 1)]:
        window = crop_window(bbox, (128, 96), PADDING)
        corner = window.to_input(np.array([[bbox[0], bbox[1]]]))[0]
        opposite = window.to_input(np.array([[bbox[0] + bbox[2], bbox[1] + bbox[3]]]))[0]
        centre = (corner + opposite) / 2
        assert np.allclose(centre, (48, 64), atol=1e-3)
        assert corner[0] >= 0 and corner[1] >= 0 and opposite[0] <= 96 + 1e-3 and opposite[1] <= 128 + 1e-3


def test_whole_images_are_letterboxed_not_stretched() -> None:
    image = np.full((50, 100, 3), 200, np.uint8)
    pixels, window = whole_image(image, (64, 64))
    assert window.scale == 64 / 100
    assert pixels[5, 32].max() == 0 and pixels[32, 32].min() == 200  # padding above, image in the middle


def test_prepare_normalises_with_the_input_spec() -> None:
    image = np.full((32, 32, 3), 255, np.uint8)
    tensor, _ = prepare(image, (0, 0, 32, 32), (16, 16), InputSpec())
    assert tensor.dtype == np.float32 and np.isclose(tensor[8, 8], 1.0).all()
