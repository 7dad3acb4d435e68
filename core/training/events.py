"""What the training generator yields: small frozen records of plain values."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from core.status import RunStatus

# Cross-entropy this far above ln 10 (a uniform guess) does not come back: call it diverged.
# Adam at lr 10 can keep its loss finite (1e6 and more) while it learns nothing.
DIVERGED_LOSS = 100.0


def diverged(loss: float) -> bool:
    """A loss that says training has blown up: not a number, infinite, or past DIVERGED_LOSS."""
    return not math.isfinite(loss) or loss > DIVERGED_LOSS


class BatchEnded(NamedTuple):
    """The one record made for every batch: a NamedTuple builds in a third of a frozen dataclass's time
    (170 against 550 ns here), and an MLP epoch makes 938 of them."""
    step: int
    epoch: int
    loss: float
    accuracy: float
    lr: float
    samples_per_s: float


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    is_best: bool
    seconds: float

    @property
    def monitored(self) -> tuple[float, float]:
        """(accuracy, loss) that pick the best epoch and go into its checkpoint."""
        return monitored(self.train_accuracy, self.train_loss, self.val_accuracy, self.val_loss)


def monitored(train_accuracy: float, train_loss: float, val_accuracy: float | None,
              val_loss: float | None) -> tuple[float, float]:
    """Validation's (accuracy, loss) where there is a validation set, else training's."""
    if val_accuracy is None or val_loss is None:
        return train_accuracy, train_loss
    return val_accuracy, val_loss


@dataclass(frozen=True)
class Validated:
    """The validation set's verdict at the end of an epoch, image by image."""
    epoch: int
    predictions: bytes  # the predicted class of each validation example (at most 255 classes), in the split's order
    confusion: tuple[tuple[int, ...], ...]  # [true][predicted]

    @classmethod
    def of(cls, epoch: int, predicted: torch.Tensor, confusion: torch.Tensor) -> Validated:
        return cls(epoch, bytes(predicted.to(torch.uint8).tolist()), tuple(map(tuple, confusion.tolist())))


@dataclass(frozen=True)
class RunEnded:
    reason: RunStatus  # finished, early_stopped, diverged or stopped
    epochs_completed: int
    step: int
    message: str = ""


Event = BatchEnded | EpochEnded | Validated | RunEnded
