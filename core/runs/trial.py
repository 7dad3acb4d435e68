"""One run from start to end as a generator: training events plus what a store keeps of them.

No store and no files: whatever runs a trial (the local worker, a task on another machine)
iterates this and hands each item to a Recorder beside the run store.
"""
from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from core.config import RunConfig
from core.devices import resolve_device
from core.insight.drawn import drawn_accuracy, drawn_test_set
from core.runs.records import Environment
from core.status import RunStatus
from core.training.checkpoints import checkpoint_payload
from core.training.data import DEFAULT_DATA_DIR, build_datasets, load_arrays
from core.training.evaluation import Evaluation, evaluate
from core.training.events import BatchEnded, EpochEnded, RunEnded
from core.training.loop import TrainingState, prepare, train
from core.training.models import count_parameters


@dataclass(frozen=True)
class Started:
    environment: Environment


@dataclass(frozen=True)
class CheckpointReady:
    """A checkpoint to keep: 'best', 'last' or an epoch number, and its contents."""
    which: str | int
    payload: dict


@dataclass(frozen=True)
class Evaluated:
    """The test set's verdict on the weights of one epoch's checkpoint."""
    evaluation: Evaluation
    epoch: int
    step: int


@dataclass(frozen=True)
class DrawnStyleTested:
    """The best weights' accuracy on the MNIST test digits redrawn as the Draw page's canvas draws them."""
    accuracy: float


TrialItem = Started | BatchEnded | EpochEnded | CheckpointReady | Evaluated | DrawnStyleTested | RunEnded


def environment(config: RunConfig, device: torch.device, state: TrainingState) -> Environment:
    return Environment(torch=torch.__version__, device=str(device), seed=config.seed,
                       parameters=count_parameters(state.model), threads=torch.get_num_threads(),
                       python=sys.version.split()[0], pid=os.getpid())


def run_trial(config: RunConfig, data_dir: Path | str = DEFAULT_DATA_DIR,
              should_stop: Callable[[], bool] | None = None) -> Iterator[TrialItem]:
    """Train per the config; yield its events, its checkpoints, the test evaluation, then RunEnded."""
    device = resolve_device(config.device)
    datasets = build_datasets(load_arrays(config.dataset, data_dir), config.val_size, config.seed,
                              config.train_samples, device)
    state = prepare(config, datasets, device)
    yield Started(environment(config, device, state))
    best: tuple[EpochEnded, dict] | None = None
    last_batch: BatchEnded | None = None
    sync_every = 1 if device.type == "cpu" else 50  # a GPU is read back every 50 batches only
    for event in train(config, datasets, state, should_stop=should_stop, sync_every=sync_every):
        if isinstance(event, RunEnded):
            break
        yield event
        if isinstance(event, BatchEnded):
            last_batch = event
        elif isinstance(event, EpochEnded):
            accuracy, loss = event.monitored
            payload = checkpoint_payload(state.model, state.optimizer, config, event.epoch, loss, accuracy)
            yield CheckpointReady(event.epoch, payload)
            if event.is_best:
                yield CheckpointReady("best", payload)
                best = (event, copy.deepcopy(state.model.state_dict()))
    if event.reason == RunStatus.STOPPED and last_batch is not None:
        # mid-epoch weights are kept too, apart from the per-epoch and best checkpoints
        yield CheckpointReady("last", checkpoint_payload(state.model, state.optimizer, config,
                                                         event.epochs_completed, last_batch.loss,
                                                         last_batch.accuracy))
    if best is not None:
        state.model.load_state_dict(best[1])
        yield Evaluated(evaluate(state.model, datasets.test), best[0].epoch, event.step)
        if config.dataset == "mnist":  # other data has no drawn style
            yield DrawnStyleTested(drawn_accuracy(state.model, drawn_test_set(data_dir)))
    yield event
