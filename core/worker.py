"""The worker: consumes the training generator, writes metrics and checkpoints, sets the status."""
from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from core.checkpoints import save_checkpoint
from core.config import RunConfig
from core.data import DEFAULT_DATA_DIR, build_datasets, load_arrays
from core.devices import resolve_device
from core.evaluation import evaluate
from core.models import count_parameters
from core.store import Metric, RunStore
from core.training import BatchEnded, EpochEnded, Event, RunEnded, TrainingState, prepare, train

FLUSH_INTERVAL_S = 0.5
HEARTBEAT_INTERVAL_S = 1.0
END_STATUS = {"finished": "finished", "early_stopped": "finished", "diverged": "diverged",
              "stopped": "stopped"}
REPO_ROOT = Path(__file__).resolve().parent.parent


def event_metrics(event: Event, now: float) -> list[Metric]:
    """The metric rows an event becomes."""
    if isinstance(event, BatchEnded):
        return [Metric(event.step, event.epoch, "train", name, value, now) for name, value in
                (("loss", event.loss), ("accuracy", event.accuracy), ("lr", event.lr),
                 ("samples_per_s", event.samples_per_s))]
    if isinstance(event, EpochEnded):
        rows = [Metric(event.step, event.epoch, "train", "epoch_loss", event.train_loss, now),
                Metric(event.step, event.epoch, "train", "epoch_accuracy", event.train_accuracy, now),
                Metric(event.step, event.epoch, "train", "epoch_seconds", event.seconds, now)]
        if event.val_loss is not None:
            rows += [Metric(event.step, event.epoch, "val", "loss", event.val_loss, now),
                     Metric(event.step, event.epoch, "val", "accuracy", event.val_accuracy, now)]
        return rows
    return []


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


class _RunRecorder:
    """Buffers metrics, flushes them at most every FLUSH_INTERVAL_S, and saves checkpoints."""

    def __init__(self, store: RunStore, run_id: str, config: RunConfig, state: TrainingState):
        self.store, self.run_id, self.config, self.state = store, run_id, config, state
        self.buffer: list[Metric] = []
        self.last_flush = time.monotonic()
        self.stop = False
        self.best: tuple[EpochEnded, dict] | None = None
        self.last_batch: BatchEnded | None = None

    def record(self, event: Event) -> None:
        self.buffer += event_metrics(event, time.time())
        if isinstance(event, BatchEnded):
            self.last_batch = event
        if isinstance(event, EpochEnded):
            self.flush()
            self.save_epoch(event)
        elif time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        self.store.add_metrics(self.run_id, self.buffer)
        self.buffer = []
        self.last_flush = time.monotonic()
        self.stop = self.stop or self.store.stop_requested(self.run_id)

    def save_epoch(self, event: EpochEnded) -> None:
        loss = event.val_loss if event.val_loss is not None else event.train_loss
        accuracy = event.val_accuracy if event.val_accuracy is not None else event.train_accuracy
        self.save(self.store.checkpoint_path(self.run_id, event.epoch), event.epoch, loss, accuracy)
        if event.is_best:
            self.save(self.store.checkpoint_path(self.run_id, "best"), event.epoch, loss, accuracy)
            self.best = (event, copy.deepcopy(self.state.model.state_dict()))

    def save(self, path: Path, epoch: int, loss: float, accuracy: float) -> None:
        try:
            save_checkpoint(path, self.state.model, self.state.optimizer, self.config, epoch, loss, accuracy)
        except OSError as err:
            raise CheckpointWriteError(f"could not write checkpoint {path.name}: {err}; "
                                       "the previous checkpoint is intact") from err


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (a full disk, say)."""


def environment(config: RunConfig, device: torch.device, state: TrainingState) -> dict:
    return {"torch": torch.__version__, "device": str(device), "seed": config.seed,
            "parameters": count_parameters(state.model), "threads": torch.get_num_threads(),
            "python": sys.version.split()[0], "pid": os.getpid()}


def execute_run(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR,
                on_event: Callable[[Event], None] | None = None) -> str:
    """Run one queued run to its end in this process; returns its final status."""
    config = store.get_run(run_id).run_config
    if not store.claim(run_id, os.getpid(), {}):
        return store.get_run(run_id).status
    heartbeat = _Heartbeat(store, run_id)
    heartbeat.start()
    try:
        with store.held_open():
            return _train_and_record(store, run_id, config, data_dir, on_event)
    except Exception as err:
        with contextlib.suppress(OSError):  # a full disk fails the log too; the status must still be set
            (store.run_dir(run_id) / "error.log").write_text(traceback.format_exc())
        store.finish(run_id, "failed", f"{type(err).__name__}: {err}")
        return "failed"
    finally:
        heartbeat.done.set()


def _train_and_record(store: RunStore, run_id: str, config: RunConfig, data_dir: Path | str,
                      on_event: Callable[[Event], None] | None) -> str:
    device = resolve_device(config.device)
    datasets = build_datasets(load_arrays(config.dataset, data_dir), config.val_size, config.seed,
                              config.train_samples, device)
    state = prepare(config, datasets, device)
    store.set_environment(run_id, environment(config, device, state))
    recorder = _RunRecorder(store, run_id, config, state)
    sync_every = 1 if device.type == "cpu" else 50
    end = RunEnded("stopped", 0, 0, "stopped on request")
    for event in train(config, datasets, state, should_stop=lambda: recorder.stop, sync_every=sync_every):
        if on_event is not None:
            on_event(event)
        if isinstance(event, RunEnded):
            end = event
            break
        recorder.record(event)
    recorder.flush()
    if end.reason == "stopped" and recorder.last_batch is not None:
        # mid-epoch weights are kept too, apart from the per-epoch and best checkpoints
        last = recorder.last_batch
        recorder.save(store.checkpoint_path(run_id, "last"), end.epochs_completed, last.loss, last.accuracy)
    _finish(store, run_id, config, datasets, state, recorder, end)
    return END_STATUS[end.reason]


def _finish(store: RunStore, run_id: str, config: RunConfig, datasets, state: TrainingState,
            recorder: _RunRecorder, end: RunEnded) -> None:
    """Evaluate the best weights on the test set and record the summary and final status."""
    summary = {"end_reason": end.reason, "epochs_completed": end.epochs_completed, "steps": end.step}
    if recorder.best is not None:
        best_event, best_state = recorder.best
        state.model.load_state_dict(best_state)
        result = evaluate(state.model, datasets.test)
        store.set_evaluation(run_id, result.to_dict())
        store.add_metrics(run_id, [Metric(end.step, best_event.epoch, "test", "loss", result.loss, time.time()),
                                   Metric(end.step, best_event.epoch, "test", "accuracy", result.accuracy,
                                          time.time())])
        summary.update(best_epoch=best_event.epoch, best_val_accuracy=best_event.val_accuracy,
                       best_val_loss=best_event.val_loss, test_loss=result.loss,
                       test_accuracy=result.accuracy)
    store.set_summary(run_id, summary)
    store.finish(run_id, END_STATUS[end.reason], end.message)


def drain_queue(store: RunStore, data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
    """Run queued runs one after another; one process at a time holds the queue."""
    with open(store.root / "queue.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        while (run_id := store.next_queued()) is not None:
            execute_run(store, run_id, data_dir)


def launch(store: RunStore, config: RunConfig, name: str = "", tags: tuple[str, ...] = (),
           data_dir: Path | str = DEFAULT_DATA_DIR) -> str:
    """Queue a run and start a detached worker process for it; returns the run id."""
    run_id = store.create_run(config, name=name, tags=tags)
    log = open(store.root / "worker.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "worker", "--runs", str(store.root), "--data-dir", str(data_dir)],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True)  # its own session: a rerun or restart of the app does not kill it
    log.close()
    store.assign_worker(run_id, process.pid)
    return run_id

