"""Shared by the sweep tests: sweeps made through the store's API, drivers in threads, waiting for states."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from core.runs.store import RunStore
from core.sweeps.driver import TrialEnded, drive
from core.sweeps.records import SweepPlan
from core.sweeps.space import parse_space
from core.sweeps.store import SweepStore
from core.sweeps.study import open_study

REPO = Path(__file__).resolve().parents[2]
TINY = {"model": "mlp", "dataset": "synthetic", "val_size": 100, "epochs": 2, "device": "cpu", "optimizer": "sgd",
        "momentum": 0.0}
# a trial no machine finishes while a test watches it (see ENDLESS in tests/conftest.py)
ENDLESS = {"model": "mlp", "dataset": "mnist", "epochs": 100, "batch_size": 1, "train_samples": 5000,
           "val_size": 1000, "device": "cpu"}


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.1, what: str = "a state"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def make_sweep(store: RunStore, space: dict, enqueue: list[dict] = (), **plan) -> str:
    """A stored sweep; `enqueue` fixes its first trials' settings through Optuna's own enqueue_trial."""
    sweeps = SweepStore(store)
    sweep_plan = SweepPlan(parse_space(space), **plan)
    sweep_id = sweeps.create(sweep_plan)
    if enqueue:
        study = open_study(sweep_id, sweep_plan, sweeps.journal_path(sweep_id))
        for params in enqueue:
            study.enqueue_trial(params)
    return sweep_id


class DriverThread(threading.Thread):
    """drive() in a thread of the test process, collecting what it yields."""

    def __init__(self, store: RunStore, sweep_id: str, executor=None):
        super().__init__(daemon=True)
        self.store, self.sweep_id, self.executor = store, sweep_id, executor
        self.ended: list[TrialEnded] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for item in drive(self.store, self.sweep_id, executor=self.executor):
                self.ended.append(item)
        except BaseException as err:  # handed to the test, which asserts on it
            self.error = err

    def run_to_end(self, timeout: float = 300.0) -> list[TrialEnded]:
        self.start()
        return self.finish(timeout)

    def finish(self, timeout: float = 300.0) -> list[TrialEnded]:
        self.join(timeout)
        assert not self.is_alive(), "the driver did not end"
        if self.error is not None:
            raise self.error
        return self.ended


def trial_runs(store: RunStore, sweep_id: str) -> dict[int, list]:
    """Each trial number's runs (attempts), oldest first."""
    out: dict[int, list] = {}
    for run in store.sweep_runs(sweep_id):
        out.setdefault(run.trial_number, []).append(run)
    return out


