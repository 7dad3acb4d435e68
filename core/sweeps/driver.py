"""The sweep driver: a process of its own that asks Optuna for settings, runs them as trials, reports each
epoch's validation accuracy for pruning, and tells Optuna how each trial ended.

The run store stays the truth for runs and metrics; Optuna's study (apart from runs.db) holds the
search. A trial's number is its Optuna trial number, so a resumed driver pairs them up again.
"""
from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import psutil
from optuna.trial import TrialState

from core.config import ConfigError, RunConfig
from core.names import derived_name
from core.runs import launcher
from core.runs.records import Run
from core.runs.store import RunStore
from core.runs.supervisor import check_liveness
from core.status import RunStatus
from core.sweeps.executors import Executor, LocalExecutor, RayExecutor
from core.sweeps.records import Sweep, SweepPlan
from core.sweeps.results import describe_best
from core.sweeps.space import SpaceError
from core.sweeps.store import SweepStore
from core.sweeps.study import distributions, importance, open_study, tell
from core.training.data import DEFAULT_DATA_DIR

POLL_S = 0.2
HEARTBEAT_S = 1.0
IMPORTANCE_EVERY_S = 5.0  # fANOVA takes a moment on hundreds of trials: not after every one


class SweepBusy(RuntimeError):
    """Another live process drives this sweep."""


@dataclass(frozen=True)
class TrialEnded:
    """What the driver learned about a trial: complete, pruned, failed, refused, retrying or unfinished."""
    number: int
    outcome: str
    value: float | None
    params: dict[str, Any]
    run: Run | None
    message: str = ""
    best_number: int | None = None
    best_value: float | None = None


@dataclass
class Active:
    """A trial in flight: its Optuna trial and the run of its current attempt."""
    trial: optuna.Trial
    run_id: str
    reported: int = 0  # epochs of this attempt read from the store so far
    pruned_at: int | None = None
    # the latest epoch Optuna holds for the trial: a new attempt or a resumed driver reads earlier ones
    # again, and they are neither told again (Optuna keeps the first) nor asked about (it judges its latest)
    last_step: int = 0


@dataclass
class Pending:
    """A trial waiting for a free slot: a new attempt after an interruption or a stopped sweep."""
    trial: optuna.Trial
    config: RunConfig
    attempt: int


@contextmanager
def driver_lock(sweeps: SweepStore, sweep: Sweep) -> Iterator[None]:
    """One driver per sweep: a lock file that the system lets go of when its holder dies."""
    path = sweeps.journal_path(sweep.id).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepBusy(f"sweep {sweep.name!r} is already being driven by process {sweep.pid}") from None
        yield


def check_not_driven(sweeps: SweepStore, sweep: Sweep) -> None:
    """SweepBusy now if another process drives the sweep, before the caller says anything of it (drive()
    takes the lock for good)."""
    with driver_lock(sweeps, sweep):
        pass


def make_executor(plan: SweepPlan, runs: RunStore, data_dir: Path | str) -> Executor:
    if plan.executor == "ray":
        return RayExecutor(runs, data_dir, plan.ray_address)
    return LocalExecutor(runs, data_dir)


def drive(runs: RunStore, sweep_id: str, data_dir: Path | str = DEFAULT_DATA_DIR,
          executor: Executor | None = None) -> Iterator[TrialEnded]:
    """Run (or resume) a sweep to its end in this process, yielding each trial's outcome."""
    sweeps = SweepStore(runs)
    sweep = sweeps.get(sweep_id)
    if not sweep.plan.space.search:
        raise SpaceError("space", sweep.message)  # stored by a version whose settings this one refuses
    with driver_lock(sweeps, sweep):
        sweeps.start(sweep_id, os.getpid())
        try:
            executor = executor or make_executor(sweep.plan, runs, data_dir)
        except Exception as err:
            sweeps.finish(sweep_id, RunStatus.FAILED, str(err))
            raise
        try:
            yield from SweepLoop(runs, sweeps, sweeps.get(sweep_id), executor).run()
        except Exception as err:
            sweeps.finish(sweep_id, RunStatus.FAILED, f"{type(err).__name__}: {err}")
            raise
        finally:
            executor.close()


@dataclass
class SweepLoop:
    runs: RunStore
    sweeps: SweepStore
    sweep: Sweep
    executor: Executor
    active: dict[int, Active] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    made: int = 0  # trials that count against the budget: given a run, or refused
    stopping: bool = False
    best: tuple[int, float] | None = None

    def run(self) -> Iterator[TrialEnded]:
        plan = self.sweep.plan
        journal = self.sweeps.journal_path(self.sweep.id)
        self.study = open_study(self.sweep.id, plan, journal)
        # a resumed driver's sampler draws anew: the same seed again would repeat the first trials
        if self.study.trials:
            self.study = open_study(self.sweep.id, plan, journal, seed_offset=len(self.study.trials))
        self.space = distributions(plan.space, grid=plan.strategy == "grid")
        self.budget = min(plan.trials, plan.space.grid_size()) if plan.strategy == "grid" else plan.trials
        yield from self.reconcile()
        beat = importance_at = time.monotonic()
        while True:
            self.executor.check()
            yield from self.poll()
            if not self.stopping and self.sweeps.stop_requested(self.sweep.id):
                self.stop_all()
            if not self.stopping:
                yield from self.fill()
            if not self.active and (self.stopping or (self.made >= self.budget and not self.pending)):
                break
            if time.monotonic() - beat >= HEARTBEAT_S:
                self.sweeps.heartbeat(self.sweep.id)
                beat = time.monotonic()
            if time.monotonic() - importance_at >= IMPORTANCE_EVERY_S:
                self.update_importance()
                importance_at = time.monotonic()
            time.sleep(POLL_S)
        self.update_importance()
        self.sweeps.finish(self.sweep.id, RunStatus.STOPPED if self.stopping else RunStatus.FINISHED,
                           self.summary())

    # --- starting trials -----------------------------------------------------------------
    def fill(self) -> Iterator[TrialEnded]:
        """Start trials until every slot is busy or the budget is spent; retries go first."""
        while len(self.active) < self.sweep.plan.parallel and (self.pending or self.made < self.budget):
            if self.pending:
                waiting = self.pending.pop(0)
                self.start(waiting.trial, waiting.config, waiting.attempt)
                continue
            trial = self.study.ask(self.space)
            try:
                config = self.sweep.plan.space.config(trial.params)
            except ConfigError as err:  # a combination the space's own checks could not rule out
                self.made += 1
                trial.set_user_attr("refused", str(err))
                tell(self.study, trial, state=TrialState.FAIL)
                yield TrialEnded(trial.number, "refused", None, trial.params, None, str(err), *self.best_pair())
                continue
            self.made += 1
            self.start(trial, config, 1)

    def start(self, trial: optuna.Trial, config: RunConfig, attempt: int) -> None:
        name = derived_name(self.sweep.name, f"#{trial.number}" + (f" (attempt {attempt})" if attempt > 1 else ""))
        run_id = self.runs.create_run(config, name=name, tags=("sweep",), sweep_id=self.sweep.id,
                                      trial_number=trial.number)
        self.executor.start(run_id)
        self.active[trial.number] = Active(trial, run_id, last_step=self.last_step(trial.number))

    def stop_all(self) -> None:
        """The sweep was asked to stop: stop the trials in flight, start no more."""
        self.stopping = True
        self.pending.clear()
        for active in self.active.values():
            self.runs.request_stop(active.run_id)

    # --- watching trials -----------------------------------------------------------------
    def poll(self) -> Iterator[TrialEnded]:
        for number, active in list(self.active.items()):
            run = self.runs.get_run(active.run_id)
            self.report(active, run)
            if not run.is_active:
                del self.active[number]
                yield from self.conclude(active, run)

    def report(self, active: Active, run: Run) -> None:
        """Tell Optuna each new epoch's validation accuracy, asking the pruner after each whether to go on.

        Asked epoch by epoch, not once at the last: a poll that finds many new epochs (a fast trial, a busy
        driver) still prunes at the first that trailed, where the others' epochs give it a median.
        """
        values = self.runs.epoch_values(active.run_id, "val", "accuracy")[active.reported:]
        active.reported += len(values)
        pruning = bool(self.sweep.plan.pruner) and run.status == RunStatus.RUNNING
        for epoch, value in values:
            if value is None or epoch <= active.last_step or active.pruned_at is not None:
                continue  # a pruned trial's score stays its pruned epoch's, as when an objective raises
            active.trial.report(value, epoch)
            active.last_step = epoch
            if pruning and active.trial.should_prune():
                self.prune(active, epoch)

    def last_step(self, number: int) -> int:
        """The latest epoch Optuna holds for a trial, 0 for none: what an earlier attempt reported."""
        frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)
        return max(frozen.intermediate_values, default=0)

    def prune(self, active: Active, epoch: int) -> None:
        active.pruned_at = epoch
        active.trial.set_user_attr("pruned_at", epoch)
        self.runs.request_stop(active.run_id)

    def conclude(self, active: Active, run: Run) -> Iterator[TrialEnded]:
        """A trial's run ended: tell Optuna, or try again, and say what happened."""
        trial, status = active.trial, run.status
        if status == RunStatus.STOPPED and active.pruned_at is not None:
            self.runs.relabel(run.id, RunStatus.STOPPED, RunStatus.PRUNED,
                              f"pruned after epoch {active.pruned_at}: its validation accuracy trailed "
                              "the other trials' at that epoch")
            tell(self.study, trial, state=TrialState.PRUNED)
            yield self.ended(trial, "pruned", None, run.id)
        elif status in (RunStatus.STOPPED, RunStatus.INTERRUPTED) and self.stopping:
            yield self.ended(trial, "unfinished", None, run.id, "the sweep was stopped: resume runs it again")
        elif status == RunStatus.INTERRUPTED and self.attempts(trial.number) <= self.sweep.plan.retries:
            self.pending.insert(0, Pending(trial, run.config, self.attempts(trial.number) + 1))
            yield self.ended(trial, "retrying", None, run.id, run.message)
        elif status.completed or status == RunStatus.DIVERGED:
            # a trial that diverged before any validation scores 0: the sampler learns to avoid it
            value = run.summary.best_val_accuracy
            value = 0.0 if value is None and status == RunStatus.DIVERGED else value
            told = self.tell(trial, value, run, may_be_best=status.completed)  # 0% was named the best
            # said as diverged, with why (it read "complete val_acc 0.00%")
            yield told if status.completed or told.outcome != "complete" else replace(told, outcome="diverged")
        elif status == RunStatus.STOPPED:  # stopped by the user, on Runs or with `stop`: said so, not "failed"
            tell(self.study, trial, state=TrialState.FAIL)  # a trial stopped by hand is no result for the sampler
            yield self.ended(trial, "stopped", None, run.id, "stopped on request: no result for the search")
        else:
            tell(self.study, trial, state=TrialState.FAIL)
            yield self.ended(trial, "failed", None, run.id, run.message)

    def tell(self, trial: optuna.Trial, value: float | None, run: Run, may_be_best: bool = True) -> TrialEnded:
        if value is None:
            tell(self.study, trial, state=TrialState.FAIL)
            return self.ended(trial, "failed", None, run.id, "no validation accuracy was recorded")
        tell(self.study, trial, value)
        if may_be_best and (self.best is None or value > self.best[1]):
            self.best = (trial.number, value)
        return self.ended(trial, "complete", value, run.id, run.message)

    def ended(self, trial: optuna.Trial, outcome: str, value: float | None, run_id: str,
              message: str = "") -> TrialEnded:
        return TrialEnded(trial.number, outcome, value, trial.params, self.runs.get_run(run_id), message,
                          *self.best_pair())

    def best_pair(self) -> tuple[int | None, float | None]:
        return self.best if self.best else (None, None)

    def attempts(self, number: int) -> int:
        return sum(1 for run in self.runs.sweep_runs(self.sweep.id) if run.trial_number == number)

    # --- resuming ------------------------------------------------------------------------
    def reconcile(self) -> Iterator[TrialEnded]:
        """Pair the study's trials with their runs after a stop or a killed driver; nothing runs twice."""
        check_liveness(self.runs, force=True)  # runs whose worker (or recording driver) is gone: interrupted
        latest: dict[int, Run] = {}
        for run in self.runs.sweep_runs(self.sweep.id):
            latest[run.trial_number] = run
        trials = self.study.get_trials(deepcopy=False)
        self.made = len(latest) + sum(1 for t in trials if "refused" in t.user_attrs and t.number not in latest)
        for frozen in trials:
            if frozen.state == TrialState.COMPLETE and (self.best is None or frozen.value > self.best[1]):
                self.best = (frozen.number, frozen.value)
        for frozen in trials:
            if frozen.state == TrialState.RUNNING:
                yield from self.resume_trial(frozen, latest.get(frozen.number))

    def resume_trial(self, frozen: optuna.trial.FrozenTrial, run: Run | None) -> Iterator[TrialEnded]:
        trial = optuna.Trial(self.study, frozen._trial_id)
        if run is None:  # asked, but the driver died before it made the run: it starts now, as asked
            self.start_unstarted(trial, frozen)
            return
        active = Active(trial, run.id, pruned_at=frozen.user_attrs.get("pruned_at"),
                        last_step=max(frozen.intermediate_values, default=0))
        if run.is_active and self.executor.adopt(run.id):
            self.active[frozen.number] = active
            return
        if run.is_active:
            self.runs.mark_interrupted(run.id, "its task ended with the sweep's previous driver")
            run = self.runs.get_run(run.id)
        if run.status in (RunStatus.STOPPED, RunStatus.INTERRUPTED) and active.pruned_at is None:
            self.pending.append(Pending(trial, run.config, self.attempts(frozen.number) + 1))
            return
        yield from self.conclude(active, run)

    def start_unstarted(self, trial: optuna.Trial, frozen: optuna.trial.FrozenTrial) -> None:
        """A trial the previous driver asked for and died before giving a run: it waits for a slot, and
        counts against the budget as a trial given a run does (none lost, none added).

        One it died refusing is failed, as fill() would have (reconcile counted it already); one it died
        asking (some settings not drawn yet) is failed too, and another is asked in its place.
        """
        if "refused" in frozen.user_attrs or set(frozen.params) != set(self.space):
            tell(self.study, trial, state=TrialState.FAIL)
            return
        self.made += 1
        try:
            config = self.sweep.plan.space.config(frozen.params)
        except ConfigError as err:  # it died before refusing it, as fill() would have
            trial.set_user_attr("refused", str(err))
            tell(self.study, trial, state=TrialState.FAIL)
            return
        self.pending.append(Pending(trial, config, 1))

    # --- the end ---------------------------------------------------------------------------
    def update_importance(self) -> None:
        shares = importance(self.study)
        if shares:
            self.sweeps.set_importance(self.sweep.id, shares)

    def summary(self) -> str:
        if self.best is None:
            return "no trial completed"
        return describe_best(*self.best)


def launch_sweep(runs: RunStore, plan: SweepPlan, data_dir: Path | str = DEFAULT_DATA_DIR) -> str:
    """Store a sweep and start its driver as a detached process (never in the app's script thread)."""
    sweep_id = SweepStore(runs).create(plan)
    resume_sweep(runs, sweep_id, data_dir)
    return sweep_id


def resume_sweep(runs: RunStore, sweep_id: str, data_dir: Path | str = DEFAULT_DATA_DIR) -> None:
    """Start a detached driver that goes on with a stored sweep."""
    sweeps = SweepStore(runs)
    log = sweeps.journal_path(sweep_id).with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    pid = launcher.spawn(["sweep", "--resume", sweep_id, "--runs", str(runs.root), "--data-dir", str(data_dir)], log)
    sweeps.assign_driver(sweep_id, pid)


def driver_alive(sweeps: SweepStore, sweep: Sweep) -> bool:
    """A running sweep's driver holds its lock file (let go when it dies); a queued one's has a live pid."""
    if sweep.status == RunStatus.QUEUED:
        return bool(sweep.pid) and pid_alive(sweep.pid)
    path = sweeps.journal_path(sweep.id).with_suffix(".lock")
    if not path.exists():
        return False
    with open(path) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def check_drivers(sweeps: SweepStore) -> list[str]:
    """Mark active sweeps whose driver is gone as interrupted (resume goes on with them)."""
    gone = [sweep.id for sweep in sweeps.list() if sweep.is_active and not driver_alive(sweeps, sweep)]
    return [sweep_id for sweep_id in gone if sweeps.mark_interrupted(
        sweep_id, "the sweep's driver process ended; resume the sweep to go on")]
