"""A copy of each run's identity in its own folder (run.json), so the index can be rebuilt without runs.db
(and of each sweep's row, in sweeps/<id>.json).

runs.db is the truth; this copy is written on a best-effort basis when a run is created or edited,
and how it ended (outcome.json) when it ends. A run whose store became unusable while it trained
keeps the metrics it could not store (unsaved-metrics.jsonl); rebuilding the index reads all three.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.runs.records import Metric

RUN_FILE = "run.json"
UNSAVED_METRICS = "unsaved-metrics.jsonl"
OUTCOME = "outcome.json"
SWEEPS_FOLDER = "sweeps"  # each sweep's Optuna journal and its row (<id>.json)
# a sweep's columns its file leaves out: its driver's process, which a rebuilt index has none of
SWEEP_PROCESS = ("pid", "heartbeat_at", "stop_requested")
IDENTITY = ("id", "name", "tags", "notes", "config", "created_at", "parent_id", "parent_epoch", "sweep_id",
            "trial_number")


def _write_json(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run_file(folder: Path, identity: dict[str, Any]) -> None:
    """Keep the run's id, name, tags, notes, config and creation time in its folder; never raises."""
    with contextlib.suppress(OSError):  # a recovery aid only: the store has it all
        _write_json(folder / RUN_FILE, {key: identity[key] for key in IDENTITY if key in identity})


def read_json(path: Path) -> Any:
    """A JSON file's contents, or None if it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_run_folder(folder: Path) -> bool:
    """A folder with something of a run to recover: its run.json or a checkpoint."""
    return folder.is_dir() and ((folder / RUN_FILE).is_file() or any(folder.glob("*.pt")))


def run_folders(root: Path) -> list[Path]:
    """The run folders under a runs folder, by name."""
    try:
        return sorted(path for path in root.iterdir() if is_run_folder(path))
    except OSError:
        return []


def append_unsaved_metrics(folder: Path, metrics: Iterable[Metric]) -> None:
    with open(folder / UNSAVED_METRICS, "a") as f:
        f.writelines(json.dumps(list(metric)) + "\n" for metric in metrics)


def read_unsaved_metrics(folder: Path) -> list[Metric]:
    """The metrics a run could not store, skipping a line cut short by a crash."""
    rows = []
    with contextlib.suppress(OSError), open(folder / UNSAVED_METRICS) as f:
        for line in f:
            with contextlib.suppress(ValueError, TypeError):
                rows.append(Metric(*json.loads(line)))
    return rows


def write_sweep_file(path: Path, row: dict[str, Any]) -> None:
    """A sweep's row beside its journal (sweeps/<id>.json), for a rebuilt index; never raises."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        _write_json(path, row)


def sweep_files(root: Path) -> list[Path]:
    """The sweep files under a runs folder, by name."""
    try:
        return sorted((root / SWEEPS_FOLDER).glob("sweep-*.json"))
    except OSError:
        return []


def write_outcome(folder: Path, outcome: dict[str, Any]) -> None:
    """How the run ended (status, message, summary, evaluation), kept in its folder; never raises."""
    with contextlib.suppress(OSError):
        _write_json(folder / OUTCOME, outcome)
