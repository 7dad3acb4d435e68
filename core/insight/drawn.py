"""Drawn-style digits: MNIST test digits re-rendered the way the Draw page's canvas draws them.

Each digit is thinned to a one-pixel skeleton (scikit-image), redrawn with a round pen of the canvas's
stroke width on a canvas of its size (the 28x28 grid scaled 10x onto 280 px), then passed through the
Draw page's own preprocessing (`core.insight.preprocess.mnist_image`). That costs about 3 ms a digit,
so the 10,000 test digits are rendered once per machine and kept in a cache file named by what made
them (the test file's checksum and RENDER_VERSION).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from core.insight.preprocess import mnist_image
from core.training.data import DEFAULT_DATA_DIR, MEAN, MNIST_FILES, STD, read_idx
from core.training.decoded import cache_dir
from core.training.evaluation import EVAL_BATCH, predict_logits

CANVAS_PX = 280  # the Draw page's canvas
STROKE_PX = 20   # and its pen's width
SCALE = CANVAS_PX // 28
INK = 127  # MNIST pixels above this are stroke
RENDER_VERSION = 1  # bump when the rendering changes: the cache key follows it
# the skeleton's 8-neighbours ahead of a pixel (right, and the row below): each pair is joined once
NEIGHBOURS = ((0, 1), (1, -1), (1, 0), (1, 1))


@dataclass(frozen=True)
class DrawnSet:
    images: torch.Tensor  # (N, 28, 28) float32 in [0, 1], what the Draw page hands a model
    labels: torch.Tensor  # (N,) int64

    def normalized(self) -> torch.Tensor:
        """(N, 1, 28, 28) with MNIST's mean and std, as models take them."""
        return ((self.images - MEAN) / STD).unsqueeze(1).contiguous()


def render_on_canvas(digit: np.ndarray) -> np.ndarray:
    """A uint8 (28, 28) MNIST digit redrawn as a canvas stroke: (280, 280) uint8, white on black."""
    from skimage.morphology import skeletonize  # a second's import, needed only when the cache is made

    skeleton = skeletonize(digit > INK)
    points = set(zip(*(axis.tolist() for axis in np.nonzero(skeleton))))
    canvas = Image.new("L", (CANVAS_PX, CANVAS_PX), 0)
    pen = ImageDraw.Draw(canvas)
    radius = STROKE_PX / 2
    for row, col in points:
        x, y = (col + 0.5) * SCALE, (row + 0.5) * SCALE
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)  # the pen's round tip
        for d_row, d_col in NEIGHBOURS:
            if (row + d_row, col + d_col) in points:
                pen.line((x, y, x + d_col * SCALE, y + d_row * SCALE), fill=255, width=STROKE_PX)
    return np.asarray(canvas)


def drawn_style(digit: np.ndarray) -> np.ndarray:
    """One MNIST digit as the Draw page would hand it to a model: (28, 28) float32 in [0, 1]."""
    return mnist_image(render_on_canvas(digit))


def render_all(digits: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> drawn-style float32 (N, 28, 28)."""
    return torch.from_numpy(np.stack([drawn_style(digit) for digit in digits.numpy()]))


def _cache_key(data_dir: Path) -> str:
    source = MNIST_FILES["t10k-images-idx3-ubyte.gz"]
    if not (data_dir / "t10k-images-idx3-ubyte.gz").exists():  # only the shipped files are checked by md5
        raise FileNotFoundError(f"MNIST test images missing in {data_dir}")
    return hashlib.md5(f"{source}-{RENDER_VERSION}-{STROKE_PX}-{CANVAS_PX}".encode()).hexdigest()[:12]


def _save_atomically(path: Path, images: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(images, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def drawn_test_set(data_dir: Path | str = DEFAULT_DATA_DIR) -> DrawnSet:
    """The MNIST test set, drawn-style; rendered on first use (about 30 s) and cached."""
    data_dir = Path(data_dir)
    labels = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").long()
    path = cache_dir() / f"drawn-test-{_cache_key(data_dir)}.pt"
    try:
        images = torch.load(path, weights_only=True)
        if images.shape == (len(labels), 28, 28):
            return DrawnSet(images, labels)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):  # missing or damaged: render again
        pass
    images = render_all(read_idx(data_dir / "t10k-images-idx3-ubyte.gz"))
    try:
        _save_atomically(path, images)
    except OSError:  # a read-only home still gets its figure, only slower next time
        pass
    return DrawnSet(images, labels)


def drawn_accuracy(model: nn.Module, drawn: DrawnSet, batch_size: int = EVAL_BATCH) -> float:
    """Share of drawn-style digits the model reads correctly."""
    device = next(model.parameters()).device
    logits = predict_logits(model, drawn.normalized().to(device), batch_size)
    return (logits.argmax(1).cpu() == drawn.labels).float().mean().item()
