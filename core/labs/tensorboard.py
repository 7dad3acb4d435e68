"""TensorBoard event files of runs: exported from the store, or written live beside the recorder.

Every metric row becomes one scalar under the tag '<split>/<name>' (train/loss, val/accuracy,
test/accuracy, ...) at its step and wall time. Scalars are TensorBoard's standard float32 ones:
its fast data server skips double-precision scalars (tried with tensorboard 2.21), so the files hold
each stored value rounded to float32. The hyperparameters go to the HParams tab with the final results, and the
test confusion matrix to the Images tab. One folder per run, so `tensorboard --logdir DIR` lists them.
"""
from __future__ import annotations

import io
import re
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

from core.config import class_names
from core.labs.confusion_image import confusion_image
from core.runs.recorder import evaluation_metrics, event_metrics
from core.runs.records import Metric, Run
from core.runs.store import RunStore
from core.runs.trial import Evaluated, TrialItem
from core.training.events import BatchEnded, EpochEnded

CONFUSION_TAG = "test/confusion_matrix"
FLUSH_SECS = 2  # live events reach the files (and TensorBoard's next reload) within this


def _writer(folder: Path):
    from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when writing

    return SummaryWriter(log_dir=str(folder), flush_secs=FLUSH_SECS)


def run_folder(run: Run) -> str:
    """A run's folder name: its name made safe for a path, then its id (unique)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", run.name).strip("._")[:60]
    return f"{slug}_{run.id}" if slug else run.id


def write_metrics(writer, metrics: Iterable[Metric]) -> None:
    """Each metric row as a scalar at its step and wall time."""
    for metric in metrics:
        if metric.value is not None:  # a non-finite value is stored as NULL
            writer.add_scalar(f"{metric.split}/{metric.name}", metric.value, metric.step, walltime=metric.wall_time)


def write_confusion(writer, run: Run, step: int) -> None:
    if run.evaluation is not None:
        image = confusion_image(run.evaluation.confusion, class_names(run.config))
        writer.add_image(CONFUSION_TAG, image, step, dataformats="HWC")


def hparam_values(run: Run) -> dict[str, float | int | str | bool]:
    """The run's settings as TensorBoard hyperparameters (lists and tables as text)."""
    values = {}
    for key, value in run.config.to_dict().items():
        if key == "csv":
            if value is not None:
                values.update(csv_file=value["name"], csv_target=value["target"],
                              csv_features=", ".join(value["features"]))
        elif isinstance(value, (bool, int, float, str)):
            values[key] = value
        else:
            values[key] = "" if value is None else str(value)
    return values


def final_metrics(run: Run) -> dict[str, float]:
    """What the HParams tab compares runs by: the final results the run has."""
    summary = run.summary
    found = {"test_accuracy": summary.test_accuracy, "test_loss": summary.test_loss,
             "best_val_accuracy": summary.best_val_accuracy, "best_val_loss": summary.best_val_loss,
             "epochs_completed": float(summary.epochs_completed)}
    return {f"hparams/{name}": value for name, value in found.items() if value is not None}


def write_hparams(writer, run: Run) -> None:
    """The settings and final results in the run's own folder, so HParams links them to its curves."""
    from torch.utils.tensorboard.summary import hparams

    metrics = final_metrics(run)
    experiment, start, end = hparams(hparam_values(run), metrics)
    for summary in (experiment, start, end):
        writer.file_writer.add_summary(summary)
    step = run.summary.steps
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, step)


def export_run(store: RunStore, run: Run, out: Path) -> Path:
    """Write one run's event file under out, in place of any an earlier export left there; returns its folder."""
    folder = Path(out) / run_folder(run)
    for earlier in folder.glob("events.out.tfevents.*"):  # else TensorBoard draws each curve once per file
        earlier.unlink()
    metrics = store.read_metrics(run.id)[0]
    with _writer(folder) as writer:
        write_metrics(writer, metrics)
        write_confusion(writer, run, max((m.step for m in metrics), default=0))
        if not run.is_active:
            write_hparams(writer, run)
    return folder


def export_runs(store: RunStore, run_ids: Iterable[str], out: Path | str) -> list[Path]:
    """Each run's folder of events under out (runs still training: what they have so far)."""
    return [export_run(store, store.get_run(run_id), Path(out)) for run_id in run_ids]


def export_zip(store: RunStore, run_ids: Iterable[str]) -> bytes:
    """The runs' folders of events in one zip file, for a download."""
    with tempfile.TemporaryDirectory() as folder:
        export_runs(store, run_ids, folder)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder))
        return buffer.getvalue()


class LiveTensorBoard:
    """Writes a run's events as its trial yields them; a consumer beside the Recorder, like a progress bar."""

    def __init__(self, out: Path | str, run: Run):
        self.writer = _writer(Path(out) / run_folder(run))
        self.folder = Path(self.writer.log_dir)

    def record(self, item: TrialItem) -> None:
        now = time.time()
        if isinstance(item, (BatchEnded, EpochEnded)):
            write_metrics(self.writer, event_metrics(item, now))
        elif isinstance(item, Evaluated):
            write_metrics(self.writer, evaluation_metrics(item, now))

    def close(self, run: Run) -> None:
        """The ended run's confusion matrix and hyperparameters, then the files closed."""
        write_confusion(self.writer, run, run.summary.steps)
        write_hparams(self.writer, run)
        self.writer.close()
