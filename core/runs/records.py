"""What readers of the run store get: typed records, read leniently so older runs still open."""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

from core.config import RunConfig
from core.names import checked_tags
from core.status import RunStatus
from core.training.evaluation import Evaluation

T = TypeVar("T")


class Metric(NamedTuple):
    """One point: split is 'train' (per batch and per epoch), 'val' or 'test'."""
    step: int
    epoch: int
    split: str
    name: str
    value: float | None
    wall_time: float


# A batch's train metrics, as a worker buffers them: (step, epoch, loss, accuracy, lr, samples_per_s,
# wall_time), a BatchEnded with its time appended. The store writes it as one Metric row a name, in
# this order; one tuple a batch, not four rows, is what a flush binds (benchmarks.pipeline_speed).
BATCH_METRIC_NAMES = ("loss", "accuracy", "lr", "samples_per_s")
BatchRow = tuple[int, int, float, float, float, float, float]


def batch_row_metrics(row: BatchRow) -> list[Metric]:
    """A batch row as the four Metric rows the store keeps of it."""
    step, epoch, *values, wall_time = row
    return [Metric(step, epoch, "train", name, value, wall_time) for name, value in zip(BATCH_METRIC_NAMES, values)]


def known_fields(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """A dataclass from a stored dict: unknown keys dropped, missing ones defaulted."""
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in (data or {}).items() if key in names})


@dataclass(frozen=True)
class RunSummary:
    """A run's outcome, written when it ends."""
    end_reason: RunStatus | None = None
    epochs_completed: int = 0
    steps: int = 0
    best_epoch: int | None = None
    best_val_accuracy: float | None = None
    best_val_loss: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    tested_checkpoint: str | None = None  # whose weights were tested: 'best', or 'last' for a run stopped early
    tested_epoch: int | None = None  # the best epoch, or the epoch a run stopped in
    drawn_accuracy: float | None = None  # on the test digits redrawn as the Draw page's canvas draws them

    def __post_init__(self) -> None:
        if self.end_reason is not None:
            object.__setattr__(self, "end_reason", RunStatus(self.end_reason))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RunSummary:
        return known_fields(cls, data)


@dataclass(frozen=True)
class Environment:
    """Where and with what a run trained."""
    torch: str = ""
    device: str = ""
    seed: int | None = None
    parameters: int | None = None
    threads: int | None = None
    python: str = ""
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Environment:
        return known_fields(cls, data)


def parse_tags(text: str) -> tuple[str, ...]:
    """Tags as a user types them, comma separated; InvalidText for one too long."""
    return checked_tags(text.split(","))


class EvaluationNotRead(LookupError):
    """A run listed without its test evaluation was asked for it."""


@dataclass(frozen=True)
class Run:
    id: str
    name: str
    config: RunConfig
    config_error: str | None  # why the stored settings no longer validate; such a run cannot train
    status: RunStatus
    created_at: float
    started_at: float | None
    ended_at: float | None
    environment: Environment
    tags: tuple[str, ...]
    notes: str
    summary: RunSummary
    message: str
    pid: int | None
    heartbeat_at: float | None
    stop_requested: bool
    sweep_id: str | None = None  # set on a sweep's trials, with their trial number
    trial_number: int | None = None
    evaluation_json: str | None = field(default=None, repr=False, compare=False)
    parent_id: str | None = None  # a fork's parent run, and the epoch it branched from
    parent_epoch: int | None = None
    trained_before_s: float = 0.0  # seconds trained before the latest resume
    evaluation_read: bool = field(default=True, repr=False, compare=False)  # False: listed without it

    @cached_property
    def evaluation(self) -> Evaluation | None:
        """The test evaluation, parsed when first read: it is the largest part of a stored run."""
        if not self.evaluation_read:
            raise EvaluationNotRead(f"run {self.id} was listed without its test evaluation: read it with get_run")
        try:
            return Evaluation.from_dict(json.loads(self.evaluation_json)) if self.evaluation_json else None
        except (TypeError, KeyError, ValueError):  # written by another version: shown as not evaluated
            return None

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    @property
    def epochs_label(self) -> str:
        """Epochs trained, and the planned ones where they differ: "4 of 8" (it stopped early, or trains still)."""
        done, planned = self.summary.epochs_completed, self.config.epochs
        return str(planned) if done == planned else f"{done} of {planned}"

    @property
    def duration(self) -> float | None:
        """Seconds trained, over every resume: to the end, or until now for a run still going."""
        if self.started_at is None:
            return self.trained_before_s or None
        return self.trained_before_s + (self.ended_at or time.time()) - self.started_at


@dataclass(frozen=True)
class EpochValidation:
    """One epoch's validation predictions: one digit per image in the split's order, and their confusion."""
    epoch: int
    confusion: list[list[int]]  # [true][predicted]
    predictions: bytes
