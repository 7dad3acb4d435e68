"""Sweeps on the local executor: the CLI end to end, pruning, stop and resume, a killed driver, divergence."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import optuna
import pytest
from sweep_helpers import ENDLESS, REPO, TINY, DriverThread, make_sweep, trial_runs, wait_for

from core.runs.store import RunStore
from core.status import RunStatus
from core.sweeps.driver import driver_lock
from core.sweeps.store import SweepStore
from core.sweeps.study import distributions, open_study
from tests.cli_helpers import cli, cli_here


def study_of(store: RunStore, sweep_id: str) -> optuna.Study:
    sweeps = SweepStore(store)
    sweep = sweeps.get(sweep_id)
    return open_study(sweep_id, sweep.plan, sweeps.journal_path(sweep_id))


def test_the_cli_runs_the_example_sweep_and_prints_each_trial_and_the_best(tmp_path):
    runs = tmp_path / "runs"
    result = cli("sweep", "--space", "examples/sweep-quick.toml", "--trials", "3", "--strategy", "random",
                 "--seed", "0", "--name", "quick", "--runs", str(runs))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("trial #")] == ["#0", "#1", "#2"]
    store = RunStore(runs)
    (sweep,) = SweepStore(store).list()
    assert sweep.status == RunStatus.FINISHED and sweep.name == "quick"
    trials = trial_runs(store, sweep.id)
    assert sorted(trials) == [0, 1, 2] and all(len(attempts) == 1 for attempts in trials.values())
    runs_by_number = {number: attempts[0] for number, attempts in trials.items()}
    best = max(runs_by_number.values(), key=lambda run: run.summary.best_val_accuracy)
    best_line = f"best: trial #{best.trial_number}, validation accuracy {best.summary.best_val_accuracy:.2%}"
    assert best_line in result.stdout
    for run in runs_by_number.values():  # ordinary runs: metrics, checkpoints, a test evaluation
        assert run.status == RunStatus.FINISHED and run.evaluation is not None
        assert store.checkpoint_path(run.id, "best").exists()
        assert f"val_acc {run.summary.best_val_accuracy:.2%}" in lines[1 + run.trial_number]
    # Optuna's study lives beside runs.db, not in it, and agrees with the store
    assert (runs / "sweeps" / f"{sweep.id}.journal").exists()
    study = study_of(store, sweep.id)
    assert [t.value for t in study.trials] == pytest.approx(
        [runs_by_number[t.number].summary.best_val_accuracy for t in study.trials])


@pytest.mark.parametrize("args, message", [
    (["--space", "examples/sweep-quick.toml", "--strategy", "bayes"], "error: strategy: 'bayes' is not one of"),
    (["--space", "examples/sweep-quick.toml", "--strategy", "grid"], "error: lr: a grid needs a list of choices"),
    (["--space", "examples/sweep-quick.toml", "--parallel", "0"], "error: parallel: must be a whole number"),
    (["--space", "no-such-space.toml"], "error: space: cannot read no-such-space.toml"),
    (["--space", "examples/sweep-quick.toml", "--executor", "ray", "--ray-address", "127.0.0.1:9"],
     "error: Ray is not reachable at 127.0.0.1:9"),
    (["--space", "examples/sweep-quick.toml", "--executor", "ray", "--ray-address", "ray://127.0.0.1:9"],
     "error: Ray is not reachable at ray://127.0.0.1:9"),  # unchecked, it was stored as a sweep, then tried
    (["--space", "examples/sweep-quick.toml", "--seed", "-1"], "error: seed: must be a whole number from 0 to "
                                                              "4294967295, got -1"),
    (["--space", "examples/sweep-quick.toml", "--storage", "notaurl"],
     "error: storage: cannot open 'notaurl' as Optuna's study storage: Could not parse"),
    (["--space", "examples/sweep-quick.toml", "--storage", "sqlite:////proc/none/x.db"],
     "error: storage: cannot open 'sqlite:////proc/none/x.db' as Optuna's study storage: unable to open"),
    (["--space", "examples/sweep-quick.toml", "--ray-address", "127.0.0.1:9"],
     "error: ray-address: a Ray cluster's address is for --executor ray"),
    (["--resume", "s1", "--trials", "3"], "error: --trials is for a new sweep (--space); --resume goes on with"),
    (["--list", "--trials", "3", "--seed", "1"], "error: --trials, --seed are for a new sweep (--space); --list"),
])
def test_bad_sweep_settings_are_refused_in_one_line_before_anything_starts(tmp_path, args, message):
    command = ("sweep", "--runs", str(tmp_path / "runs"), *args)
    # a Ray address is tried in a process of its own: this one keeps the session's Ray instance
    result = cli(*command, timeout=120) if "--ray-address" in args else cli_here(*command)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_contradictory_space_file_is_refused_naming_the_field(tmp_path):
    space = tmp_path / "space.json"
    space.write_text('{"model": "mlp", "dataset": "synthetic", "val_size": 100, "lr": {"low": 1, "high": 0.1}}')
    result = cli_here("sweep", "--space", str(space), "--runs", str(tmp_path / "runs"))
    assert result.returncode == 2 and result.stderr.strip() == "error: lr: low (1) is above high (0.1)"
    assert not (tmp_path / "runs").exists()


def test_resuming_a_sweep_another_process_drives_is_refused_before_anything_is_printed(sweep_store):
    sweep_id = make_sweep(sweep_store, {**TINY, "lr": [0.1, 0.05]}, trials=2)
    sweeps = SweepStore(sweep_store)
    with driver_lock(sweeps, sweeps.get(sweep_id)):  # as a running driver holds it
        result = cli_here("sweep", "--resume", sweep_id, "--runs", str(sweep_store.root))
    assert result.returncode == 2 and "is already being driven by process" in result.stderr
    assert result.stdout == ""  # it printed the sweep's header, as if starting, then refused
    assert sweeps.get(sweep_id).status == RunStatus.QUEUED


def test_tpe_with_median_pruning_prunes_a_trial_that_trails(sweep_store):
    """Three good trials set the median; a fourth that learns nothing is pruned after an early epoch."""
    good, bad = {"lr": 0.1, "epochs": 30}, {"lr": 1e-4, "epochs": 100}
    sweep_id = make_sweep(sweep_store, {**TINY, "batch_size": 32, "lr": [0.1, 1e-4], "epochs": [30, 100]},
                          enqueue=[good, good, good, bad], strategy="tpe", pruner="median", trials=4)
    result = cli("sweep", "--resume", sweep_id, "--runs", str(sweep_store.root))
    assert result.returncode == 0, result.stderr
    trials = {number: attempts[-1] for number, attempts in trial_runs(sweep_store, sweep_id).items()}
    assert [trials[n].status for n in range(3)] == [RunStatus.FINISHED] * 3
    pruned = trials[3]
    assert pruned.status == RunStatus.PRUNED and "pruned after epoch" in pruned.message
    assert pruned.summary.epochs_completed < 100 and pruned.evaluation is not None
    assert "trial #3 pruned" in result.stdout
    states = [t.state for t in study_of(sweep_store, sweep_id).trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3 + [optuna.trial.TrialState.PRUNED]


def test_a_diverging_trial_is_recorded_and_the_sweep_goes_on(sweep_store):
    sweep_id = make_sweep(sweep_store, {**TINY, "lr": [10.0, 0.05]}, strategy="grid", trials=2, sampler_seed=0)
    ended = DriverThread(sweep_store, sweep_id).run_to_end()
    by_lr = {run.config.lr: run for run in sweep_store.sweep_runs(sweep_id)}
    assert by_lr[10.0].status == RunStatus.DIVERGED and "lower lr" in by_lr[10.0].message
    assert by_lr[0.05].status == RunStatus.FINISHED
    assert sorted(e.outcome for e in ended) == ["complete", "diverged"]  # it read "complete val_acc 0.00%"
    assert SweepStore(sweep_store).get(sweep_id).status == RunStatus.FINISHED


def test_a_stopped_sweep_keeps_the_trial_in_flight_and_resume_runs_it_again(sweep_store):
    sweep_id = make_sweep(sweep_store, {**ENDLESS, "lr": [1e-3, 2e-3]}, trials=2)
    sweeps = SweepStore(sweep_store)
    driver = DriverThread(sweep_store, sweep_id)
    driver.start()
    first = wait_for(lambda: [r for r in sweep_store.sweep_runs(sweep_id) if sweep_store.read_metrics(r.id)[0]],
                     what="the first trial's metrics")[0]
    assert sweeps.request_stop(sweep_id) == "requested"
    ended = driver.finish()
    assert [(e.number, e.outcome) for e in ended] == [(0, "unfinished")]
    assert sweeps.get(sweep_id).status == RunStatus.STOPPED
    stopped = sweep_store.get_run(first.id)
    assert stopped.status == RunStatus.STOPPED and sweep_store.checkpoint_path(first.id, "last").exists()
    assert study_of(sweep_store, sweep_id).trials[0].state == optuna.trial.TrialState.RUNNING

    resumed = DriverThread(sweep_store, sweep_id)
    resumed.start()
    attempts = wait_for(lambda: (lambda t: t if len(t.get(0, [])) == 2 and t[0][1].status == "running" else None)(
        trial_runs(sweep_store, sweep_id)), what="a second attempt at trial 0")
    assert attempts[0][1].name.endswith("#0 (attempt 2)") and attempts[0][1].config == stopped.config
    assert list(attempts) == [0]  # one at a time: trial 1 waits for the retried trial 0
    sweeps.request_stop(sweep_id)
    resumed.finish()
    assert sweep_store.get_run(first.id).status == RunStatus.STOPPED  # the first attempt is kept as it was


def test_a_trial_the_user_stops_is_said_stopped_not_failed_and_the_sweep_goes_on(sweep_store):
    sweep_id = make_sweep(sweep_store, {**ENDLESS, "lr": [1e-3, 2e-3]}, trials=1)
    driver = DriverThread(sweep_store, sweep_id)
    driver.start()
    trial = wait_for(lambda: [r for r in sweep_store.sweep_runs(sweep_id) if sweep_store.read_metrics(r.id)[0]],
                     what="the trial's metrics")[0]
    assert sweep_store.request_stop(trial.id) == "requested"  # as Stop on Runs, or `python -m core stop`
    (ended,) = driver.finish()
    assert (ended.outcome, ended.message) == ("stopped", "stopped on request: no result for the search")
    assert study_of(sweep_store, sweep_id).trials[0].state == optuna.trial.TrialState.FAIL  # no result to learn from
    assert SweepStore(sweep_store).get(sweep_id).status == RunStatus.FINISHED


def test_ctrl_c_stops_a_sweep_from_the_cli_which_exits_130(sweep_store):
    sweep_id = make_sweep(sweep_store, {**ENDLESS, "lr": [1e-3, 2e-3]}, trials=2)
    driver = subprocess.Popen([sys.executable, "-m", "core", "sweep", "--resume", sweep_id, "--runs",
                               str(sweep_store.root)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        wait_for(lambda: any(sweep_store.read_metrics(r.id)[0] for r in sweep_store.sweep_runs(sweep_id)),
                 what="the first trial's metrics")
        driver.send_signal(signal.SIGINT)
        out, _ = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 130 and "sweep stopped" in out  # it exited 0: `sweep ... && next` went on
    assert SweepStore(sweep_store).get(sweep_id).status == RunStatus.STOPPED


def test_a_trial_asked_by_a_driver_that_died_before_giving_it_a_run_runs_on_resume(sweep_store):
    """The one moment a kill loses track of a trial: after study.ask(), before its run is made. The
    resumed driver's grid keeps the first one's order, so its new trial takes the other point."""
    sweep_id = make_sweep(sweep_store, {**TINY, "lr": [0.1, 0.05]}, strategy="grid", trials=2, sampler_seed=0)
    sweeps = SweepStore(sweep_store)
    plan = sweeps.get(sweep_id).plan
    asked = open_study(sweep_id, plan, sweeps.journal_path(sweep_id)).ask(distributions(plan.space, grid=True))
    ended = DriverThread(sweep_store, sweep_id).run_to_end()
    assert sorted((e.number, e.outcome) for e in ended) == [(0, "complete"), (1, "complete")]
    trials = trial_runs(sweep_store, sweep_id)
    assert [len(trials[n]) for n in (0, 1)] == [1, 1]  # each once: the asked trial neither lost nor doubled
    assert trials[0][0].config.lr == asked.params["lr"] and trials[0][0].name.endswith("#0")
    assert sorted(attempts[0].config.lr for attempts in trials.values()) == [0.05, 0.1]
    assert [t.state for t in study_of(sweep_store, sweep_id).trials] == [optuna.trial.TrialState.COMPLETE] * 2


def test_a_killed_driver_resumes_with_no_trial_run_twice_and_none_lost(sweep_store):
    """SIGKILL the driver mid-sweep: the trial in flight finishes in its own worker; resume takes it up."""
    sweep_id = make_sweep(sweep_store, {**TINY, "epochs": 20, "lr": [0.1, 0.05, 0.02, 0.01]}, strategy="grid",
                          trials=4, sampler_seed=0)
    driver = subprocess.Popen([sys.executable, "-m", "core", "sweep", "--resume", sweep_id, "--runs",
                               str(sweep_store.root)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(r.status == "finished" for r in sweep_store.sweep_runs(sweep_id))
                 and any(r.status == "running" for r in sweep_store.sweep_runs(sweep_id)),
                 interval=0.05, what="one trial finished and the next running")
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    in_flight = {r.trial_number for r in sweep_store.sweep_runs(sweep_id) if r.is_active}
    result = cli("sweep", "--resume", sweep_id, "--runs", str(sweep_store.root))
    assert result.returncode == 0, result.stderr
    trials = trial_runs(sweep_store, sweep_id)
    assert sorted(trials) == [0, 1, 2, 3]
    assert all(len(attempts) == 1 for attempts in trials.values()), trials  # none run twice
    assert all(attempts[0].status == RunStatus.FINISHED for attempts in trials.values())  # none lost
    assert sorted(run.config.lr for attempts in trials.values() for run in attempts) == [0.01, 0.02, 0.05, 0.1]
    study = study_of(sweep_store, sweep_id)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert all(f"trial #{n} complete" in result.stdout for n in in_flight)
    assert SweepStore(sweep_store).get(sweep_id).status == RunStatus.FINISHED


def test_stopping_a_sweep_that_is_not_running_says_so(sweep_store):
    sweep_id = make_sweep(sweep_store, {**TINY, "lr": [0.1, 0.01]}, trials=1)
    SweepStore(sweep_store).finish(sweep_id, RunStatus.FINISHED, "done")
    result = cli_here("sweep", "--stop", sweep_id, "--runs", str(sweep_store.root))
    assert result.returncode == 0  # it said only "stop not active"
    assert result.stdout == f"sweep {sweep_id} is finished, not running: nothing to stop\n"
