"""Rebuild the index (runs.db) from the run folders, when it is missing, damaged or lacks some of them (and
its sweeps from their files in sweeps/).

Each folder gives back what it holds: its run.json (name, tags, notes, settings), its checkpoints
(per-epoch validation results, the best epoch) and what its run could not store when the store
failed under it. A damaged runs.db is moved aside, never deleted, and whatever of it still reads
(rows of runs, their metrics) is taken over first.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import RunConfig, steps_per_epoch, training_images
from core.runs.records import Metric, RunSummary
from core.runs.run_file import OUTCOME, RUN_FILE, SWEEPS_FOLDER, read_json, read_unsaved_metrics, sweep_files
from core.runs.store import RunStore
from core.runs.store_errors import StoreDamaged
from core.status import RunStatus
from core.training.checkpoints import CheckpointError, load_checkpoint


@dataclass(frozen=True)
class RebuildReport:
    restored: tuple[str, ...]  # run ids put back in the index
    skipped: tuple[tuple[str, str], ...]  # (folder or file name, why)
    moved_aside: Path | None  # where the damaged runs.db went
    sweeps: tuple[str, ...] = ()  # sweep ids put back
    folderless: tuple[str, ...] = ()  # runs in the index whose folder is gone

    def describe(self) -> str:
        lines = [f"restored {len(self.restored)} run(s) to the index"]
        if self.sweeps:
            lines.append(f"restored {len(self.sweeps)} sweep(s)")
        if self.folderless:
            lines.append(f"{len(self.folderless)} run(s) in the index have no folder (deleted outside the app), so "
                         f"no checkpoints: {', '.join(self.folderless)}; delete them if they are not wanted")
        if self.moved_aside:
            lines.append(f"the damaged runs.db was kept as {self.moved_aside}")
        lines += [f"skipped {name}: {why}" for name, why in self.skipped]
        return "\n".join(lines)


def rebuild_index(root: Path | str) -> RebuildReport:
    """Put every run folder that the index lacks back into it; a damaged runs.db is moved aside first."""
    root = Path(root).resolve()
    moved = None
    try:
        store = RunStore(root, allow_unindexed=True)
    except StoreDamaged:
        moved = _move_aside(root)
        store = RunStore(root, allow_unindexed=True)
    restored, skipped = _restore_runs(store, _OldIndex(moved))
    sweeps = []
    for path in sweep_files(root):
        outcome = _restore_sweep(store, path)
        if outcome is True:
            sweeps.append(path.stem)
        elif outcome:
            skipped.append((f"{SWEEPS_FOLDER}/{path.name}", outcome))
    folderless = tuple(sorted(run_id for run_id in store.run_ids() if not store.run_dir(run_id).is_dir()))
    return RebuildReport(tuple(restored), tuple(skipped), moved, tuple(sweeps), folderless)


def _restore_runs(store: RunStore, old: _OldIndex) -> tuple[list[str], list[tuple[str, str]]]:
    """Each run folder the index lacks put back: the ones restored, and the ones skipped with why."""
    restored, skipped = [], []
    for folder in store.unindexed_folders():
        reason = _restore(store, folder, old)
        if reason is None:
            restored.append(folder.name)
        else:
            skipped.append((folder.name, reason))
    return restored, skipped


def _restore_sweep(store: RunStore, path: Path) -> bool | str:
    """Put a sweep back from its file: True, False if the index has it, or why it could not be read.

    A sweep that was running or queued is interrupted now (its driver is not there to go on): resumable."""
    row = read_json(path)
    if not isinstance(row, dict) or row.get("id") != path.stem:
        return "not a sweep's file (unreadable, or another sweep's id in it)"
    if row.get("status") not in _FINAL:
        # it ended at its file's last change at the latest: the time since is not the sweep's
        row = {**row, "status": RunStatus.INTERRUPTED, "ended_at": row.get("ended_at") or path.stat().st_mtime,
               "message": "its driver was gone when the index was rebuilt; resume it to go on"}
    try:
        return store.restore_sweep(row)
    except sqlite3.Error as err:
        return f"its row does not fit the sweeps table ({err})"


def _move_aside(root: Path) -> Path | None:
    """runs.db and its WAL files renamed to runs.db.broken-<time>; None if there was no runs.db."""
    db = root / "runs.db"
    if not db.exists():
        return None
    aside = root / f"runs.db.broken-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in ("-wal", "-shm", ""):  # the database last: its WAL must travel with it
        path = root / f"runs.db{suffix}"
        if path.exists():
            path.rename(root / f"{aside.name}{suffix}")
    return aside


class _OldIndex:
    """Whatever a moved-aside runs.db still holds, read leniently: rows by run id, and their metrics."""

    def __init__(self, path: Path | None):
        self.path, self.rows = path, {}
        if path is not None and path.is_file():
            with contextlib.suppress(sqlite3.Error), self._connect() as db:
                self.rows = {row["id"]: dict(row) for row in db.execute("SELECT * FROM runs")}

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        db.row_factory = sqlite3.Row
        return db

    def metrics(self, run_id: str) -> list[Metric]:
        if self.path is None or not self.path.is_file():
            return []
        with contextlib.suppress(sqlite3.Error), self._connect() as db:
            return [Metric(*row) for row in db.execute(
                "SELECT step, epoch, split, name, value, wall_time FROM metrics WHERE run_id=? ORDER BY id", (run_id,))]
        return []


def _restore(store: RunStore, folder: Path, old: _OldIndex) -> str | None:
    """Index one run folder; returns why not, or None once it is back."""
    identity = read_json(folder / RUN_FILE) or {}
    old_row = old.rows.get(folder.name, {})
    checkpoints = _checkpoints(folder)
    config_data = identity.get("config") or _loads(old_row.get("config")) or _newest_config(checkpoints)
    if not isinstance(config_data, dict):
        return (f"{'an unreadable' if (folder / RUN_FILE).exists() else 'no'} run.json, no readable checkpoint and no "
                "row in the old runs.db to say what it was")
    config, _ = RunConfig.from_stored(config_data)
    outcome = read_json(folder / OUTCOME) or {}
    row = _row(folder.name, identity, old_row, outcome, config_data)
    # a summary made from checkpoints says how it ended: untested, it is not "being tested" for ever
    row["summary"] = json.dumps(outcome.get("summary") or _loads(old_row.get("summary"))
                                or {**_summary(config, checkpoints).to_dict(), "end_reason": row["status"]})
    unsaved = read_unsaved_metrics(folder)
    metrics = old.metrics(folder.name) or _epoch_metrics(config, checkpoints, unsaved)
    store.restore_run(row, metrics + unsaved)
    return None


def _row(run_id: str, identity: dict, old_row: dict, outcome: dict, config_data: dict) -> dict[str, Any]:
    final = outcome.get("status") or (old_row.get("status") if old_row.get("status") in _FINAL else None)
    message = outcome.get("message") or (old_row.get("message") if final else None) or (
        "recovered from its run folder when the index was rebuilt; metrics not in the old runs.db were lost, "
        "per-epoch results come from its checkpoints")
    evaluation = outcome.get("evaluation")
    kept = ("started_at", "environment", "evaluation", "trained_before_s")
    return {**{key: old_row[key] for key in kept if old_row.get(key)},
            **{key: _first_given(identity.get(key), old_row.get(key))
               for key in ("parent_id", "parent_epoch", "sweep_id", "trial_number")},
            "id": run_id,
            "name": identity.get("name") or old_row.get("name") or f"{config_data.get('model')}-{run_id[-6:]}",
            "config": json.dumps(config_data, sort_keys=True), "status": final or RunStatus.INTERRUPTED,
            "created_at": identity.get("created_at") or old_row.get("created_at") or _created_at(run_id),
            "tags": json.dumps(identity.get("tags") or _loads(old_row.get("tags")) or []),
            "notes": identity.get("notes") or old_row.get("notes") or "", "message": message,
            **({"evaluation": json.dumps(evaluation)} if evaluation else {}),
            "ended_at": old_row.get("ended_at") or time.time()}


_FINAL = {status.value for status in RunStatus if status.is_final}


def _first_given(*values: Any) -> Any:
    """The first value that is not None: trial number 0 and epoch 0 are given values."""
    return next((value for value in values if value is not None), None)


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _created_at(run_id: str) -> float:
    """From the id's leading date and time (YYYYmmdd-HHMMSS-...), else now."""
    try:
        return time.mktime(time.strptime(run_id[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        return time.time()


def _checkpoints(folder: Path) -> dict[str | int, dict]:
    """The readable checkpoints by epoch number, plus 'best'; damaged ones are left out."""
    found: dict[str | int, dict] = {}
    for path in sorted(folder.glob("epoch_*.pt")) + [folder / "best.pt", folder / "last.pt"]:
        with contextlib.suppress(CheckpointError, ValueError):
            data = {**load_checkpoint(path), "saved_at": path.stat().st_mtime}
            found[path.stem if path.stem in ("best", "last") else int(path.stem.split("_")[1])] = data
    return found


def _newest_config(checkpoints: dict[str | int, dict]) -> dict | None:
    epochs = sorted(key for key in checkpoints if isinstance(key, int))
    newest = checkpoints.get(epochs[-1]) if epochs else checkpoints.get("best") or checkpoints.get("last")
    return newest["config"] if newest else None


def _summary(config: RunConfig, checkpoints: dict[str | int, dict]) -> RunSummary:
    epochs = [key for key in checkpoints if isinstance(key, int)]
    best = checkpoints.get("best")
    validated = config.val_size > 0
    return RunSummary(epochs_completed=max(epochs, default=0),
                      steps=max(epochs, default=0) * _steps_per_epoch(config),
                      best_epoch=best["epoch"] if best else None,
                      best_val_accuracy=float(best["accuracy"]) if best and validated else None,
                      best_val_loss=float(best["loss"]) if best and validated else None)


def _steps_per_epoch(config: RunConfig) -> int:
    try:
        return steps_per_epoch(training_images(config), config.batch_size)
    except (TypeError, ValueError, KeyError, ZeroDivisionError):  # settings that no longer validate
        return 0


def _epoch_metrics(config: RunConfig, checkpoints: dict[str | int, dict], unsaved: list[Metric]) -> list[Metric]:
    """Each epoch checkpoint's monitored loss and accuracy: validation, or training ones without a validation set."""
    split, names = ("val", ("loss", "accuracy")) if config.val_size > 0 else ("train", ("epoch_loss", "epoch_accuracy"))
    have = {(m.epoch, m.split, m.name) for m in unsaved}
    rows = []
    for epoch in sorted(key for key in checkpoints if isinstance(key, int)):
        data = checkpoints[epoch]
        for name, key in zip(names, ("loss", "accuracy")):
            if (epoch, split, name) not in have and isinstance(data.get(key), (int, float)):
                rows.append(Metric(epoch * _steps_per_epoch(config), epoch, split, name, float(data[key]),
                                   data["saved_at"]))
    return rows
