"""Stopped, diverged and interrupted runs: their last good checkpoint, tested, and what the pages say."""
from __future__ import annotations

import os
from dataclasses import replace

import pytest

from core.runs.final_test import describe_test, evaluate_ended_run, last_good_checkpoint
from core.runs.rebuild import rebuild_index
from core.runs.recorder import Recorder
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.runs.trial import Evaluated, run_trial
from core.training.checkpoints import load_model
from core.training.data import build_datasets
from core.training.evaluation import evaluate
from core.training.events import BatchEnded, EpochEnded, RunEnded


def stop_after_steps(store, run_id: str, steps: int, monkeypatch):
    """An on_item hook for execute_run that asks the run to stop at this step; the recorder reads the request
    at its next flush, which comes after every batch here, so the run stops at that step on any machine."""
    monkeypatch.setattr("core.runs.recorder.FLUSH_INTERVAL_S", 0.0)

    def hook(item) -> None:
        if isinstance(item, BatchEnded) and item.step == steps:
            store.request_stop(run_id)
    return hook


def test_a_run_stopped_in_its_first_epoch_is_tested_on_the_weights_it_stopped_with(store, tiny_config,
                                                                                   synthetic_arrays, monkeypatch):
    # one image a step: an epoch of 500 steps, far more than the few it is allowed
    run_id = store.create_run(replace(tiny_config, batch_size=1, epochs=3))
    assert execute_run(store, run_id, on_item=stop_after_steps(store, run_id, 5, monkeypatch)) == "stopped"
    run = store.get_run(run_id)
    assert run.summary.epochs_completed == 0 and not store.checkpoint_path(run_id, "best").exists()
    found = last_good_checkpoint(store, run_id)
    assert found.which == "last" and found.describe(run) == "last checkpoint, stopped at epoch 1"
    # the test figures are those of last.pt, recomputed here directly
    model, config, _ = load_model(found.path)
    test = build_datasets(synthetic_arrays, config.val_size, config.seed).test
    assert run.summary.test_accuracy == pytest.approx(evaluate(model, test).accuracy)
    assert (run.summary.tested_checkpoint, run.summary.tested_epoch) == ("last", 1)
    assert describe_test(run) == "last checkpoint, stopped at epoch 1"
    tested = [m for m in store.read_metrics(run_id)[0] if m.split == "test"]
    assert {(m.name, m.epoch) for m in tested} == {("loss", 1), ("accuracy", 1)}


def test_a_run_that_diverged_before_its_first_epoch_says_so_instead_of_yet(store, tiny_config):
    run_id = store.create_run(replace(tiny_config, optimizer="sgd", lr=10.0, momentum=0.9, epochs=5))
    assert execute_run(store, run_id) == "diverged"
    run = store.get_run(run_id)
    assert run.summary.epochs_completed == 0  # seeded: it blows up within a few steps
    assert last_good_checkpoint(store, run_id) is None
    assert describe_test(run) == "not evaluated: diverged before the first epoch"


def record_until(store, run_id: str, config, epochs: int) -> None:
    """Record a trial as a worker would, and vanish after `epochs` epochs (their checkpoints included):
    as if the worker were killed there."""
    store.claim(run_id, os.getpid())
    recorder, done = Recorder(store, run_id), 0
    for item in run_trial(config):
        if isinstance(item, (Evaluated, RunEnded)):
            raise AssertionError("the trial ended before the kill")
        recorder.record(item)
        done += isinstance(item, EpochEnded)
        if done == epochs:  # an epoch's checkpoints come before its EpochEnded
            recorder.flush()
            return


def test_an_interrupted_run_gets_its_summary_and_its_best_checkpoint_tested_afterwards(store, tiny_config,
                                                                                      synthetic_arrays):
    config = replace(tiny_config, epochs=4)
    run_id = store.create_run(config)
    record_until(store, run_id, config, epochs=2)
    assert store.mark_interrupted(run_id, "the worker process ended without finishing the run")
    before = store.get_run(run_id)
    assert describe_test(before) == "not evaluated yet: its last good checkpoint is being tested"
    assert evaluate_ended_run(store, run_id)
    run = store.get_run(run_id)
    best = load_model(store.checkpoint_path(run_id, "best"))
    test = build_datasets(synthetic_arrays, config.val_size, config.seed).test
    assert run.summary.test_accuracy == pytest.approx(evaluate(best[0], test).accuracy)
    assert run.evaluation.accuracy == pytest.approx(run.summary.test_accuracy)
    summary = run.summary
    assert (summary.end_reason, summary.epochs_completed, summary.best_epoch) == ("interrupted", 2, best[2]["epoch"])
    assert summary.steps == 2 * 16 and summary.best_val_accuracy is not None
    assert describe_test(run) == f"best checkpoint, epoch {best[2]['epoch']}"
    assert not evaluate_ended_run(store, run_id)  # tested once
    for suffix in ("", "-wal", "-shm"):  # the test result is kept in the run's folder too
        (store.root / f"runs.db{suffix}").unlink(missing_ok=True)
    rebuild_index(store.root)
    rebuilt = RunStore(store.root).get_run(run_id)
    assert (rebuilt.status, rebuilt.summary, rebuilt.evaluation) == ("interrupted", run.summary, run.evaluation)


def test_an_untested_run_rebuilt_from_its_checkpoints_is_not_said_to_be_in_testing(store, tiny_config):
    config = replace(tiny_config, epochs=4)
    run_id = store.create_run(config)
    record_until(store, run_id, config, epochs=2)  # its worker died: no outcome.json, no test
    for suffix in ("", "-wal", "-shm"):
        (store.root / f"runs.db{suffix}").unlink(missing_ok=True)
    rebuild_index(store.root)
    run = RunStore(store.root).get_run(run_id)
    assert run.status == "interrupted" and describe_test(run) == "not evaluated: the run interrupted"


def test_an_interrupted_run_without_a_checkpoint_is_summarised_and_says_why_it_is_not_tested(store, tiny_config):
    run_id = store.create_run(tiny_config)
    store.claim(run_id, os.getpid())
    store.mark_interrupted(run_id, "gone")
    assert not evaluate_ended_run(store, run_id)
    run = store.get_run(run_id)
    assert run.summary.end_reason == "interrupted" and run.evaluation is None
    assert describe_test(run) == "not evaluated: interrupted before the first epoch"


def test_an_active_run_is_not_tested_yet(store, tiny_config):
    run_id = store.create_run(tiny_config)
    assert not evaluate_ended_run(store, run_id)
    assert describe_test(store.get_run(run_id)) == "not evaluated yet: the test set is used when the run ends"
