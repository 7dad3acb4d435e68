"""Run states and end reasons: one type, stored as its plain string."""
from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is: waiting, training, or how it ended. A training generator ends with one too."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    EARLY_STOPPED = "early_stopped"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"  # a sweep stopped it early: its validation accuracy trailed the other trials'

    @property
    def is_active(self) -> bool:
        """Queued or running: the run may still write metrics."""
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def is_final(self) -> bool:
        return not self.is_active

    @property
    def completed(self) -> bool:
        """Trained to its plan: every epoch, or until early stopping said enough."""
        return self in (RunStatus.FINISHED, RunStatus.EARLY_STOPPED)

    @property
    def label(self) -> str:
        """How people read it: 'early stopped', not 'early_stopped'."""
        return self.value.replace("_", " ")


ACTIVE = tuple(status for status in RunStatus if status.is_active)
FINAL = tuple(status for status in RunStatus if status.is_final)
