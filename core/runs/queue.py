"""The order in which active runs train, and which run a live view follows."""
from __future__ import annotations

from collections.abc import Iterable

from core.runs.records import Run
from core.status import RunStatus


def queue_order(runs: Iterable[Run]) -> list[Run]:
    """The active runs in the order they train; ended runs are left out."""
    active = [run for run in runs if run.is_active]
    return sorted(active, key=lambda run: (run.status != RunStatus.RUNNING, run.created_at, run.id))


def current_run(runs: Iterable[Run]) -> Run | None:
    """The run a live view follows: the running one, else the next queued one, else the last to end."""
    runs = list(runs)
    active = queue_order(runs)
    if active:
        return active[0]
    # runs stored before ended_at was kept count as ending when they were created
    return max(runs, key=lambda run: (run.ended_at or run.created_at, run.created_at), default=None)
def first_waiting(runs: Iterable[Run]) -> str | None:
    """The id of the queued run the queue takes next; a sweep's trials are its driver's to start."""
    waiting = [run for run in queue_order(runs) if run.status == RunStatus.QUEUED and not run.stop_requested
               and run.sweep_id is None]
    return waiting[0].id if waiting else None
