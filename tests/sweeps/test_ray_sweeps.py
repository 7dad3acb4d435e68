"""Sweeps on the ray executor, against one real local Ray instance for the whole session."""
from __future__ import annotations

import os
import signal
import sys

import optuna
import pytest
import ray.cloudpickle
from sweep_helpers import ENDLESS, TINY, DriverThread, make_sweep, trial_runs, wait_for

from core.runs.supervisor import execute_run
from core.runs.trial import run_trial
from core.status import RunStatus
from core.sweeps.executors import RayExecutor
from core.sweeps.store import SweepStore

# Ray workers cannot import this test module: send its functions by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def exploding_trial(config, data_dir=None, should_stop=None):
    """run_trial, except that settings with lr 0.5 blow up on the node after their first items."""
    for item in run_trial(config, data_dir, should_stop=should_stop):
        yield item
        if config.lr == 0.5:
            raise RuntimeError("out of memory on the node")


@pytest.fixture
def ray_executor(ray_session, sweep_store):
    """Trials as Ray tasks on the session's instance (a driver joins it rather than starting one)."""
    return RayExecutor(sweep_store, None, address="")


def test_a_remote_trial_is_recorded_like_a_local_run(sweep_store, ray_executor):
    """Same metric rows, checkpoints and test evaluation as the same settings run by a local worker."""
    sweep_id = make_sweep(sweep_store, {**TINY, "lr": [0.05, 0.04]}, trials=1)  # one value would search nothing
    (ended,) = DriverThread(sweep_store, sweep_id, ray_executor).run_to_end()
    remote = sweep_store.get_run(ended.run.id)
    local_id = sweep_store.create_run(remote.config, name="local twin")
    assert execute_run(sweep_store, local_id) == RunStatus.FINISHED
    local = sweep_store.get_run(local_id)
    assert remote.status == RunStatus.FINISHED and remote.sweep_id == sweep_id and remote.trial_number == 0
    remote_rows, local_rows = sweep_store.read_metrics(remote.id)[0], sweep_store.read_metrics(local_id)[0]
    assert [(m.step, m.epoch, m.split, m.name) for m in remote_rows] == [
        (m.step, m.epoch, m.split, m.name) for m in local_rows]
    losses = [m.value for m in remote_rows if (m.split, m.name) == ("train", "loss")]
    assert losses == pytest.approx([m.value for m in local_rows if (m.split, m.name) == ("train", "loss")],
                                   rel=1e-4)
    assert [p.name for p in sweep_store.epoch_checkpoints(remote.id)] == ["epoch_001.pt", "epoch_002.pt"]
    assert sweep_store.checkpoint_path(remote.id, "best").exists()
    assert remote.summary.test_accuracy == pytest.approx(local.summary.test_accuracy)
    assert remote.environment.pid != os.getpid() and remote.pid == os.getpid()  # trained there, recorded here
    assert ended.outcome == "complete" and ended.value == remote.summary.best_val_accuracy


def test_tpe_with_pruning_on_ray_prunes_a_trial_that_trails(sweep_store, ray_executor):
    good, bad = {"lr": 0.1, "epochs": 30}, {"lr": 1e-4, "epochs": 100}
    sweep_id = make_sweep(sweep_store, {**TINY, "batch_size": 32, "lr": [0.1, 1e-4], "epochs": [30, 100]},
                          enqueue=[good, good, good, bad], strategy="tpe", pruner="median", trials=4)
    ended = DriverThread(sweep_store, sweep_id, ray_executor).run_to_end()
    assert sorted(e.outcome for e in ended) == ["complete"] * 3 + ["pruned"]
    pruned = next(e.run for e in ended if e.outcome == "pruned")
    assert pruned.trial_number == 3 and pruned.status == RunStatus.PRUNED
    assert pruned.summary.epochs_completed < 100
    assert sweep_store.checkpoint_path(pruned.id, "last").exists()  # it ended cleanly, on request


def test_stop_reaches_the_remote_task_which_ends_cleanly_with_its_checkpoints(sweep_store, ray_executor):
    sweep_id = make_sweep(sweep_store, {**ENDLESS, "lr": [1e-3, 2e-3]}, trials=1)
    driver = DriverThread(sweep_store, sweep_id, ray_executor)
    driver.start()
    run = wait_for(lambda: [r for r in sweep_store.sweep_runs(sweep_id) if sweep_store.read_metrics(r.id)[0]],
                   what="the remote trial's first rows")[0]
    assert sweep_store.request_stop(run.id) == "requested"  # what the Train page's Stop button does
    (ended,) = driver.finish()
    stopped = sweep_store.get_run(run.id)
    assert stopped.status == RunStatus.STOPPED and stopped.message == "stopped on request"
    # only the task itself writes 'last' (mid-epoch weights) and the end summary: the stop reached it
    assert sweep_store.checkpoint_path(run.id, "last").exists()
    assert stopped.summary.end_reason == RunStatus.STOPPED and stopped.summary.epochs_completed < 100
    assert ended.outcome == "stopped"  # said so (it read "failed"), and not a result for the sampler
    assert SweepStore(sweep_store).get(sweep_id).status == RunStatus.FINISHED


def test_a_dead_ray_worker_leaves_the_trial_interrupted_then_retried_once(sweep_store, ray_executor):
    sweep_id = make_sweep(sweep_store, {**ENDLESS, "lr": [1e-3, 2e-3]}, trials=1, retries=1)
    driver = DriverThread(sweep_store, sweep_id, ray_executor)
    driver.start()
    for attempt in (1, 2):
        run = wait_for(lambda n=attempt: [r for r in sweep_store.sweep_runs(sweep_id)
                                if r.environment.pid and sweep_store.read_metrics(r.id)[0]][n - 1:],
                       what=f"attempt {attempt} training")[0]
        os.kill(run.environment.pid, signal.SIGKILL)  # the Ray worker process running the task
    ended = driver.finish()
    assert [(e.number, e.outcome) for e in ended] == [(0, "retrying"), (0, "failed")]
    attempts = trial_runs(sweep_store, sweep_id)[0]
    assert [r.status for r in attempts] == [RunStatus.INTERRUPTED] * 2
    assert all("Ray worker running this trial died" in r.message for r in attempts)
    assert all(sweep_store.read_metrics(r.id)[0] for r in attempts)  # what was recorded is kept
    study_trials = optuna.load_study(study_name=sweep_id, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(SweepStore(sweep_store).journal_path(sweep_id))))).trials
    assert [t.state for t in study_trials] == [optuna.trial.TrialState.FAIL]


def test_a_trial_that_fails_on_its_node_is_recorded_and_the_sweep_goes_on(sweep_store, ray_session):
    executor = RayExecutor(sweep_store, None, address="", trial=exploding_trial)
    sweep_id = make_sweep(sweep_store, {**TINY, "lr": [0.5, 0.05]}, strategy="grid", trials=2, sampler_seed=0)
    ended = DriverThread(sweep_store, sweep_id, executor).run_to_end()
    by_lr = {run.config.lr: run for run in sweep_store.sweep_runs(sweep_id)}
    failed = by_lr[0.5]
    assert failed.status == RunStatus.FAILED and failed.message == "RuntimeError: out of memory on the node"
    assert failed.environment.pid  # what arrived before the failure is kept
    assert by_lr[0.05].status == RunStatus.FINISHED
    assert sorted(e.outcome for e in ended) == ["complete", "failed"]
    assert SweepStore(sweep_store).get(sweep_id).status == RunStatus.FINISHED
