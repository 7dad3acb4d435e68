"""A sweep's trials as the Sweeps page and the CLI show them: one row per trial, from the run store alone."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.runs.records import Run
from core.status import RunStatus
from core.sweeps.records import Sweep
from core.sweeps.space import Choice

# the trials whose best validation accuracy is a result: pruned ones too, at the epoch they reached
SCORED = (RunStatus.FINISHED, RunStatus.EARLY_STOPPED, RunStatus.PRUNED, RunStatus.DIVERGED)


@dataclass(frozen=True)
class TrialRow:
    number: int
    run: Run  # the latest attempt
    attempts: int
    params: dict[str, Any]  # the searched settings' values, as the run has them

    @property
    def objective(self) -> float | None:
        """Best validation accuracy, once the trial has a result."""
        if self.run.status not in SCORED:
            return None
        value = self.run.summary.best_val_accuracy
        return 0.0 if value is None and self.run.status == RunStatus.DIVERGED else value


def shown_value(value: Any) -> Any:
    """A setting as a table cell: layer sizes as '128, 64'."""
    return ", ".join(str(v) for v in value) if isinstance(value, tuple) else value


def trial_rows(sweep: Sweep, runs: list[Run]) -> list[TrialRow]:
    """One row per trial number, from its runs (oldest attempt first)."""
    attempts: dict[int, list[Run]] = {}
    for run in runs:
        attempts.setdefault(run.trial_number, []).append(run)
    names = list(sweep.plan.space.search)
    return [TrialRow(number, tried[-1], len(tried), {name: getattr(tried[-1].config, name) for name in names})
            for number, tried in sorted(attempts.items())]


def best_so_far(rows: list[TrialRow]) -> list[tuple[int, float]]:
    """(trial number, the best objective up to it) for each scored trial, in trial order."""
    out: list[tuple[int, float]] = []
    for row in rows:
        if row.objective is not None:
            out.append((row.number, max(row.objective, out[-1][1]) if out else row.objective))
    return out


BEST = "best: trial #"  # how a finished sweep's message begins


def trials_started(runs: list[Run]) -> int:
    """How many trials a sweep has started: they are numbered as they start, so one deleted since still counts."""
    return max((run.trial_number + 1 for run in runs if run.trial_number is not None), default=0)


def activity(rows: list[TrialRow]) -> str:
    """How many trials train now and how many wait for a worker: "1 running, 1 waiting" (a trial the driver has
    just queued was counted running a moment before its row said queued)."""
    running = sum(1 for row in rows if row.run.status == RunStatus.RUNNING)
    waiting = sum(1 for row in rows if row.run.status == RunStatus.QUEUED)
    return f"{running} running" + (f", {waiting} waiting" if waiting else "")


def describe_best(number: int, value: float) -> str:
    """A finished sweep's message: its best trial."""
    return f"{BEST}{number}, validation accuracy {value:.2%}"


def best_row(rows: list[TrialRow]) -> TrialRow | None:
    """The trial with the best result; a diverged one never (alone, its 0% was named the best)."""
    scored = [row for row in rows if row.objective is not None and row.run.status != RunStatus.DIVERGED]
    return max(scored, key=lambda row: (row.objective, -row.number)) if scored else None


def is_categorical(sweep: Sweep, name: str) -> bool:
    """A setting drawn from a list of choices (shown as categories), not from a range."""
    return isinstance(sweep.plan.space.search[name], Choice)


def is_log(sweep: Sweep, name: str) -> bool:
    param = sweep.plan.space.search[name]
    return not isinstance(param, Choice) and param.log
