"""The training loop: a generator that yields small events and does no I/O."""
from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from core.config import RunConfig, steps_per_epoch
from core.status import RunStatus
from core.training.augment import augment, augments
from core.training.data import Datasets, batches
from core.training.evaluation import loss_accuracy_predictions
from core.training.events import (
    DIVERGED_LOSS,
    BatchEnded,
    EpochEnded,
    Event,
    RunEnded,
    Validated,
    diverged,
    monitored,
)
from core.training.models import build_model, fit_input_scale
from core.training.optim import PER_BATCH_SCHEDULERS, build_optimizer, build_scheduler, step_scheduler_after_epoch

# a group of batches is read back at least this often: a stop request and the charts wait no longer
SYNC_WAIT_S = 0.1


@dataclass
class BestTracker:
    """Best epoch by validation accuracy; early stopping by validation loss."""
    min_delta: float
    best_accuracy: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = 0
    stopping_loss: float = math.inf
    stale_epochs: int = 0

    def update(self, epoch: int, accuracy: float, loss: float) -> bool:
        is_best = accuracy > self.best_accuracy or (accuracy == self.best_accuracy and loss < self.best_loss)
        if is_best:
            self.best_accuracy, self.best_loss, self.best_epoch = accuracy, loss, epoch
        if loss < self.stopping_loss - self.min_delta:
            self.stopping_loss, self.stale_epochs = loss, 0
        else:
            self.stale_epochs += 1
        return is_best


@dataclass
class TrainingState:
    """Everything the loop changes as it trains: a checkpoint of it continues as if never stopped.

    `epoch` and `step` are the last ones completed; `order` draws the data order and the shifts.
    """
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    steps_per_epoch: int
    order: torch.Generator
    tracker: BestTracker
    epoch: int = 0
    step: int = 0


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


def prepare(config: RunConfig, datasets: Datasets, device: torch.device) -> TrainingState:
    """Seed, then build the model, optimizer, schedule, data order and best-epoch tracker for a run."""
    seed_everything(config.seed)
    model = build_model(config).to(device)
    fit_input_scale(model, datasets.train.images)
    optimizer = build_optimizer(config, model)
    steps = steps_per_epoch(len(datasets.train), config.batch_size)
    scheduler = build_scheduler(config, optimizer, steps)
    order = torch.Generator().manual_seed(config.seed + 1)
    return TrainingState(model, optimizer, scheduler, steps, order, BestTracker(config.min_delta))


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


@dataclass
class _Pending:
    """Per-batch values kept on the device until the next sync point, due by `deadline` at the latest.

    `kept` holds each batch's (loss, logits, labels). `lrs` holds each batch's lr under a per-batch
    schedule; otherwise it stays empty and `lr`, the epoch's, holds for every batch (per step, the
    loop does as little as it can beside the step: benchmarks.pipeline_speed).
    """
    lr: float | None
    started: float
    deadline: float
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)

    @classmethod
    def starting_now(cls, lr: float | None, wait_s: float) -> _Pending:
        now = time.perf_counter()
        return cls(lr, now, now + wait_s)


class _ReadBack(NamedTuple):
    """A group's values on the host: its events, and the losses, sizes and right counts they were made of."""
    events: list[BatchEnded]
    losses: list[float]
    sizes: list[int]
    corrects: list[int]


@torch.no_grad()  # the kept logits still hold their step's graph: stacking them records no new one
def _drain(pending: _Pending, first_step: int, epoch: int) -> _ReadBack:
    # note: this is the CPU-GPU sync point, once every sync_every batches
    losses, logits, labels = zip(*pending.kept)
    sizes = [len(batch) for batch in labels]
    values, corrects = _floats(losses), _correct_counts(logits, labels, sizes)
    rate = sum(sizes) / max(time.perf_counter() - pending.started, 1e-9)
    lrs = pending.lrs or [pending.lr] * len(sizes)
    events = [BatchEnded(first_step + i, epoch, loss, c / n, lr, rate)
              for i, (loss, c, n, lr) in enumerate(zip(values, corrects, sizes, lrs))]
    return _ReadBack(events, values, sizes, corrects)


def _any_diverged(losses: list[float]) -> bool:
    """Whether any loss diverged, in two passes in C: a NaN or an infinity makes the sum no finite number."""
    return not math.isfinite(sum(losses)) or max(losses, default=0.0) > DIVERGED_LOSS


def _floats(values: Sequence[torch.Tensor]) -> list[float]:
    """Scalar tensors as floats: one read of a stack from an accelerator, each read directly on a CPU."""
    if values[0].device.type == "cpu":  # .item() is a tenth of stack + tolist there (benchmarks.pipeline_speed)
        return [value.item() for value in values]
    return torch.stack(values).tolist()


def _correct_counts(logits: Sequence[torch.Tensor], labels: Sequence[torch.Tensor], sizes: list[int]) -> list[int]:
    """Each batch's count of right predictions: batches of one size in one pass (3 ops, not 3 a batch)."""
    if len(sizes) > 1 and sizes.count(sizes[0]) == len(sizes):
        # max's indices are argmax's (the first maximum, NaN counting as one) in a fifth of the time here
        return (torch.stack(logits).max(2).indices == torch.stack(labels)).sum(1).tolist()
    return [int((batch.argmax(1) == truth).sum()) for batch, truth in zip(logits, labels)]


def train(config: RunConfig, datasets: Datasets, state: TrainingState,
          should_stop: Callable[[], bool] | None = None, sync_every: int = 1,
          sync_wait_s: float | None = None) -> Iterator[Event]:
    """Train from the state's epoch to the config's last, yielding BatchEnded per batch, Validated and
    EpochEnded per epoch, then RunEnded.

    The batches' values are read back every sync_every batches, or sooner once sync_wait_s has passed;
    should_stop is asked after each read. sync_wait_s defaults to SYNC_WAIT_S as it is when called.
    """
    sync_wait_s = SYNC_WAIT_S if sync_wait_s is None else sync_wait_s
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        outcome = yield from _train_epoch(config, datasets, state, criterion, epoch, should_stop,
                                          (sync_every, sync_wait_s))
        if isinstance(outcome, RunEnded):
            yield outcome
            return
        train_loss, train_accuracy = outcome
        val_loss, val_accuracy, validated = _validate(state.model, datasets, epoch)
        if val_loss is not None and not math.isfinite(val_loss):
            yield RunEnded(RunStatus.DIVERGED, epoch - 1, state.step,
                           f"validation loss became {val_loss}; try a lower lr")
            return
        is_best = state.tracker.update(epoch, *monitored(train_accuracy, train_loss, val_accuracy, val_loss))
        lr = current_lr(state.optimizer)
        step_scheduler_after_epoch(config, state.scheduler, val_loss)
        state.epoch = epoch
        if validated:
            yield validated
        yield EpochEnded(epoch, state.step, train_loss, train_accuracy, val_loss, val_accuracy, lr, is_best,
                         time.perf_counter() - started)
        if config.patience and state.tracker.stale_epochs >= config.patience:
            yield RunEnded(RunStatus.EARLY_STOPPED, epoch, state.step, _early_stop_reason(config, state.tracker))
            return
    yield RunEnded(RunStatus.FINISHED, config.epochs, state.step)


def _early_stop_reason(config: RunConfig, tracker: BestTracker) -> str:
    """Why early stopping ended the run: 'validation loss did not improve for 3 epochs'."""
    by = f" by more than {config.min_delta:g}" if config.min_delta else ""
    stale = tracker.stale_epochs
    return f"validation loss did not improve{by} for {stale} epoch{'s' * (stale != 1)}"


def _train_epoch(config: RunConfig, datasets: Datasets, state: TrainingState, criterion: nn.Module, epoch: int,
                 should_stop: Callable[[], bool] | None, sync: tuple[int, float]):
    """Yield this epoch's BatchEnded events, advancing state.step; return (mean loss, accuracy) or a RunEnded."""
    state.model.train()
    per_batch_schedule, augmenting = config.scheduler in PER_BATCH_SCHEDULERS, augments(config)
    epoch_lr = None if per_batch_schedule else current_lr(state.optimizer)  # else it changes after the epoch
    loss_sum = correct_sum = 0.0
    sync_every, sync_wait_s = sync
    last = state.steps_per_epoch
    pending = _Pending.starting_now(epoch_lr, sync_wait_s)
    for index, (images, labels) in enumerate(batches(datasets.train, config.batch_size, state.order), 1):
        if augmenting:
            images = augment(images, config, state.order)
        if per_batch_schedule:
            pending.lrs.append(current_lr(state.optimizer))
        pending.kept.append((*_train_step(state, criterion, images, labels, per_batch_schedule), labels))
        if len(pending.kept) < sync_every and index < last and time.perf_counter() < pending.deadline:
            continue
        first_step, state.step = state.step + 1, state.step + len(pending.kept)
        group = _drain(pending, first_step, epoch)
        if _any_diverged(group.losses):
            first = next(event for event in group.events if diverged(event.loss))
            # the rest of its group trained on past it; a diverged run keeps no weights from here
            yield from group.events[:first.step - first_step + 1]  # up to where it diverged, for the charts
            return RunEnded(RunStatus.DIVERGED, epoch - 1, first.step,
                            f"loss became {first.loss:.4g} at step {first.step}; try a lower lr")
        loss_sum += sum(map(operator.mul, group.losses, group.sizes))
        correct_sum += sum(group.corrects)
        yield from group.events
        pending = _Pending.starting_now(epoch_lr, sync_wait_s)
        if should_stop is not None and should_stop():
            return RunEnded(RunStatus.STOPPED, epoch - 1, state.step, "stopped on request")
    return loss_sum / len(datasets.train), correct_sum / len(datasets.train)


def _train_step(state: TrainingState, criterion: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                per_batch_schedule: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step; returns the loss and logits as they are, their spent graph attached until the
    read-back, which runs without grad (backward has freed the graph's saved tensors: only its nodes stay).
    Two detach calls cost 0.64 us a step, 0.14% of the MLP's."""
    state.optimizer.zero_grad(set_to_none=True)
    logits = state.model(images)
    loss = criterion(logits, labels)
    loss.backward()
    state.optimizer.step()
    if per_batch_schedule:
        state.scheduler.step()
    return loss, logits


def _validate(model: nn.Module, datasets: Datasets,
              epoch: int) -> tuple[float | None, float | None, Validated | None]:
    """Validation loss and accuracy, and its predictions for the per-epoch confusion matrix."""
    if len(datasets.val) == 0:
        return None, None, None
    loss, accuracy, predicted, confusion = loss_accuracy_predictions(model, datasets.val)
    return loss, accuracy, Validated.of(epoch, predicted, confusion)
