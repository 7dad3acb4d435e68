"""Runs that go on: resume one, fork one from an epoch, and where a queued run starts from.

A resumed run keeps its id; its metrics after the epoch it continues from are dropped and come
again, so no step is missing or doubled. A fork is a new run whose folder holds a copy of the
branch checkpoint (`origin.pt`), so it still starts, or starts again, if its parent is deleted.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.names import derived_name
from core.runs.final_test import lost_checkpoints
from core.runs.records import Run
from core.runs.store import RunActive, RunNotFound, RunStore
from core.runs.trial import Origin
from core.status import RunStatus
from core.training.checkpoints import CheckpointError, load_checkpoint
from core.training.models import build_model
from core.training.resume import check_fork, saved_state

ORIGIN_FILE = "origin.pt"


class CannotContinue(RuntimeError):
    """A run cannot be resumed or forked as asked; the message says why and what to do."""


def load_resumable(path: Path, config: RunConfig) -> dict[str, Any]:
    """An epoch checkpoint that can continue training with this config; CheckpointError naming the file."""
    checkpoint = load_checkpoint(path)
    saved_state(checkpoint, str(path))
    try:
        build_model(config).load_state_dict(checkpoint["model_state_dict"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(f"checkpoint {path} does not fit model {config.model!r}: {err}") from err
    return checkpoint


def origin_of(store: RunStore, run: Run) -> Origin | None:
    """Where a queued run starts: after its last epoch, at its fork's branch point, or afresh."""
    epoch = last_epoch(store, run.id)
    if epoch:
        checkpoint = load_resumable(store.checkpoint_path(run.id, epoch), run.config)
        best = checkpoint["training_state"]["best"]
        return Origin(checkpoint, _best_checkpoint(store, run, best["epoch"], checkpoint) if best else None)
    if run.parent_id is not None:
        return Origin(load_resumable(store.run_dir(run.id) / ORIGIN_FILE, run.config), fork=True)
    return None


def _best_checkpoint(store: RunStore, run: Run, epoch: int, latest: dict[str, Any]) -> dict[str, Any]:
    """The best epoch's checkpoint: the latest one, its epoch file, or best.pt if that is the same epoch."""
    if epoch == latest["epoch"]:
        return latest
    path = store.checkpoint_path(run.id, epoch)
    best = store.checkpoint_path(run.id, "best")
    if not path.exists() and best.exists() and load_checkpoint(best)["epoch"] == epoch:
        path = best
    return load_resumable(path, run.config)


def resume(store: RunStore, run_id: str, epochs: int | None = None) -> Run:
    """Queue an ended run to go on from its last epoch checkpoint, to its planned epochs or to a new total.

    Checks everything first: a refusal (RunActive, CannotContinue, ConfigError, CheckpointError
    naming the file) changes nothing.
    """
    run = store.get_run(run_id)
    _require_resumable(store, run)
    require_writable_folder(store, run)
    config = run.config if epochs is None else dataclasses.replace(run.config, epochs=epochs)
    origin = origin_of(store, dataclasses.replace(run, config=config))
    after = origin.checkpoint["epoch"] if origin else 0
    if after >= config.epochs:
        done = (f"{after} of its {config.epochs} epochs" if epochs is None  # --epochs 1 read "2 of its 1 epochs"
                else f"{after} epoch{'s' * (after != 1)} already, not fewer than the {epochs} asked for")
        raise CannotContinue(f"run {run.name!r} has trained {done}: ask for more epochs to continue it "
                             f"(for example {after + 1})")
    store.reopen(run_id, config, after)
    store.checkpoint_path(run_id, "last").unlink(missing_ok=True)  # mid-epoch weights the resume replaces
    return store.get_run(run_id)


def _require_resumable(store: RunStore, run: Run) -> None:
    """RunActive or CannotContinue where the run, whatever its folder holds, is not one to resume."""
    if run.is_active:
        raise RunActive(f"run {run.name!r} is {run.status.label}: stop it first")
    if run.config_error is not None:
        raise CannotContinue(f"run {run.name!r} cannot go on: {run.config_error}")
    if run.sweep_id is not None:
        raise CannotContinue(f"run {run.name!r} is trial #{run.trial_number} of sweep {run.sweep_id}, whose driver "
                             "runs its trials: resume the sweep, or fork this trial into a run of its own")
    if run.status == RunStatus.DIVERGED:
        instead = ("fork it from an earlier epoch with a lower lr instead" if checkpointed_epochs(store, run.id)
                   else "it diverged before its first epoch checkpoint, so train it again with a lower lr instead")
        raise CannotContinue(f"run {run.name!r} diverged: resumed, it would diverge again the same way; {instead}")


def require_writable_folder(store: RunStore, run: Run) -> None:
    """CannotContinue, before anything changes, where the run's checkpoints are gone or cannot be written."""
    lost = lost_checkpoints(store, run)
    if lost:
        raise CannotContinue(f"run {run.name!r} cannot go on: {lost}; fork or train it again instead")
    folder = store.run_dir(run.id)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise CannotContinue(f"run {run.name!r} cannot go on: its folder {folder} cannot be written "
                             f"({err.strerror or err})") from None


def last_epoch(store: RunStore, run_id: str) -> int:
    """The last epoch a run has ended, to go on after: the later of its metrics' and its checkpoints' (a
    rebuilt index has only the validation rows the checkpoints hold; read alone, they said none had ended)."""
    return max(store.completed_epochs(run_id), *checkpointed_epochs(store, run_id), 0)


def checkpointed_epochs(store: RunStore, run_id: str) -> list[int]:
    """The epochs of a run that have a checkpoint to fork from."""
    return [int(path.stem.removeprefix("epoch_")) for path in store.epoch_checkpoints(run_id)
            if path.stem.removeprefix("epoch_").isdigit()]


def fork(store: RunStore, run_id: str, epoch: int, changes: Mapping[str, Any], name: str = "",
         tags: Iterable[str] = ()) -> str:
    """Queue a new run that starts from a run's epoch checkpoint with some settings changed; returns its id."""
    parent = store.get_run(run_id)
    path = store.checkpoint_path(run_id, epoch)
    if not path.exists():
        lost = lost_checkpoints(store, parent)
        if lost:
            raise CannotContinue(f"run {parent.name!r} has nothing to fork from: {lost}")
        epochs = checkpointed_epochs(store, run_id)
        having = f"epochs with one: {', '.join(map(str, epochs))}" if epochs else "it has no epoch checkpoints yet"
        raise CannotContinue(f"run {parent.name!r} has no checkpoint for epoch {epoch}; {having}")
    config = RunConfig(**{**parent.config.to_dict(), **changes})
    check_fork(parent.config, config, epoch)
    load_resumable(path, config)
    child_id = store.unused_run_id()
    _copy_atomically(path, store.run_dir(child_id) / ORIGIN_FILE)
    try:
        return store.create_run(config, name or derived_name(parent.name, f"fork@{epoch}"), tags, parent_id=run_id,
                                parent_epoch=epoch, run_id=child_id)
    except BaseException:
        shutil.rmtree(store.run_dir(child_id), ignore_errors=True)
        raise


def _copy_atomically(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise


@dataclasses.dataclass(frozen=True)
class Lineage:
    parent: Run | None  # None for a run that is no fork, or whose parent was deleted
    children: list[Run]


def lineage(store: RunStore, run: Run, children: bool = True) -> Lineage:
    """A run's parent and (unless not asked for) the runs forked from it."""
    parent = None
    if run.parent_id is not None:
        try:
            parent = store.get_run(run.parent_id)
        except RunNotFound:
            pass
    return Lineage(parent, store.children(run.id) if children else [])
