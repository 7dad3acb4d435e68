"""A run's last good checkpoint, and the test set's verdict on it for a run whose worker did not give one.

A worker tests its run's best weights itself when the run ends (core.runs.trial). A run whose worker
died (interrupted) has nobody left to do that: the process that notices the death starts
`python -m core worker --evaluate RUN_ID` (core.runs.supervisor), which runs `evaluate_ended_run`. It also
writes the summary such a run never got, from the metrics it stored.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.runs.records import Metric, Run, RunSummary
from core.runs.run_file import write_outcome
from core.runs.store import RunStore
from core.status import RunStatus
from core.training.checkpoints import load_model
from core.training.data import DEFAULT_DATA_DIR
from core.training.datasets import load_datasets
from core.training.evaluation import evaluate


@dataclass(frozen=True)
class Checkpoint:
    """A file of weights worth using: the best epoch's, or those a run stopped with."""
    which: str  # 'best', 'last' (stopped mid-epoch) or 'epoch' (the latest epoch's file)
    path: Path

    def describe(self, run: Run) -> str:
        """'best checkpoint, epoch 3' or 'last checkpoint, stopped at epoch 2'."""
        if self.which == "best" and run.summary.best_epoch:
            return f"best checkpoint, epoch {run.summary.best_epoch}"
        if self.which == "last":
            return f"last checkpoint, stopped at epoch {run.summary.epochs_completed + 1}"
        return f"{self.which} checkpoint"


def last_good_checkpoint(store: RunStore, run_id: str) -> Checkpoint | None:
    """The best epoch's weights; else those of a run stopped before its first epoch ended; else the
    latest epoch's. A diverged run's weights after the divergence are never kept, so none is bad."""
    for which in ("best", "last"):
        path = store.checkpoint_path(run_id, which)
        if path.exists():
            return Checkpoint(which, path)
    epochs = store.epoch_checkpoints(run_id)
    return Checkpoint("epoch", epochs[-1]) if epochs else None


def lost_checkpoints(store: RunStore, run: Run) -> str | None:
    """Why a run that completed an epoch has no checkpoint left (its folder or files deleted outside the
    app), or None: the pages and commands say this, not that it ended before its first epoch."""
    if run.is_active or (run.summary.epochs_completed == 0 and run.summary.best_epoch is None):
        return None
    folder = store.run_dir(run.id)
    if not folder.is_dir():
        return f"its folder {folder} is missing (deleted outside the app), and its checkpoints with it"
    if last_good_checkpoint(store, run.id) is None:
        return f"its checkpoints were deleted from {folder}"
    return None


def summary_from_metrics(run: Run, metrics: Sequence[Metric], best: int | None = None) -> RunSummary:
    """What a run reached, from its stored points: for a run that ended without writing a summary.
    best: the best checkpoint's epoch, where there is one."""
    val = {m.epoch: m.value for m in metrics if (m.split, m.name) == ("val", "accuracy") and m.value is not None}
    val_loss = {m.epoch: m.value for m in metrics if (m.split, m.name) == ("val", "loss")}
    epochs = [m.epoch for m in metrics if (m.split, m.name) == ("train", "epoch_loss")]
    return RunSummary(end_reason=run.status, epochs_completed=max(epochs, default=0),
                      steps=max((m.step for m in metrics), default=0), best_epoch=best,
                      best_val_accuracy=val.get(best), best_val_loss=val_loss.get(best))


def evaluate_ended_run(store: RunStore, run_id: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> bool:
    """Test an ended run's last good checkpoint if it has not been tested; False if there was nothing to do."""
    run = store.get_run(run_id)
    if run.is_active or run.summary.test_accuracy is not None:
        return False
    metrics, _ = store.read_metrics(run_id)
    found = last_good_checkpoint(store, run_id)
    model, config, payload = load_model(found.path) if found else (None, None, {})
    best = int(payload["epoch"]) if found and found.which == "best" else None
    summary = summary_from_metrics(run, metrics, best) if run.summary.end_reason is None else run.summary
    if found is None:
        store.set_summary(run_id, summary)
        return False
    result = evaluate(model, load_datasets(config, data_dir, store.tables_dir).test)
    epoch = int(payload["epoch"]) if found.which != "last" else summary.epochs_completed + 1
    step = max((m.step for m in metrics), default=0)
    store.set_evaluation(run_id, result)
    now = time.time()
    store.add_metrics(run_id, [Metric(step, epoch, "test", "loss", result.loss, now),
                               Metric(step, epoch, "test", "accuracy", result.accuracy, now)])
    tested = RunSummary(**{**summary.to_dict(), "test_loss": result.loss, "test_accuracy": result.accuracy,
                           "tested_checkpoint": "last" if found.which == "last" else "best", "tested_epoch": epoch})
    store.set_summary(run_id, tested)
    write_outcome(store.run_dir(run_id), {"status": run.status, "message": run.message,  # for a rebuilt index
                                          "summary": tested.to_dict(), "evaluation": result.to_dict()})
    return True


def describe_test(run: Run) -> str:
    """Which weights the test figures are of, or why there are none: the pages and the CLI say this."""
    summary = run.summary
    if summary.test_accuracy is not None:
        if summary.tested_checkpoint == "last":
            return f"last checkpoint, stopped at epoch {summary.tested_epoch}"
        return f"best checkpoint, epoch {summary.tested_epoch or summary.best_epoch}"
    if run.is_active:
        return "not evaluated yet: the test set is used when the run ends"
    if summary.end_reason is None and run.status == RunStatus.INTERRUPTED:
        return "not evaluated yet: its last good checkpoint is being tested"
    if summary.epochs_completed == 0:
        return f"not evaluated: {run.status.label} before the first epoch"
    return f"not evaluated: the run {run.status.label}"
