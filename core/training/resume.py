"""Continuing from an epoch checkpoint: what it holds beyond the weights, and the state rebuilt from it.

A resume restores all of it, so the run goes on bit for bit as if it had never stopped. A fork
restores the weights, the data order and the random generators with some settings changed: the
optimizer's buffers carry over when the optimizer is the same, the schedule's state when nothing it
depends on changed; otherwise the schedule starts as the new settings plan it, moved to the branch
point. A fork picks its best epoch among its own and starts its early-stopping patience afresh.
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from core.config import ConfigError, RunConfig
from core.training.checkpoints import CheckpointError
from core.training.data import Datasets
from core.training.events import EpochEnded
from core.training.loop import BestTracker, TrainingState, prepare
from core.training.optim import PER_BATCH_SCHEDULERS

STATE_VERSION = 1
OPTIMIZER_FIELDS = ("optimizer", "lr", "momentum", "nesterov", "weight_decay")
SCHEDULE_FIELDS = ("scheduler", "step_size", "gamma", "plateau_patience", "plateau_factor")
# what a fork keeps from its parent, and why
FORK_KEEPS = {
    "model": "it would change the model's shape",
    "hidden_sizes": "it would change the model's shape",
    "dataset": "a fork trains on its parent's data",
    "val_size": "a fork trains on its parent's data",
    "train_samples": "a fork trains on its parent's data",
    "csv": "a fork trains on its parent's data",
    "batch_size": "a fork's steps continue its parent's",
    "seed": "a fork continues its parent's random generators",
}


def capture(state: TrainingState, best: EpochEnded | None) -> dict[str, Any]:
    """What an epoch checkpoint holds besides the weights and the optimizer: plain values and tensors only."""
    rng = {"torch": torch.get_rng_state(), "order": state.order.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {"version": STATE_VERSION, "step": state.step,
            "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
            "tracker": dataclasses.asdict(state.tracker), "best": dataclasses.asdict(best) if best else None,
            "rng": rng}


def saved_state(checkpoint: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The checkpoint's training state; CheckpointError naming the file if it has none or it is malformed."""
    saved = checkpoint.get("training_state")
    if not isinstance(saved, dict):
        raise CheckpointError(f"checkpoint {name} holds the weights but not the training state needed to "
                              "continue (it was written before checkpoints held it); it still works for testing")
    try:
        valid = (saved["version"] == STATE_VERSION and isinstance(saved["step"], int)
                 and isinstance(saved["tracker"], dict) and isinstance(saved["rng"]["torch"], torch.Tensor)
                 and isinstance(saved["rng"]["order"], torch.Tensor))
        BestTracker(**saved["tracker"])
        if saved["best"] is not None:
            EpochEnded(**saved["best"])
    except (KeyError, TypeError):
        valid = False
    if not valid:
        raise CheckpointError(f"checkpoint {name} has a malformed training state")
    return saved


def check_fork(parent: RunConfig, child: RunConfig, epoch: int) -> None:
    """ConfigError naming the first setting a fork from this epoch cannot have."""
    for name, reason in FORK_KEEPS.items():
        if getattr(child, name) != getattr(parent, name):
            raise ConfigError(name, f"a fork keeps its parent's {name} ({getattr(parent, name)!r}): {reason}")
    if child.epochs <= epoch:
        raise ConfigError("epochs", f"a fork from epoch {epoch} needs more epochs than that, got {child.epochs}")


def restore(config: RunConfig, datasets: Datasets, device: torch.device, checkpoint: Mapping[str, Any],
            fork: bool = False) -> tuple[TrainingState, EpochEnded | None]:
    """The state an epoch checkpoint saved, for this config; and the best epoch so far (None for a fork)."""
    saved = saved_state(checkpoint, f"of epoch {checkpoint.get('epoch')}")
    parent, _ = RunConfig.from_stored(checkpoint["config"])
    state = prepare(config, datasets, device)
    state.model.load_state_dict(checkpoint["model_state_dict"])
    state.epoch, state.step = int(checkpoint["epoch"]), saved["step"]
    _carry_optimizer_and_schedule(state, parent, config, checkpoint["optimizer_state_dict"], saved["scheduler"])
    _restore_generators(state, saved["rng"])
    if fork:
        return state, None
    state.tracker = BestTracker(**{**saved["tracker"], "min_delta": config.min_delta})
    return state, EpochEnded(**saved["best"]) if saved["best"] else None


def _same(parent: RunConfig, config: RunConfig, fields: tuple[str, ...]) -> bool:
    return all(getattr(parent, name) == getattr(config, name) for name in fields)


def _same_schedule(parent: RunConfig, config: RunConfig) -> bool:
    """Whether the parent's schedule state fits the config: per-batch ones also span the planned epochs."""
    same_length = parent.epochs == config.epochs or config.scheduler not in PER_BATCH_SCHEDULERS
    return _same(parent, config, SCHEDULE_FIELDS) and same_length


def _carry_optimizer_and_schedule(state: TrainingState, parent: RunConfig, config: RunConfig,
                                  optimizer_state: dict, scheduler_state: dict | None) -> None:
    if _same(parent, config, OPTIMIZER_FIELDS) and _same_schedule(parent, config):
        state.optimizer.load_state_dict(optimizer_state)
        if state.scheduler is not None:
            state.scheduler.load_state_dict(scheduler_state)
        return
    if parent.optimizer == config.optimizer:
        # the buffers (momentum, Adam's moments) go on; lr and the rest come from the new settings
        fresh_groups = state.optimizer.state_dict()["param_groups"]
        state.optimizer.load_state_dict({**optimizer_state, "param_groups": fresh_groups})
    _move_schedule(config, state)


def _move_schedule(config: RunConfig, state: TrainingState) -> None:
    """Step a fresh schedule to where a run planned with this config would have it after state.epoch."""
    if state.scheduler is None or config.scheduler == "plateau":  # plateau's state is its history
        return
    steps = state.epoch * state.steps_per_epoch if config.scheduler in PER_BATCH_SCHEDULERS else state.epoch
    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": on purpose here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps):  # about 7 us a step: 0.6 s for 100 epochs of 860 batches
            state.scheduler.step()


def _restore_generators(state: TrainingState, rng: Mapping[str, Any]) -> None:
    torch.set_rng_state(rng["torch"].cpu())  # generator states are CPU byte tensors, wherever they were loaded
    state.order.set_state(rng["order"].cpu())
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
