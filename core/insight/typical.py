"""Whether a drawing looks like the digits the models learned from: one verdict per drawing, the same
for every model (a model's confidence is no guide: one was 94% sure a horizontal line is a 4)."""
from __future__ import annotations

import numpy as np

from core.insight.preprocess import INK_THRESHOLD

# MNIST's widest digit is 2.0 times as wide as it is tall (its 60,000 training images, measured)
WIDEST = 2.5
# ink in more than this share of a box that is not a thin stroke: a scribble, not a digit (0.3% of
# MNIST's training digits are flagged by this rule and WIDEST together)
FULLEST = 0.65
THIN = 0.5  # a box narrower than half its height is a stroke (a 1), which may be all ink


def unlike_a_digit(image: np.ndarray) -> str | None:
    """Why a (28, 28) image in [0, 1] does not look like an MNIST digit, or None if it does."""
    rows, cols = np.nonzero(np.asarray(image) > INK_THRESHOLD)
    if len(rows) == 0:
        return "there is no ink in it"
    box = np.asarray(image)[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    aspect = box.shape[1] / box.shape[0]
    if aspect > WIDEST:
        return "it is much wider than it is tall, unlike any MNIST digit"
    if aspect > THIN and (box > 0.5).mean() > FULLEST:
        return "it is mostly ink, more a scribble than a stroke"
    return None
