"""A sweep as readers of the run store get it: a typed record; its trials are the runs that carry its id."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from core.names import InvalidText, checked_name
from core.status import RunStatus
from core.sweeps.space import SearchSpace

STRATEGIES = ("grid", "random", "tpe")
PRUNERS = ("", "median", "hyperband")
EXECUTORS = ("local", "ray")
MAX_TRIALS = 10_000
MAX_PARALLEL = 256
MAX_GRID_POINTS = 100_000  # all of them listed up front by Optuna's GridSampler


class SweepSettingError(ValueError):
    """A sweep setting other than the space is out of range; the message names it."""


@dataclass(frozen=True)
class SweepPlan:
    """What a user asks for: the space, how to search it, how much, and where trials run."""
    space: SearchSpace
    strategy: str = "tpe"
    trials: int = 8
    parallel: int = 1
    pruner: str = ""  # '' (no pruning), 'median' or 'hyperband'
    executor: str = "local"
    ray_address: str = ""  # '' starts a Ray instance on this machine
    storage: str = ""  # an RDB URL for Optuna's study; '' keeps a journal file beside runs.db
    retries: int = 0  # new attempts for a trial whose worker died
    sampler_seed: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        _one_of("strategy", self.strategy, STRATEGIES)
        _one_of("prune", self.pruner, PRUNERS)
        _one_of("executor", self.executor, EXECUTORS)
        _whole("trials", self.trials, 1, MAX_TRIALS)
        _whole("parallel", self.parallel, 1, MAX_PARALLEL)
        _whole("retries", self.retries, 0, 5)
        try:  # as typed: trimmed, one line, not too long
            object.__setattr__(self, "name", checked_name(self.name, "name"))
        except InvalidText as err:
            raise SweepSettingError(str(err)) from err
        if self.sampler_seed is not None:
            _whole("seed", self.sampler_seed, 0, 2**32 - 1)  # numpy's seed range, which Optuna's samplers use
        if self.strategy == "grid":
            points = self.space.grid_size()  # a range without a step cannot be gridded: say so now
            if points > MAX_GRID_POINTS:  # Optuna's grid lists every point up front: 8e11 ran out of memory
                raise SweepSettingError(f"space: the grid has {points:,} points, more than the {MAX_GRID_POINTS:,} "
                                        "a grid search may list; give fewer values, or search with tpe or random")
            if self.trials > points:  # Optuna would end after the last point, short of the trials asked
                raise SweepSettingError(f"trials: the grid has {points} point{'s' * (points > 1)}; ask for at "
                                        f"most {points} trials (fewer try that many points, picked at random)")


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        shown = ", ".join(repr(a) if a else "'' (none)" for a in allowed)
        raise SweepSettingError(f"{name}: {value!r} is not one of {shown}")


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SweepSettingError(f"{name}: must be a whole number from {low} to {high}, got {value!r}")


@dataclass(frozen=True)
class Sweep:
    id: str
    name: str
    plan: SweepPlan
    status: RunStatus  # queued, running, then finished, stopped, failed or interrupted
    created_at: float
    started_at: float | None
    ended_at: float | None
    message: str
    pid: int | None
    heartbeat_at: float | None
    stop_requested: bool
    importance: dict[str, float] = field(default_factory=dict)  # parameter -> share, from Optuna
    ran_before_s: float = 0.0  # seconds it ran before the latest resume

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return self.ran_before_s + (self.ended_at or time.time()) - self.started_at
