"""Optimizers and learning-rate schedules from a RunConfig."""
from __future__ import annotations

import importlib
import threading

import torch
from torch import nn
from torch.optim import lr_scheduler

from core.config import RunConfig
from core.training.adam import Adam

# Schedules stepped after every batch; the others step once an epoch.
PER_BATCH_SCHEDULERS = ("cosine", "onecycle")
# torch.optim's update without torch.optim's import of torch._dynamo (core.training.adam)
LEAN_OPTIMIZERS = ("adam", "adamw")


def preload_optimizer_imports(config: RunConfig) -> threading.Thread | None:
    """For an optimizer from torch.optim, start importing torch._dynamo in a thread, to overlap data loading.

    torch.optim's optimizers import it when built or first stepped: 1.1-1.6 s of a 2-core CPU, which
    reading and normalizing MNIST (zlib, hashlib and torch let go of the GIL) leaves half idle. The
    main thread's own import of it then waits for this one, or finds it done. Adam and AdamW are
    core.training.adam's, which never import it.
    """
    if config.optimizer in LEAN_OPTIMIZERS:
        return None
    thread = threading.Thread(target=importlib.import_module, args=("torch._dynamo",), name="preload torch._dynamo")
    thread.start()
    return thread


def build_optimizer(config: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    wd = config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=wd)
    if config.optimizer == "adam":
        return Adam(params, lr=config.lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return Adam(params, lr=config.lr, weight_decay=wd, decoupled_weight_decay=True)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=wd)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def build_scheduler(config: RunConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """The config's schedule, or None; per-batch ones span the whole run."""
    total_steps = max(1, config.epochs * steps_per_epoch)
    if config.scheduler == "none":
        return None
    if config.scheduler == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.plateau_factor,
                                              patience=config.plateau_patience)
    if config.scheduler == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if config.scheduler == "onecycle":
        return lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    raise ValueError(f"unknown scheduler {config.scheduler!r}")


def step_scheduler_after_epoch(config: RunConfig, scheduler, val_loss: float | None) -> None:
    if scheduler is None or config.scheduler in PER_BATCH_SCHEDULERS:
        return
    if config.scheduler == "plateau":
        scheduler.step(val_loss)
    else:
        scheduler.step()
