"""One run from start to end as a generator: training events plus what a store keeps of them.

No store and no files: whatever runs a trial (the local worker, a task on another machine)
iterates this and hands each item to a Recorder beside the run store.
"""
from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from core.config import RunConfig
from core.devices import resolve_device
from core.insight.drawn import drawn_accuracy, drawn_test_set
from core.runs.records import Environment
from core.status import RunStatus
from core.training.checkpoints import checkpoint_payload
from core.training.data import DEFAULT_DATA_DIR, Datasets
from core.training.datasets import load_datasets
from core.training.evaluation import Evaluation, evaluate
from core.training.events import BatchEnded, EpochEnded, RunEnded, Validated
from core.training.loop import TrainingState, prepare, train
from core.training.models import count_parameters
from core.training.optim import preload_optimizer_imports
from core.training.resume import capture, restore

# values are read back every 50 batches or 0.1 s (SYNC_WAIT_S): a GPU waits less often, and a CPU
# counts the right predictions of many batches in one pass
READ_BACK_EVERY = 50


@dataclass(frozen=True)
class Origin:
    """Where a trial continues from instead of starting afresh: checkpoint payloads, not files.

    `checkpoint` is an epoch checkpoint. A resume also passes its best epoch's checkpoint, whose
    weights are tested at the end unless a later epoch beats them; a fork passes none.
    """
    checkpoint: dict
    best: dict | None = None
    fork: bool = False


@dataclass(frozen=True)
class Started:
    environment: Environment


@dataclass(frozen=True)
class Restored:
    """The trial continues after this epoch and step; `best` is the best epoch so far, if any."""
    epoch: int
    step: int
    best: EpochEnded | None


@dataclass(frozen=True)
class CheckpointReady:
    """A checkpoint to keep: 'best', 'last' or an epoch number, and its contents."""
    which: str | int
    payload: dict


@dataclass(frozen=True)
class Evaluated:
    """The test set's verdict on a checkpoint's weights: 'best', or 'last' for a run stopped early."""
    evaluation: Evaluation
    epoch: int  # the best epoch, or the epoch the run stopped in
    step: int
    checkpoint: str = "best"


@dataclass(frozen=True)
class DrawnStyleTested:
    """The best weights' accuracy on the MNIST test digits redrawn as the Draw page's canvas draws them."""
    accuracy: float


TrialItem = (Started | Restored | BatchEnded | Validated | EpochEnded | CheckpointReady | Evaluated | DrawnStyleTested
             | RunEnded)
Best = tuple[EpochEnded, dict]  # the best epoch so far and its weights
# what runs a trial and streams its items: run_trial here, or a task on another machine
TrialSource = Callable[..., Iterator[TrialItem]]


class TrialInterrupted(RuntimeError):
    """The process running the trial elsewhere is gone (a Ray worker or node died): the run is interrupted."""


def environment(config: RunConfig, device: torch.device, state: TrainingState) -> Environment:
    return Environment(torch=torch.__version__, device=str(device), seed=config.seed,
                       parameters=count_parameters(state.model), threads=torch.get_num_threads(),
                       python=sys.version.split()[0], pid=os.getpid())


def run_trial(config: RunConfig, data_dir: Path | str = DEFAULT_DATA_DIR,
              should_stop: Callable[[], bool] | None = None, tables_dir: Path | None = None,
              origin: Origin | None = None) -> Iterator[TrialItem]:
    """Train per the config, from its start or from an origin; yield its events, its checkpoints, the
    test evaluation, then RunEnded.

    A 'csv' run reads its table from tables_dir (the run store's), where it is kept by checksum. Each
    epoch's checkpoints come before its EpochEnded: a recorder that stores the epoch's metrics on
    EpochEnded then never holds an epoch's rows without its checkpoint.
    """
    device = resolve_device(config.device)
    preload_optimizer_imports(config)
    datasets = load_datasets(config, data_dir, tables_dir, device)
    state, best = _initial_state(config, datasets, device, origin)
    yield Started(environment(config, device, state))
    if origin is not None:
        yield Restored(state.epoch, state.step, best[0] if best else None)
    last_batch: BatchEnded | None = None
    for event in train(config, datasets, state, should_stop=should_stop, sync_every=READ_BACK_EVERY):
        if isinstance(event, RunEnded):
            break
        if isinstance(event, BatchEnded):
            last_batch = event
        elif isinstance(event, EpochEnded):
            best = yield from _epoch_checkpoints(config, state, event, best)
        yield event
    if event.reason == RunStatus.STOPPED and last_batch is not None:
        # mid-epoch weights are kept too, apart from the per-epoch and best checkpoints
        yield CheckpointReady("last", _snapshot(config, state, event.epochs_completed, last_batch.loss,
                                                last_batch.accuracy))
    yield from _final_tests(config, datasets, state, best, event, last_batch, data_dir)
    yield event


def _final_tests(config: RunConfig, datasets: Datasets, state: TrainingState, best: Best | None, end: RunEnded,
                 last_batch: BatchEnded | None, data_dir: Path | str) -> Iterator[TrialItem]:
    """The test evaluation of the best weights (or, for a run stopped in its first epoch, of the weights it
    stopped with), then for MNIST their drawn-style accuracy."""
    if best is not None:
        state.model.load_state_dict(best[1])
        yield Evaluated(evaluate(state.model, datasets.test), best[0].epoch, end.step)
    elif end.reason == RunStatus.STOPPED and last_batch is not None:
        yield Evaluated(evaluate(state.model, datasets.test), end.epochs_completed + 1, end.step, "last")
    else:
        return
    if config.dataset == "mnist":  # other data has no drawn style
        yield DrawnStyleTested(drawn_accuracy(state.model, drawn_test_set(data_dir)))


def _initial_state(config: RunConfig, datasets: Datasets, device: torch.device,
                   origin: Origin | None) -> tuple[TrainingState, Best | None]:
    """A fresh state, or the origin's, with the best epoch so far and its weights."""
    if origin is None:
        return prepare(config, datasets, device), None
    state, best_event = restore(config, datasets, device, origin.checkpoint, fork=origin.fork)
    if best_event is None or origin.best is None:
        return state, None
    return state, (best_event, origin.best["model_state_dict"])


def _epoch_checkpoints(config: RunConfig, state: TrainingState, event: EpochEnded,
                       best: Best | None) -> Generator[CheckpointReady, None, Best | None]:
    """Yield the epoch's checkpoint, and the best one if this epoch is it; return the best so far."""
    accuracy, loss = event.monitored
    best_event = event if event.is_best else (best[0] if best else None)
    payload = _snapshot(config, state, event.epoch, loss, accuracy, capture(state, best_event))
    yield CheckpointReady(event.epoch, payload)
    if not event.is_best:
        return best
    yield CheckpointReady("best", payload)
    return event, payload["model_state_dict"]


def _snapshot(config: RunConfig, state: TrainingState, epoch: int, loss: float, accuracy: float,
              training_state: dict | None = None) -> dict:
    """A checkpoint payload copied out of the live model: a consumer may keep it while training goes on."""
    return copy.deepcopy(checkpoint_payload(state.model, state.optimizer, config, epoch, loss, accuracy,
                                            training_state))
