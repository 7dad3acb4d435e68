"""Worker processes: launch them, let one run at a time train from the queue, beat a heartbeat, tell
the dead from the frozen, stop either.

The recording itself is the Recorder's; what a run trains is the trial's. This module only decides
which process runs what, and notices when one is gone or not responding.

The queue is kept in the store, not by a lock file: a worker claims the oldest queued run only
while no run is training (RunStore.claim_next), so a worker frozen while holding a lock cannot hold
up the queue. A run whose worker has not beaten for HEARTBEAT_TIMEOUT_S is shown as not responding
and no longer counts as training: the next queued run starts. If the frozen worker wakes, it goes
on with its own run (two train at once for a while); if its run was stopped or deleted meanwhile,
it leaves it without writing anything more.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import psutil

from core.config import RunConfig
from core.runs import continuation, launcher
from core.runs.recorder import Recorder
from core.runs.records import Run
from core.runs.run_file import write_outcome
from core.runs.store import RunNotFound, RunNotRunning, RunStore
from core.runs.store_errors import StoreBusy, StoreError
from core.runs.trial import Origin, TrialInterrupted, TrialItem, TrialSource, run_trial
from core.status import RunStatus
from core.training.data import DEFAULT_DATA_DIR

HEARTBEAT_INTERVAL_S = 1.0
# a worker whose heartbeat is older than this is shown as not responding (it may be frozen or swapped
# out), and the queue stops waiting for its run
HEARTBEAT_TIMEOUT_S = float(os.environ.get("MNIST_HEARTBEAT_TIMEOUT_S", "30"))
NOT_RESPONDING = "not responding"
# how often a waiting worker looks whether the queue is free
QUEUE_POLL_S = 1.0
# how long Stop waits for a signalled worker to end before it marks the run stopped anyway
STOP_GRACE_S = 5.0
# listing runs checks their workers at most this often per process: a page polls every second
LIVENESS_INTERVAL_S = 5.0
# workers train at a lower CPU priority than the app and the browser, so a page stays responsive
# while a run trains beside it; alone on the machine, a run trains as fast as at priority 0
WORKER_NICE = int(os.environ.get("MNIST_WORKER_NICE", "10"))
_last_liveness_check: dict[Path, float] = {}


class LaunchFailed(RuntimeError):
    """No worker process could be started; the run was marked failed with the reason."""


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
    if run.config_error is None and not store.claim(run_id, os.getpid()):
        return store.get_run(run_id).status
    return _run_claimed(store, run, data_dir, on_item, source)


def _run_claimed(store: RunStore, run: Run, data_dir: Path | str, on_item: Callable[[TrialItem], None] | None,
                 source: TrialSource = run_trial) -> RunStatus:
    if run.config_error is not None:
        store.finish(run.id, RunStatus.FAILED, f"cannot start: {run.config_error}")
        return RunStatus.FAILED
    heartbeat = _Heartbeat(store, run.id)
    heartbeat.start()
    try:
        origin = continuation.origin_of(store, run)
        with store.held_open():
            _record_trial(store, run.id, run.config, data_dir, on_item, source, origin)
    except TrialInterrupted as err:
        if store.mark_interrupted(run.id, str(err)):
            launch_evaluation(store, run.id, data_dir)  # its checkpoints are here; the trial's process is not
    except RunNotRunning:
        print(f"run {run.id} was ended or deleted elsewhere; this worker leaves it", file=sys.stderr, flush=True)
    except Exception as err:
        with contextlib.suppress(OSError):  # a full disk fails the log too; the status must still be set
            (store.run_dir(run.id) / "error.log").write_text(traceback.format_exc())
        message = f"{type(err).__name__}: {err}"
        if store.finish(run.id, RunStatus.FAILED, message) is not False:  # False: ended elsewhere, as it says
            write_outcome(store.run_dir(run.id), {"status": RunStatus.FAILED, "message": message})  # for a rebuild
    finally:
        heartbeat.done.set()
    return _status_now(store, run.id)


def _status_now(store: RunStore, run_id: str) -> RunStatus:
    try:
        return store.get_run(run_id).status
    except RunNotFound:  # deleted meanwhile
        return RunStatus.INTERRUPTED


def _record_trial(store: RunStore, run_id: str, config: RunConfig, data_dir: Path | str,
                  on_item: Callable[[TrialItem], None] | None, source: TrialSource, origin: Origin | None) -> None:
    recorder = Recorder(store, run_id)
    for item in source(config, data_dir, should_stop=lambda: recorder.stop, tables_dir=store.tables_dir,
                       origin=origin):
        if on_item is not None:
            on_item(item)
        recorder.record(item)


def drain_queue(store: RunStore, data_dir: Path | str = DEFAULT_DATA_DIR, poll_s: float = QUEUE_POLL_S) -> None:
    """Run queued runs one at a time until none is left; a run that cannot run fails alone.

    Waits while another run trains (see the module's docstring); a broken store (StoreError) ends
    the worker, since no run could be recorded.
    """
    while True:
        check_liveness(store, force=True, data_dir=data_dir)
        try:
            run_id = store.claim_next(os.getpid(), busy_within_s=HEARTBEAT_TIMEOUT_S)
        except StoreBusy:
            run_id = None
        if run_id is not None:
            _run_guarded(store, run_id, data_dir)
        elif store.next_queued() is None:
            return
        else:
            time.sleep(poll_s)


def _run_guarded(store: RunStore, run_id: str, data_dir: Path | str) -> None:
    """One claimed run; whatever goes wrong fails this run with the reason, and the queue goes on."""
    try:
        _run_claimed(store, store.get_run(run_id), data_dir, None)
    except StoreError:
        raise
    except Exception as err:
        traceback.print_exc()
        with contextlib.suppress(Exception):
            store.finish(run_id, RunStatus.FAILED, f"could not run: {type(err).__name__}: {err}")


def lower_priority(increment: int = WORKER_NICE) -> None:
    """Make this process (a worker) nicer by `increment`, where the system has nice levels."""
    if increment > 0 and hasattr(os, "nice"):
        os.nice(increment)


def launch(store: RunStore, config: RunConfig, name: str = "", tags: tuple[str, ...] = (),
           data_dir: Path | str = DEFAULT_DATA_DIR) -> str:
    """Queue a run and start a worker process for it; returns the run id.

    Either a worker starts, or the run is marked failed with the reason and LaunchFailed says it.
    """
    run_id = store.create_run(config, name=name, tags=tags)
    start_worker(store, [run_id], data_dir)
    return run_id


def start_worker(store: RunStore, run_ids: list[str], data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
    """Start one worker process for runs already queued (it drains the queue), noted on each.

    Either a worker starts, or the runs are marked failed with the reason and LaunchFailed says it.
    """
    try:
        pid = launcher.spawn(["worker", "--runs", str(store.root), "--data-dir", str(data_dir)],
                             store.root / "worker.log")
    except OSError as err:
        reason = f"no worker process could be started: {err}"
        failed = [run_id for run_id in run_ids if store.fail_queued(run_id, reason)]
        if failed:
            raise LaunchFailed(f"{reason}. The run is marked failed; check that {store.root} and its "
                               f"worker.log are writable, then start it again.") from err
        return  # a worker already draining the queue took the runs meanwhile
    for run_id in run_ids:
        store.assign_worker(run_id, pid)


def launch_run(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> int:
    """Start a detached worker for this one queued run (a sweep's trial), outside the queue; returns its pid."""
    pid = launcher.spawn(["worker", "--run", run_id, "--runs", str(store.root), "--data-dir", str(data_dir)],
                         store.root / "worker.log")
    store.assign_worker(run_id, pid)
    return pid


def launch_evaluation(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
    """Test an interrupted run's last good checkpoint in a process of its own (its worker is gone).

    Best effort: a process that cannot start (worker.log unwritable, say) leaves the run untested.
    """
    with contextlib.suppress(OSError):
        launcher.spawn(["worker", "--evaluate", run_id, "--runs", str(store.root), "--data-dir", str(data_dir)],
                       store.root / "worker.log")


def worker_alive(run: Run) -> bool:
    """Whether the run's worker process still exists (and is not a zombie or a newer process with its pid)."""
    # by the assignment's time, or by its command line where the clock stepped since (launcher.still_running)
    return bool(run.pid) and launcher.still_running(run.pid, run.started_at or run.heartbeat_at or run.created_at,
                                                    "worker")


def not_responding(run: Run, now: float | None = None) -> bool:
    """A running run whose worker has not beaten for HEARTBEAT_TIMEOUT_S (frozen, or swapped out)."""
    if run.status != RunStatus.RUNNING or run.heartbeat_at is None:
        return False
    return (now or time.time()) - run.heartbeat_at > HEARTBEAT_TIMEOUT_S


def status_label(run: Run, now: float | None = None) -> str:
    """How a page shows a run's state: its status, or 'not responding' for a silent running worker."""
    return NOT_RESPONDING if not_responding(run, now) else run.status.label


# what each of stop_run's answers means, as the pages and `python -m core stop` say it
STOP_OUTCOMES = {"requested": "Stop requested for {name}: it ends at its next flush and keeps its checkpoints.",
                 "cancelled": "Cancelled {name}: it had not started yet.",
                 "not active": "Nothing to stop: {name} had already ended.",
                 "signalled": "{name} was not responding: its worker was sent SIGTERM and the run is marked "
                              "stopped; the checkpoints it saved are kept."}


def stop_run(store: RunStore, run_id: str, grace_s: float = STOP_GRACE_S) -> str:
    """What the pages' Stop does: RunStore.request_stop, or for a worker that is not responding,
    'signalled': it is sent SIGTERM (and SIGCONT, so a suspended one acts on it) and the run marked stopped.
    """
    run = store.get_run(run_id)
    if not (not_responding(run) and worker_alive(run)):
        return store.request_stop(run_id)
    _end_process(run.pid, grace_s)
    store.finish(run_id, RunStatus.STOPPED, f"stopped on request while not responding: its worker "
                                            f"(pid {run.pid}) was sent SIGTERM")
    return "signalled"


def _end_process(pid: int, grace_s: float) -> None:
    """SIGTERM, then SIGCONT for a stopped process, then wait a little for it to end."""
    try:
        process = psutil.Process(pid)
        process.terminate()
        process.resume()
        process.wait(grace_s)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired, psutil.AccessDenied):
        pass  # gone already, still ending, or not ours to signal: the run is marked stopped all the same


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
