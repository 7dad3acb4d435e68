"""One verdict per drawing on whether it looks like a digit, whatever model reads it."""
from __future__ import annotations

import numpy as np

from core.insight.preprocess import mnist_image
from core.insight.typical import unlike_a_digit
from core.training.data import load_test_images


def canvas(rows: slice, cols: slice) -> np.ndarray:
    image = np.zeros((280, 280), dtype=np.uint8)
    image[rows, cols] = 255
    return image


def test_a_stroke_like_a_one_is_a_digit_and_a_horizontal_line_or_a_scribble_is_not():
    assert unlike_a_digit(mnist_image(canvas(slice(40, 240), slice(130, 150)))) is None
    assert "wider than it is tall" in unlike_a_digit(mnist_image(canvas(slice(130, 150), slice(40, 240))))
    assert "mostly ink" in unlike_a_digit(mnist_image(canvas(slice(60, 220), slice(60, 220))))


def test_mnist_digits_pass():
    images = load_test_images("mnist")[:2000].numpy() / 255.0
    flagged = sum(unlike_a_digit(image) is not None for image in images)
    assert flagged / len(images) < 0.01  # 0.3% of the training digits are odd enough to be flagged
