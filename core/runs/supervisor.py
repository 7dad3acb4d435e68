"""Worker processes: launch them, let one at a time drain the queue, beat a heartbeat, tell the dead.

The recording itself is the Recorder's; what a run trains is the trial's. This module only decides
which process runs what, and notices when one is gone.
"""
from __future__ import annotations

import contextlib
import fcntl
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import psutil

from core.config import RunConfig
from core.runs.recorder import Recorder
from core.runs.records import Run
from core.runs.store import RunStore
from core.runs.trial import TrialInterrupted, TrialItem, TrialSource, run_trial
from core.status import RunStatus
from core.training.data import DEFAULT_DATA_DIR

HEARTBEAT_INTERVAL_S = 1.0
# a worker whose heartbeat is older than this is shown as not responding (it may be frozen or swapped out)
HEARTBEAT_TIMEOUT_S = 30.0
# listing runs checks their workers at most this often per process: a page polls every second
LIVENESS_INTERVAL_S = 5.0
REPO_ROOT = Path(__file__).resolve().parents[2]
_last_liveness_check: dict[Path, float] = {}


class _Heartbeat(threading.Thread):
    """Beats every second so readers can tell a live worker from a dead one."""

    def __init__(self, store: RunStore, run_id: str):
        super().__init__(daemon=True)
        self.store, self.run_id, self.done = store, run_id, threading.Event()

    def run(self) -> None:
        while not self.done.wait(HEARTBEAT_INTERVAL_S):
            try:
                self.store.heartbeat(self.run_id)
            except Exception:  # a busy database must not kill the run; the next beat retries
                pass


def execute_run(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR,
                on_item: Callable[[TrialItem], None] | None = None, source: TrialSource = run_trial) -> RunStatus:
    """Run one queued run to its end, recording it in this process; returns its final status.

    The trial itself runs here (run_trial) or wherever `source` runs it (a Ray task), streaming its items back.
    """
    run = store.get_run(run_id)
    if run.config_error is not None:
        store.finish(run_id, RunStatus.FAILED, f"cannot start: {run.config_error}")
        return RunStatus.FAILED
    if not store.claim(run_id, psutil.Process().pid):
        return store.get_run(run_id).status
    heartbeat = _Heartbeat(store, run_id)
    heartbeat.start()
    try:
        with store.held_open():
            _record_trial(store, run_id, run.config, data_dir, on_item, source)
    except TrialInterrupted as err:
        if store.mark_interrupted(run_id, str(err)):
            launch_evaluation(store, run_id, data_dir)  # its checkpoints are here; the trial's process is not
    except Exception as err:
        with contextlib.suppress(OSError):  # a full disk fails the log too; the status must still be set
            (store.run_dir(run_id) / "error.log").write_text(traceback.format_exc())
        store.finish(run_id, RunStatus.FAILED, f"{type(err).__name__}: {err}")
    finally:
        heartbeat.done.set()
    return store.get_run(run_id).status


def _record_trial(store: RunStore, run_id: str, config: RunConfig, data_dir: Path | str,
                  on_item: Callable[[TrialItem], None] | None, source: TrialSource) -> None:
    recorder = Recorder(store, run_id)
    for item in source(config, data_dir, should_stop=lambda: recorder.stop, tables_dir=store.tables_dir):
        if on_item is not None:
            on_item(item)
        recorder.record(item)


def drain_queue(store: RunStore, data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
    """Run queued runs one after another; one process at a time holds the queue."""
    with open(store.root / "queue.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        check_liveness(store, force=True, data_dir=data_dir)
        while (run_id := store.next_queued()) is not None:
            execute_run(store, run_id, data_dir)


def spawn(args: list[str], log_path: Path) -> subprocess.Popen:
    """Start `python -m core ARGS` detached, appending its output to log_path."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=REPO_ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                # its own session: a rerun or restart of the app does not kill it
                                start_new_session=True)


def launch(store: RunStore, config: RunConfig, name: str = "", tags: tuple[str, ...] = (),
           data_dir: Path | str = DEFAULT_DATA_DIR) -> str:
    """Queue a run and start a detached worker process for it; returns the run id."""
    run_id = store.create_run(config, name=name, tags=tags)
    process = spawn(["worker", "--runs", str(store.root), "--data-dir", str(data_dir)], store.root / "worker.log")
    store.assign_worker(run_id, process.pid)
    return run_id


def launch_run(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> subprocess.Popen:
    """Start a detached worker for this one queued run (a sweep's trial), outside the queue."""
    process = spawn(["worker", "--run", run_id, "--runs", str(store.root), "--data-dir", str(data_dir)],
                    store.root / "worker.log")
    store.assign_worker(run_id, process.pid)
    return process


def launch_evaluation(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
    """Test an interrupted run's last good checkpoint in a process of its own (its worker is gone)."""
    spawn(["worker", "--evaluate", run_id, "--runs", str(store.root), "--data-dir", str(data_dir)],
          store.root / "worker.log")


def worker_alive(run: Run) -> bool:
    """Whether the run's worker process still exists (and is not a zombie or a newer process with its pid)."""
    if not run.pid:
        return False
    try:
        process = psutil.Process(run.pid)
        # a pid reused by a process started after the worker was assigned is not the worker
        assigned = run.started_at or run.heartbeat_at or run.created_at
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= assigned + 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def not_responding(run: Run, now: float | None = None) -> bool:
    """A running run whose worker has not beaten for HEARTBEAT_TIMEOUT_S (frozen, or swapped out)."""
    if run.status != RunStatus.RUNNING or run.heartbeat_at is None:
        return False
    return (now or time.time()) - run.heartbeat_at > HEARTBEAT_TIMEOUT_S


def check_liveness(store: RunStore, force: bool = False, data_dir: Path | str = DEFAULT_DATA_DIR) -> list[str]:
    """Mark active runs whose worker process is gone as interrupted, and have their last good
    checkpoint tested; at most every LIVENESS_INTERVAL_S."""
    now = time.monotonic()
    if not force and now - _last_liveness_check.get(store.root, -LIVENESS_INTERVAL_S) < LIVENESS_INTERVAL_S:
        return []
    _last_liveness_check[store.root] = now
    dead = [run for run in store.active_runs() if run.pid and not worker_alive(run)]
    interrupted = [run.id for run in dead
                   if store.mark_interrupted(run.id, "the worker process ended without finishing the run")]
    for run in dead:
        if run.id in interrupted and run.status == RunStatus.RUNNING:  # a queued one has nothing to test
            launch_evaluation(store, run.id, data_dir)
    return interrupted


def list_runs(store: RunStore, evaluations: bool = True) -> list[Run]:
    """All runs, newest first, with dead workers' runs marked interrupted (checked at a bounded rate);
    evaluations=False: without their test evaluations (RunStore.list_runs)."""
    check_liveness(store)
    return store.list_runs(evaluations)
