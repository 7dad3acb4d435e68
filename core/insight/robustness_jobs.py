"""Robustness curves kept with their run: computed once per checkpoint, in a process of their own.

A run's curves live in its folder as robustness.json, beside the checkpoint they were measured on
(named with its checksum, so a new best.pt asks for new curves). While a process computes them it
keeps robustness.progress.json there (its pid, steps done of all); pages poll that file. A computation
that fails leaves robustness.error.json, its reason for that checkpoint, for the page to show.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.insight.robustness import STEPS, SUBSET_NOTE, Robustness, robustness_curves, subset
from core.runs import launcher
from core.runs.final_test import lost_checkpoints
from core.runs.records import Run
from core.runs.store import RunStore
from core.training.checkpoints import CheckpointError, load_model
from core.training.data import DEFAULT_DATA_DIR, DataError, build_datasets, load_arrays

CURVES_FILE = "robustness.json"
PROGRESS_FILE = "robustness.progress.json"
ERROR_FILE = "robustness.error.json"


@dataclass(frozen=True)
class JobProgress:
    done: int
    total: int
    pid: int
    started_at: float
    alive: bool  # the computing process still exists; a dead one left its progress file behind


def checkpoint_id(path: Path) -> str:
    """'best.pt md5:<first 12 hex digits>': which version of a checkpoint the curves belong to."""
    return f"{path.name} md5:{hashlib.md5(path.read_bytes()).hexdigest()[:12]}"


def _write_json(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(data, file)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stored_curves(store: RunStore, run_id: str) -> Robustness | None:
    """The run's curves if they were measured on its current best checkpoint, else None."""
    path, best = store.run_dir(run_id) / CURVES_FILE, store.checkpoint_path(run_id, "best")
    try:
        curves = Robustness.from_dict(json.loads(path.read_text()))
        return curves if curves.checkpoint == checkpoint_id(best) else None
    except (OSError, ValueError, TypeError, KeyError):  # none yet, or written by another version
        return None


def unmeasurable(store: RunStore, run: Run) -> str | None:
    """Why the run's curves cannot be measured, or None when they can."""
    if run.config.csv is not None:
        return "trained on a table, and robustness perturbs images"
    if run.is_active:
        return "still training: measured on the best checkpoint once the run ends"
    if not store.checkpoint_path(run.id, "best").exists():
        return lost_checkpoints(store, run) or "no best checkpoint: the run ended before its first epoch"
    return None


def stored_error(store: RunStore, run_id: str) -> str | None:
    """Why the last computation of the run's curves failed, if it was on its current best checkpoint."""
    try:
        data = json.loads((store.run_dir(run_id) / ERROR_FILE).read_text())
        return data["error"] if data["checkpoint"] == checkpoint_id(store.checkpoint_path(run_id, "best")) else None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def progress(store: RunStore, run_id: str) -> JobProgress | None:
    """How far a computation of the run's curves has come, if one was started and has not finished."""
    try:
        data = json.loads((store.run_dir(run_id) / PROGRESS_FILE).read_text())
        return JobProgress(data["done"], data["total"], data["pid"], data["started_at"],
                           _alive(data["pid"], data["started_at"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _alive(pid: int, started_at: float) -> bool:
    return launcher.still_running(pid, started_at, "robustness")


def compute(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR,
            on_step: Callable[[int, int], None] | None = None) -> Robustness:
    """Measure the run's curves on its best checkpoint and keep them in its folder."""
    folder, best = store.run_dir(run_id), store.checkpoint_path(run_id, "best")
    started, pid = time.time(), os.getpid()

    def step(done: int, total: int) -> None:
        _write_json(folder / PROGRESS_FILE, {"done": done, "total": total, "pid": pid, "started_at": started})
        if on_step is not None:
            on_step(done, total)

    checkpoint = checkpoint_id(best)
    try:
        step(0, STEPS)
        model, config, _ = load_model(best)
        if config.csv is not None:
            raise ValueError("robustness perturbs images; this run trained on a table")
        test = subset(build_datasets(load_arrays(config.dataset, data_dir), 0, config.seed).test)
        curves = robustness_curves(model, test, step)
        result = Robustness(curves, len(test), SUBSET_NOTE, checkpoint, time.time() - started)
        _write_json(folder / CURVES_FILE, result.to_dict())
        (folder / ERROR_FILE).unlink(missing_ok=True)
    except Exception as err:
        ours = isinstance(err, (ValueError, CheckpointError, DataError))  # messages that say what is wrong
        _write_json(folder / ERROR_FILE, {"checkpoint": checkpoint,
                                          "error": str(err) if ours else f"{type(err).__name__}: {err}"})
        raise
    finally:  # a failed computation leaves no progress behind: the page offers to compute again
        (folder / PROGRESS_FILE).unlink(missing_ok=True)
    return result


def launch(store: RunStore, run_ids: list[str], data_dir: Path | str = DEFAULT_DATA_DIR) -> int:
    """Start a detached process that computes the runs' curves one after another; returns its pid."""
    pid = launcher.spawn(["robustness", *run_ids, "--runs", str(store.root), "--data-dir", str(data_dir), "--quiet"],
                         store.root / "robustness.log")
    # the page sees the job at once, before the process has imported torch
    for run_id in run_ids:
        _write_json(store.run_dir(run_id) / PROGRESS_FILE,
                    {"done": 0, "total": STEPS, "pid": pid, "started_at": time.time()})
    return pid
