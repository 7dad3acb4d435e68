"""Beside the store: turns a trial's items into metric rows, checkpoint files, a summary and a status."""
from __future__ import annotations

import time

from core.runs.records import EpochValidation, Metric, RunSummary
from core.runs.store import RunStore
from core.runs.trial import CheckpointReady, Evaluated, Restored, Started, TrialItem
from core.training.checkpoints import write_atomically
from core.training.events import BatchEnded, EpochEnded, Event, RunEnded, Validated

FLUSH_INTERVAL_S = 0.5


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (a full disk, say)."""


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


def evaluation_metrics(item: Evaluated, now: float) -> list[Metric]:
    """The test set's rows, at the step and epoch of the weights it judged."""
    result = item.evaluation
    return [Metric(item.step, item.epoch, "test", "loss", result.loss, now),
            Metric(item.step, item.epoch, "test", "accuracy", result.accuracy, now)]


class Recorder:
    """Records one run: metrics flushed at most every FLUSH_INTERVAL_S, checkpoints as they come.

    `stop` turns true once someone asked the run to stop; it is read at each flush.
    """

    def __init__(self, store: RunStore, run_id: str):
        self.store, self.run_id = store, run_id
        self.buffer: list[Metric] = []
        self.last_flush = time.monotonic()
        self.stop = False
        self.best: EpochEnded | None = None
        self.evaluated: Evaluated | None = None

    def record(self, item: TrialItem) -> None:
        if isinstance(item, (BatchEnded, EpochEnded)):
            self._metrics(item)
        elif isinstance(item, CheckpointReady):
            self._checkpoint(item)
        elif isinstance(item, Started):
            self.store.set_environment(self.run_id, item.environment)
        elif isinstance(item, Restored):
            self.best = item.best
        elif isinstance(item, Validated):
            self.store.add_validation(self.run_id, EpochValidation(item.epoch, [list(row) for row in item.confusion],
                                                                   item.predictions))
        elif isinstance(item, Evaluated):
            self._evaluation(item)
        elif isinstance(item, RunEnded):
            self._end(item)

    def flush(self) -> None:
        self.store.add_metrics(self.run_id, self.buffer)
        self.buffer = []
        self.last_flush = time.monotonic()
        self.stop = self.stop or self.store.stop_requested(self.run_id)

    def _metrics(self, event: BatchEnded | EpochEnded) -> None:
        self.buffer += event_metrics(event, time.time())
        if isinstance(event, EpochEnded):
            self.best = event if event.is_best else self.best
            self.flush()  # an epoch's rows land before its checkpoint
        elif time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def _checkpoint(self, item: CheckpointReady) -> None:
        path = self.store.checkpoint_path(self.run_id, item.which)
        try:
            write_atomically(path, item.payload)
        except OSError as err:
            raise CheckpointWriteError(f"could not write checkpoint {path.name}: {err}; "
                                       "the previous checkpoint is intact") from err

    def _evaluation(self, item: Evaluated) -> None:
        self.flush()
        self.evaluated = item
        result = item.evaluation
        self.store.set_evaluation(self.run_id, result)
        self.store.add_metrics(self.run_id, evaluation_metrics(item, time.time()))

    def _end(self, end: RunEnded) -> None:
        self.flush()
        self.store.set_summary(self.run_id, self.summary(end))
        self.store.finish(self.run_id, end.reason, end.message)

    def summary(self, end: RunEnded) -> RunSummary:
        best, tested = self.best, self.evaluated
        return RunSummary(
            end_reason=end.reason, epochs_completed=end.epochs_completed, steps=end.step,
            best_epoch=best.epoch if best else None, best_val_accuracy=best.val_accuracy if best else None,
            best_val_loss=best.val_loss if best else None,
            test_loss=tested.evaluation.loss if tested else None,
            test_accuracy=tested.evaluation.accuracy if tested else None)
