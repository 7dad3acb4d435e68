"""A drawn digit made into an MNIST image the way MNIST itself was made."""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from core.training.data import MEAN, STD

SIZE = 28
BOX = 20
# MNIST's mean center of mass, measured on its training images (row 14.00, column 14.00).
CENTER = 14.0
INK_THRESHOLD = 0.1
# a drawing smaller than this share of the canvas (a dot, a tick) is not blown up into a digit
MIN_EXTENT = 1 / 8


class EmptyDrawing(ValueError):
    """Nothing was drawn: no pixel is brighter than the ink threshold."""


class DrawingTooSmall(EmptyDrawing):
    """The ink covers too little of the canvas to be read as a digit (a dot, a speck)."""


def intensity(image: np.ndarray) -> np.ndarray:
    """Ink per pixel in [0, 1] from a grey (H, W) or RGB(A) (H, W, 3|4) array; alpha scales it."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        grey = array
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        grey = array[..., :3].mean(axis=2)
        if array.shape[2] == 4:
            # a transparent pixel is no ink, whatever its colour channels say
            grey = grey * array[..., 3] / (255.0 if array[..., 3].max() > 1.0 else 1.0)
    else:
        raise ValueError(f"image: expected (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    return grey / 255.0 if array.max() > 1.0 else grey


def mnist_image(image: np.ndarray, threshold: float = INK_THRESHOLD) -> np.ndarray:
    """The (28, 28) image in [0, 1] a model sees: cropped, fit into 20x20, centered by mass."""
    ink = intensity(image)
    rows, cols = np.nonzero(ink > threshold)
    if len(rows) == 0:
        raise EmptyDrawing(f"nothing drawn: no pixel has ink above {threshold:g}")
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    if max(crop.shape) < MIN_EXTENT * max(ink.shape):
        raise DrawingTooSmall(f"the drawing is too small to read ({max(crop.shape)} px across on a "
                              f"{max(ink.shape)} px canvas): draw the digit larger")
    digit = _fit_box(crop)
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    top, left = (SIZE - digit.shape[0]) // 2, (SIZE - digit.shape[1]) // 2
    canvas[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return _center_by_mass(canvas)


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Scale so the longer side is BOX pixels, keeping the aspect ratio, with antialiasing."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    tensor = torch.from_numpy(np.ascontiguousarray(crop))[None, None]  # (1, 1, H, W)
    resized = F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)
    return resized[0, 0].clamp(0.0, 1.0).numpy()


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the intensity-weighted mean pixel."""
    total = float(image.sum())
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def _center_by_mass(image: np.ndarray) -> np.ndarray:
    """Shift by whole pixels so the center of mass lands on MNIST's center; what leaves is cut."""
    row, col = center_of_mass(image)
    dy, dx = round(CENTER - row), round(CENTER - col)
    shifted = np.zeros_like(image)
    src_rows = slice(max(0, -dy), SIZE - max(0, dy))
    src_cols = slice(max(0, -dx), SIZE - max(0, dx))
    dst_rows = slice(max(0, dy), SIZE - max(0, -dy))
    dst_cols = slice(max(0, dx), SIZE - max(0, -dx))
    shifted[dst_rows, dst_cols] = image[src_rows, src_cols]
    return shifted


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """A (28, 28) image in [0, 1] -> a normalized (1, 1, 28, 28) float32 tensor."""
    tensor = torch.as_tensor(np.asarray(image, dtype=np.float32))
    return ((tensor - MEAN) / STD).reshape(1, 1, SIZE, SIZE)


def preprocess(image: np.ndarray, threshold: float = INK_THRESHOLD) -> torch.Tensor:
    """A drawing (grey or RGBA array) -> the normalized (1, 1, 28, 28) tensor a model takes."""
    return to_tensor(mnist_image(image, threshold))
