"""Beside the store: turns a trial's items into metric rows, checkpoint files, a summary and a status."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.runs.records import BatchRow, EpochValidation, Metric, RunSummary, batch_row_metrics
from core.runs.run_file import append_unsaved_metrics, write_outcome
from core.runs.store import RunNotFound, RunNotRunning, RunStore
from core.runs.store_errors import StoreBusy, StoreError
from core.runs.trial import CheckpointReady, DrawnStyleTested, Evaluated, Restored, Started, TrialItem
from core.status import RunStatus
from core.training.checkpoints import write_atomically
from core.training.events import BatchEnded, EpochEnded, Event, RunEnded, Validated

FLUSH_INTERVAL_S = 0.5
T = TypeVar("T")


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (a full disk, say)."""


def event_metrics(event: Event, now: float) -> list[Metric]:
    """The metric rows an event becomes."""
    if isinstance(event, BatchEnded):
        return batch_metrics(event, now)
    if isinstance(event, EpochEnded):
        rows = [Metric(event.step, event.epoch, "train", "epoch_loss", event.train_loss, now),
                Metric(event.step, event.epoch, "train", "epoch_accuracy", event.train_accuracy, now),
                Metric(event.step, event.epoch, "train", "epoch_seconds", event.seconds, now)]
        if event.val_loss is not None:
            rows += [Metric(event.step, event.epoch, "val", "loss", event.val_loss, now),
                     Metric(event.step, event.epoch, "val", "accuracy", event.val_accuracy, now)]
        return rows
    return []


def batch_metrics(event: BatchEnded, now: float) -> list[Metric]:
    """A batch's four rows."""
    return batch_row_metrics(batch_row(event, now))


def batch_row(event: BatchEnded, now: float) -> BatchRow:
    """What a recorder buffers of a batch: its fields are a BatchRow's, in order, and the time comes last."""
    return event + (now,)


def evaluation_metrics(item: Evaluated, now: float) -> list[Metric]:
    """The test set's rows, at the step and epoch of the weights it judged."""
    result = item.evaluation
    return [Metric(item.step, item.epoch, "test", "loss", result.loss, now),
            Metric(item.step, item.epoch, "test", "accuracy", result.accuracy, now)]


class Recorder:
    """Records one run: metrics flushed at most every FLUSH_INTERVAL_S, checkpoints as they come.

    Batches wait in `batches`, one BatchRow each; other rows in `buffer`, behind them. `stop` turns
    true once someone asked the run to stop; it is read at each flush. A store whose
    write lock another process holds only delays the rows (they wait in the buffer). A store that
    fails otherwise (runs.db deleted or damaged) stops the run: what it could not store goes to the
    run's folder, where rebuilding the index finds it. A run ended or deleted elsewhere raises
    RunNotRunning from the next flush, and nothing more is written for it.
    """

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.batches: list[BatchRow] = []
        self.buffer: list[Metric] = []
        self.last_flush = time.monotonic()
        self.stop = False
        self.best: EpochEnded | None = None
        self.evaluated: Evaluated | None = None
        self.drawn_accuracy: float | None = None
        self.store_failure: StoreError | None = None  # once set, records go to the run folder

    def record(self, item: TrialItem) -> None:
        if isinstance(item, BatchEnded):  # nearly every item: the shortest way through
            if self.buffer:  # other rows wait for a busy store: the batch queues behind them, in order
                self.buffer += batch_metrics(item, time.time())
            else:
                self.batches.append(batch_row(item, time.time()))  # 0.1 us, against 1.4 us for its four rows
            if time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
                self.flush()
        elif isinstance(item, EpochEnded):
            self._epoch(item)
        elif isinstance(item, CheckpointReady):
            self._checkpoint(item)
        elif isinstance(item, Started):
            self._to_store(lambda: self.store.set_environment(self.run_id, item.environment))
        elif isinstance(item, Restored):
            self.best = item.best
        elif isinstance(item, Validated):
            validation = EpochValidation(item.epoch, [list(row) for row in item.confusion], item.predictions)
            self._to_store(lambda: self.store.add_validation(self.run_id, validation))
        elif isinstance(item, Evaluated):
            self._evaluation(item)
        elif isinstance(item, DrawnStyleTested):
            self.drawn_accuracy = item.accuracy
        elif isinstance(item, RunEnded):
            self._end(item)

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if self.store_failure is not None:
            unsaved = [row for batch in self.batches for row in batch_row_metrics(batch)] + self.buffer
            append_unsaved_metrics(self.store.run_dir(self.run_id), unsaved)
            self.batches, self.buffer = [], []
            return
        try:
            stop_requested = self.store.record_metrics(self.run_id, self.buffer, self.batches)
            self.batches, self.buffer = [], []
            self.stop = self.stop or stop_requested
        except StoreBusy:
            pass  # the rows wait in the buffer for the next flush
        except StoreError as err:
            self._store_failed(err)

    def _store_failed(self, err: StoreError) -> None:
        """Stop the run and keep the rest in its folder: the store cannot take it."""
        folder = self.store.run_dir(self.run_id)
        print(f"run {self.run_id}: the run store failed ({err}); the run stops, and what it could not "
              f"store is kept in {folder} for rebuilding the index", file=sys.stderr, flush=True)
        self.store_failure, self.stop = err, True
        self.flush()

    def _to_store(self, write: Callable[[], T]) -> T | None:
        """A write that must land: waited for while another process holds the lock, None once the store failed."""
        while self.store_failure is None:
            try:
                return write()
            except StoreBusy:
                continue  # each attempt already waited the store's busy timeout
            except StoreError as err:
                self._store_failed(err)
        return None

    def _epoch(self, event: EpochEnded) -> None:
        self.buffer += event_metrics(event, time.time())
        self.best = event if event.is_best else self.best
        self.flush()  # an epoch's rows land before its checkpoint
        # what the run has reached so far, for the tables (Runs, Sweeps, `runs`): they read 0 epochs until its end
        best = self.best
        so_far = RunSummary(epochs_completed=event.epoch, steps=event.step, best_epoch=best.epoch if best else None,
                            best_val_accuracy=best.val_accuracy if best else None,
                            best_val_loss=best.val_loss if best else None)
        self._to_store(lambda: self.store.set_summary(self.run_id, so_far))

    def _checkpoint(self, item: CheckpointReady) -> None:
        self.flush()  # raises RunNotRunning for a run ended or deleted meanwhile
        path = self.store.checkpoint_path(self.run_id, item.which)
        if not path.parent.is_dir():  # not made again
            raise self._folder_gone(path)
        try:
            write_atomically(path, item.payload)
        except OSError as err:
            raise CheckpointWriteError(f"could not write checkpoint {path.name}: {err}; "
                                       "the previous checkpoint is intact") from err

    def _folder_gone(self, path: Path) -> Exception:
        """RunNotRunning for a run ended or deleted meanwhile (while this worker was frozen, say); for one the store
        has running still, its folder was deleted outside the app: the run fails, saying so."""
        try:
            running = self.store.get_run(self.run_id).status == RunStatus.RUNNING
        except RunNotFound:
            running = False
        if not running:
            return RunNotRunning(self.run_id)
        return CheckpointWriteError(f"could not write checkpoint {path.name}: the run's folder {path.parent} was "
                                    "deleted while it trained")

    def _evaluation(self, item: Evaluated) -> None:
        self.flush()
        self.evaluated = item
        result = item.evaluation
        self._to_store(lambda: self.store.set_evaluation(self.run_id, result))
        self.buffer += evaluation_metrics(item, time.time())
        self.flush()

    def _end(self, end: RunEnded) -> None:
        self.flush()
        while (self.batches or self.buffer) and self.store_failure is None:  # rows a busy store held back
            self.flush()
        summary = self.summary(end)
        if self._to_store(lambda: self.store.finish(self.run_id, end.reason, end.message, summary)) is False:
            return  # ended elsewhere meanwhile: that end stands
        self._keep_outcome(end, summary)

    def _keep_outcome(self, end: RunEnded, summary: RunSummary) -> None:
        """How the run ended, in its folder too: what rebuilding the index restores."""
        message = end.message
        if self.store_failure is not None:
            failure = f"the run store failed during the run ({self.store_failure})"
            message = (f"{failure}, so it stopped early; recovered from its run folder" if end.reason == "stopped"
                       else f"{end.message + '; ' if end.message else ''}{failure}; recovered from its run folder")
        write_outcome(self.store.run_dir(self.run_id), {
            "status": end.reason, "message": message, "summary": summary.to_dict(),
            "evaluation": self.evaluated.evaluation.to_dict() if self.evaluated else None})

    def summary(self, end: RunEnded) -> RunSummary:
        best, tested = self.best, self.evaluated
        return RunSummary(
            end_reason=end.reason, epochs_completed=end.epochs_completed, steps=end.step,
            best_epoch=best.epoch if best else None, best_val_accuracy=best.val_accuracy if best else None,
            best_val_loss=best.val_loss if best else None,
            test_loss=tested.evaluation.loss if tested else None,
            test_accuracy=tested.evaluation.accuracy if tested else None, drawn_accuracy=self.drawn_accuracy,
            tested_checkpoint=tested.checkpoint if tested else None, tested_epoch=tested.epoch if tested else None)
