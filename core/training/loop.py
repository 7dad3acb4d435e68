"""The training loop: a generator that yields small events and does no I/O."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from core.config import RunConfig, steps_per_epoch
from core.status import RunStatus
from core.training.augment import augment
from core.training.data import Datasets, batches
from core.training.evaluation import loss_and_accuracy
from core.training.events import BatchEnded, EpochEnded, Event, RunEnded, monitored
from core.training.models import build_model
from core.training.optim import PER_BATCH_SCHEDULERS, build_optimizer, build_scheduler, step_scheduler_after_epoch

# Cross-entropy this far above ln 10 (a uniform guess) does not come back: call it diverged.
# Adam at lr 10 can keep its loss finite (1e6 and more) while it learns nothing.
DIVERGED_LOSS = 100.0




@dataclass
class TrainingState:
    """What the loop trains; the caller holds it to checkpoint between events."""
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    steps_per_epoch: int


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


def prepare(config: RunConfig, datasets: Datasets, device: torch.device) -> TrainingState:
    """Seed, then build the model, optimizer and schedule for a run."""
    seed_everything(config.seed)
    model = build_model(config).to(device)
    optimizer = build_optimizer(config, model)
    steps = steps_per_epoch(len(datasets.train), config.batch_size)
    scheduler = build_scheduler(config, optimizer, steps)
    return TrainingState(model, optimizer, scheduler, steps)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


@dataclass
class _Pending:
    """Per-batch values kept on the device until the next sync point."""
    losses: list[torch.Tensor]
    corrects: list[torch.Tensor]
    sizes: list[int]
    lrs: list[float]
    started: float


def _drain(pending: _Pending, first_step: int, epoch: int) -> list[BatchEnded]:
    # note: this is the CPU-GPU sync point, once every sync_every batches
    values = torch.stack(pending.losses + pending.corrects).tolist()
    count = len(pending.sizes)
    losses, corrects = values[:count], values[count:]
    rate = sum(pending.sizes) / max(time.perf_counter() - pending.started, 1e-9)
    return [BatchEnded(first_step + i, epoch, loss, c / n, lr, rate)
            for i, (loss, c, n, lr) in enumerate(zip(losses, corrects, pending.sizes, pending.lrs))]


@dataclass
class _BestTracker:
    """Best model by validation accuracy; early stopping by validation loss."""
    min_delta: float
    best_accuracy: float = -1.0
    best_loss: float = math.inf
    stopping_loss: float = math.inf
    stale_epochs: int = 0

    def update(self, accuracy: float, loss: float) -> bool:
        is_best = accuracy > self.best_accuracy or (accuracy == self.best_accuracy and loss < self.best_loss)
        if is_best:
            self.best_accuracy, self.best_loss = accuracy, loss
        if loss < self.stopping_loss - self.min_delta:
            self.stopping_loss, self.stale_epochs = loss, 0
        else:
            self.stale_epochs += 1
        return is_best


def train(config: RunConfig, datasets: Datasets, state: TrainingState,
          should_stop: Callable[[], bool] | None = None, sync_every: int = 1) -> Iterator[Event]:
    """Train per the config, yielding BatchEnded per batch, EpochEnded per epoch, then RunEnded."""
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    order = torch.Generator().manual_seed(config.seed + 1)
    tracker = _BestTracker(config.min_delta)
    step = 0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        outcome = yield from _train_epoch(config, datasets, state, criterion, order, epoch, step,
                                          should_stop, sync_every)
        if isinstance(outcome, RunEnded):
            yield outcome
            return
        step, train_loss, train_accuracy = outcome
        val_loss, val_accuracy = _validate(state.model, datasets)
        if val_loss is not None and not math.isfinite(val_loss):
            yield RunEnded(RunStatus.DIVERGED, epoch - 1, step, f"validation loss became {val_loss}; try a lower lr")
            return
        is_best = tracker.update(*monitored(train_accuracy, train_loss, val_accuracy, val_loss))
        lr = current_lr(state.optimizer)
        step_scheduler_after_epoch(config, state.scheduler, val_loss)
        yield EpochEnded(epoch, step, train_loss, train_accuracy, val_loss, val_accuracy, lr, is_best,
                         time.perf_counter() - started)
        if config.patience and tracker.stale_epochs >= config.patience:
            yield RunEnded(RunStatus.EARLY_STOPPED, epoch, step, f"validation loss did not improve by more than "
                           f"{config.min_delta:g} for {tracker.stale_epochs} epochs")
            return
    yield RunEnded(RunStatus.FINISHED, config.epochs, step)


def _train_epoch(config: RunConfig, datasets: Datasets, state: TrainingState, criterion: nn.Module,
                 order: torch.Generator, epoch: int, step: int, should_stop: Callable[[], bool] | None,
                 sync_every: int):
    """Yield this epoch's BatchEnded events; return (step, mean loss, accuracy) or a RunEnded."""
    state.model.train()
    per_batch_schedule = config.scheduler in PER_BATCH_SCHEDULERS
    loss_sum = correct_sum = 0.0
    pending = _Pending([], [], [], [], time.perf_counter())
    for images, labels in batches(datasets.train, config.batch_size, order):
        images = augment(images, config, order)
        pending.lrs.append(current_lr(state.optimizer))
        loss, correct = _train_step(state, criterion, images, labels, per_batch_schedule)
        pending.losses.append(loss), pending.corrects.append(correct), pending.sizes.append(len(labels))
        step += 1
        if len(pending.sizes) < sync_every and step % state.steps_per_epoch != 0:
            continue
        for event, size in zip(_drain(pending, step - len(pending.sizes) + 1, epoch), pending.sizes):
            if not math.isfinite(event.loss) or event.loss > DIVERGED_LOSS:
                return RunEnded(RunStatus.DIVERGED, epoch - 1, event.step,
                                f"loss became {event.loss:.4g} at step {event.step}; try a lower lr")
            loss_sum, correct_sum = loss_sum + event.loss * size, correct_sum + event.accuracy * size
            yield event
        pending = _Pending([], [], [], [], time.perf_counter())
        if should_stop is not None and should_stop():
            return RunEnded(RunStatus.STOPPED, epoch - 1, step, "stopped on request")
    return step, loss_sum / len(datasets.train), correct_sum / len(datasets.train)


def _train_step(state: TrainingState, criterion: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                per_batch_schedule: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step; returns the detached loss and the count of correct predictions."""
    state.optimizer.zero_grad(set_to_none=True)
    logits = state.model(images)
    loss = criterion(logits, labels)
    loss.backward()
    state.optimizer.step()
    if per_batch_schedule:
        state.scheduler.step()
    return loss.detach(), (logits.detach().argmax(1) == labels).sum().float()


def _validate(model: nn.Module, datasets: Datasets) -> tuple[float | None, float | None]:
    if len(datasets.val) == 0:
        return None, None
    return loss_and_accuracy(model, datasets.val)
