"""How far a run is and how long it has left: one definition for the pages and the CLI."""
from __future__ import annotations

from dataclasses import dataclass

from core.config import RunConfig, epoch_steps, planned_steps, training_images
from core.runs.records import Run
from core.status import RunStatus

# an ETA from less than this much training is mostly the first batches' warm-up: say "estimating"
MIN_ETA_SECONDS = 3.0


@dataclass(frozen=True)
class StepTime:
    """A step and the wall time (seconds since the epoch) it was reached at."""
    step: int
    time: float


def eta_seconds(first: StepTime | None, last: StepTime | None, total_steps: int) -> float | None:
    """Seconds left at the pace seen since the first step; None until MIN_ETA_SECONDS of it."""
    if first is None or last is None or last.step <= first.step:
        return None
    elapsed = last.time - first.time
    if elapsed < MIN_ETA_SECONDS:
        return None
    per_step = elapsed / (last.step - first.step)
    return max(total_steps - last.step, 0) * per_step


@dataclass(frozen=True)
class Progress:
    status: RunStatus
    step: int
    total_steps: int
    epoch: int
    epochs: int
    samples_per_s: float | None
    eta_s: float | None  # None while estimating, or once the run has ended

    @property
    def fraction(self) -> float:
        if self.status.completed:
            return 1.0
        return min(self.step / self.total_steps, 1.0) if self.total_steps else 0.0


def progress(config: RunConfig, status: RunStatus, first: StepTime | None, last: StepTime | None,
             epoch: int, samples_per_s: float | None) -> Progress:
    """A run's progress from the first and the latest step seen."""
    total = planned_steps(config)
    eta = eta_seconds(first, last, total) if status == RunStatus.RUNNING else None
    if eta is not None:  # the speed the ETA is reckoned at: the batches' own rate leaves out what the loop
        # does between groups (recording, validation), and read 4x the pace its ETA took on a busy machine
        per_step = training_images(config) / epoch_steps(config)  # an epoch's last batch may be short
        samples_per_s = (last.step - first.step) * per_step / (last.time - first.time)
    return Progress(status, last.step if last else 0, total, max(epoch, 1), config.epochs, samples_per_s, eta)


def format_seconds(seconds: float | None) -> str:
    """'1h 02m', '3m 05s' or '12.3s'; an empty string for None."""
    if seconds is None:
        return ""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"


def describe(progress: Progress) -> str:
    """'epoch 2/5 - step 1,720/4,300 - 41,000 samples/s - ETA 1m 05s' for a running run."""
    rate = f"{progress.samples_per_s:,.0f} samples/s" if progress.samples_per_s else "- samples/s"
    eta = format_seconds(progress.eta_s) or "estimating"
    return (f"epoch {progress.epoch}/{progress.epochs} - step {progress.step:,}/{progress.total_steps:,} - "
            f"{rate} - ETA {eta}")


def status_line(run: Run, shown: Progress) -> str:
    """The line under a run's progress bar: where it is, or how it ended, for the pages and the CLI."""
    if run.status == RunStatus.QUEUED:
        return "waiting in the queue"
    if run.status == RunStatus.RUNNING:
        return describe(shown)
    if run.started_at is None:  # cancelled while queued
        return f"{run.status.label} before it started"
    return f"{run.status.label} after {format_seconds(run.duration)} - {shown.step:,} steps"
