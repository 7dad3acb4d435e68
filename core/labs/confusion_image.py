"""A confusion matrix drawn as an RGB image, for viewers that show images (TensorBoard's Images tab)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CELL_PX = 40
LABEL_CHARS = 14  # longer class names are cut, with an ellipsis
LOW, HIGH = np.array([247, 251, 255]), np.array([8, 48, 107])  # the ends of the 'Blues' scale


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def confusion_image(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> np.ndarray:
    """(H, W, 3) uint8: true classes down, predicted across, counts in cells shaded by log count."""
    counts = np.asarray(confusion, dtype=np.int64)
    n = len(classes)
    font = ImageFont.load_default(size=12)
    margin = 12 + max(int(font.getlength(_label(c))) for c in classes)
    size = max(margin + n * CELL_PX + 8, 200)
    image = Image.new("RGB", (size, margin + n * CELL_PX + 24), "white")
    draw = ImageDraw.Draw(image)
    draw.text((4, 2), "rows: true, columns: predicted", fill="black", font=font)
    shade = np.log1p(counts) / max(np.log1p(counts).max(), 1e-9)
    for row in range(n):
        y = 16 + margin + row * CELL_PX
        draw.text((4, y + CELL_PX // 2 - 6), _label(classes[row]), fill="black", font=font)
        for col in range(n):
            x = margin + col * CELL_PX
            colour = tuple(int(v) for v in LOW + (HIGH - LOW) * shade[row, col])
            draw.rectangle((x, y, x + CELL_PX - 1, y + CELL_PX - 1), fill=colour, outline="white")
            text = str(counts[row, col])
            ink = "white" if shade[row, col] > 0.5 else "black"
            draw.text((x + (CELL_PX - font.getlength(text)) / 2, y + CELL_PX // 2 - 7), text, fill=ink, font=font)
    _column_labels(image, classes, margin, font)
    return np.asarray(image)


def _column_labels(image: Image.Image, classes: Sequence[str], margin: int, font) -> None:
    """Class names across the top, written upwards so long ones fit."""
    strip = Image.new("RGB", (margin - 4, len(classes) * CELL_PX), "white")
    draw = ImageDraw.Draw(strip)
    for i, name in enumerate(classes):
        draw.text((4, i * CELL_PX + CELL_PX // 2 - 6), _label(name), fill="black", font=font)
    image.paste(strip.rotate(90, expand=True), (margin, 18))
