"""Preprocessing a drawing as MNIST was made: crop, fit into 20x20, center by mass, normalize."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.insight.preprocess import DrawingTooSmall, EmptyDrawing, center_of_mass, intensity, mnist_image, preprocess
from core.training.data import MEAN, STD


def canvas(top: int, left: int, height: int, width: int, size: int = 280) -> np.ndarray:
    """RGBA canvas, opaque black, with one white rectangle."""
    image = np.zeros((size, size, 4), dtype=np.uint8)
    image[..., 3] = 255
    image[top:top + height, left:left + width, :3] = 255
    return image


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(image > 0.05)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_a_centered_digit_stays_centered():
    image = mnist_image(canvas(40, 100, 200, 80))
    row, col = center_of_mass(image)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5
    assert image.shape == (28, 28) and image.min() >= 0.0 and image.max() <= 1.0


def test_an_off_center_digit_is_moved_to_the_center():
    corner = mnist_image(canvas(0, 0, 100, 40))
    middle = mnist_image(canvas(90, 120, 100, 40))
    assert np.allclose(corner, middle)  # where it was drawn does not matter
    row, col = center_of_mass(corner)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


def test_longer_side_becomes_twenty_pixels_keeping_the_aspect_ratio():
    tall = mnist_image(canvas(20, 130, 240, 24))  # 10:1
    height, width = ink_box(tall)
    assert height == 20 and width <= 3
    wide = mnist_image(canvas(130, 20, 60, 240))  # 1:4
    height, width = ink_box(wide)
    assert width == 20 and 4 <= height <= 6


def test_a_small_drawing_is_scaled_up_to_the_box():
    assert max(ink_box(mnist_image(canvas(120, 130, 40, 12)))) == 20


def test_a_dot_is_refused_rather_than_blown_up():
    with pytest.raises(DrawingTooSmall, match="draw the digit larger"):
        mnist_image(canvas(130, 130, 10, 10))


def test_tensor_is_normalized_like_the_training_data():
    tensor = preprocess(canvas(40, 100, 200, 80))
    assert tensor.shape == (1, 1, 28, 28) and tensor.dtype == torch.float32
    assert tensor.min().item() == pytest.approx(-MEAN / STD)  # background
    assert tensor.max().item() == pytest.approx((1 - MEAN) / STD, rel=1e-4)  # full ink


@pytest.mark.parametrize("image", [
    np.zeros((280, 280, 4), dtype=np.uint8),                  # nothing drawn
    np.full((280, 280), 12, dtype=np.uint8),                  # faint noise below the threshold
    np.dstack([np.full((280, 280, 3), 255, np.uint8), np.zeros((280, 280), np.uint8)]),  # transparent
])
def test_an_empty_canvas_is_refused(image):
    with pytest.raises(EmptyDrawing, match="nothing drawn"):
        preprocess(image)


def test_intensity_reads_grey_rgb_and_rgba():
    grey = np.zeros((4, 4), dtype=np.uint8)
    grey[1, 2] = 255
    rgba = np.dstack([np.repeat(grey[..., None], 3, axis=2), np.full((4, 4), 255, np.uint8)])
    assert np.array_equal(intensity(grey), intensity(rgba)) and intensity(grey)[1, 2] == 1.0
    assert np.array_equal(intensity(grey.astype(float) / 255), intensity(grey))
    with pytest.raises(ValueError, match="image"):
        intensity(np.zeros((4, 4, 2)))
