"""Validation digits whose prediction changed: between two epochs of a run, or between two runs."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("fixed", "broken", "still wrong")


@dataclass(frozen=True)
class Flip:
    image: int  # the digit's index among the training images, the same for every run
    label: int
    before: int
    after: int

    @property
    def kind(self) -> str:
        """'fixed' (wrong, then right), 'broken' (right, then wrong) or 'still wrong' (one wrong guess for another)."""
        if self.after == self.label:
            return "fixed"
        return "broken" if self.before == self.label else "still wrong"


@dataclass(frozen=True)
class Side:
    """One run at one epoch: its predictions for its validation images, named by their training-image index."""
    images: Sequence[int]
    labels: Sequence[int]
    predictions: bytes


def flips(before: Side, after: Side) -> tuple[list[Flip], int]:
    """The digits both sides saw whose prediction differs, and how many digits both saw.

    Two epochs of a run see the same validation images; two runs with different seeds or
    validation sizes share only some, and only those are compared.
    """
    before_at = dict(zip(_ints(before.images), _guesses(before)))
    changed, shared = [], 0
    for image, label, guess in zip(_ints(after.images), _ints(after.labels), _guesses(after)):
        if image not in before_at:
            continue
        shared += 1
        if before_at[image] != guess:
            changed.append(Flip(image, label, before_at[image], guess))
    return changed, shared


def _ints(values: Sequence[int]) -> list[int]:
    return np.asarray(values).tolist()


def _guesses(side: Side) -> list[int]:
    return np.frombuffer(side.predictions, np.uint8).tolist()


def count_kinds(changed: Sequence[Flip]) -> dict[str, int]:
    """How many flips of each kind."""
    counts = Counter(flip.kind for flip in changed)
    return {kind: counts.get(kind, 0) for kind in KINDS}
