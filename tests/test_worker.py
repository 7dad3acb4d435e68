import os
import signal
import sqlite3
import time
from dataclasses import replace

import psutil
import pytest

from core.runs import recorder, supervisor
from core.runs.supervisor import execute_run, launch
from core.training.checkpoints import load_model
from core.training.data import build_datasets
from core.training.evaluation import evaluate


def wait_for(predicate, timeout=300.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def test_a_run_goes_from_queued_to_finished_with_metrics_and_checkpoints(store, tiny_config, synthetic_arrays):
    run_id = store.create_run(tiny_config, name="tiny")
    assert execute_run(store, run_id) == "finished"
    run = store.get_run(run_id)
    assert run.status == "finished" and run.environment.parameters == 101_770
    metrics, _ = store.read_metrics(run_id)
    steps = 2 * 16
    assert sum(1 for m in metrics if m.split == "train" and m.name == "loss") == steps
    assert [m.epoch for m in metrics if m.split == "val" and m.name == "accuracy"] == [1, 2]
    assert [p.name for p in store.epoch_checkpoints(run_id)] == ["epoch_001.pt", "epoch_002.pt"]
    # the recorded test accuracy is that of the best checkpoint, recomputed here directly
    model, config, checkpoint = load_model(store.checkpoint_path(run_id, "best"))
    test = build_datasets(synthetic_arrays, config.val_size, config.seed).test
    assert evaluate(model, test).accuracy == pytest.approx(run.summary.test_accuracy)
    assert checkpoint["epoch"] == run.summary.best_epoch
    assert run.evaluation.accuracy == pytest.approx(run.summary.test_accuracy)
    assert len(run.evaluation.confusion) == 10


def test_a_diverging_run_is_recorded_as_diverged_without_a_nan_best(store, tiny_config):
    run_id = store.create_run(replace(tiny_config, optimizer="sgd", lr=10.0, epochs=3))
    assert execute_run(store, run_id) == "diverged"
    run = store.get_run(run_id)
    assert "lower lr" in run.message
    if store.checkpoint_path(run_id, "best").exists():
        model, _, _ = load_model(store.checkpoint_path(run_id, "best"))
        assert all(p.isfinite().all() for p in model.parameters())


def test_a_failed_checkpoint_write_fails_the_run_and_keeps_the_previous_file(store, tiny_config, monkeypatch):
    real_write = recorder.write_atomically
    calls = []

    def write_then_fill_the_disk(path, payload):
        calls.append(path.name)
        if len(calls) > 2:  # epoch_001 and best are written, then the disk is full
            raise OSError(28, "No space left on device")
        real_write(path, payload)

    monkeypatch.setattr(recorder, "write_atomically", write_then_fill_the_disk)
    run_id = store.create_run(replace(tiny_config, epochs=3))
    assert execute_run(store, run_id) == "failed"
    run = store.get_run(run_id)
    assert "No space left on device" in run.message and "previous checkpoint is intact" in run.message
    assert load_model(store.checkpoint_path(run_id, "best"))[2]["epoch"] == 1


def test_a_stop_request_from_another_process_ends_the_run_with_its_checkpoints(store, endless_config):
    run_id = launch(store, endless_config)
    wait_for(lambda: store.get_run(run_id).status == "running" and store.epoch_checkpoints(run_id))
    # it trains below the priority of the process that launched it (the app's, here this test's)
    assert supervisor.WORKER_NICE > 0
    assert psutil.Process(store.get_run(run_id).pid).nice() == min(os.nice(0) + supervisor.WORKER_NICE, 19)
    assert store.request_stop(run_id) == "requested"
    wait_for(lambda: store.get_run(run_id).status == "stopped", timeout=300)
    run = store.get_run(run_id)
    assert run.summary.end_reason == "stopped" and run.summary.epochs_completed < 100
    assert store.checkpoint_path(run_id, "last").exists() and store.checkpoint_path(run_id, "best").exists()
    assert load_model(store.checkpoint_path(run_id, "last"))[1] == endless_config


def test_a_killed_worker_shows_as_interrupted_and_the_store_stays_sound(store, tiny_config, endless_config):
    run_id = launch(store, endless_config)
    wait_for(lambda: len(store.epoch_checkpoints(run_id)) >= 2)
    os.kill(store.get_run(run_id).pid, signal.SIGKILL)
    # whoever lists runs notices, within a liveness interval
    wait_for(lambda: supervisor.list_runs(store)[0].status == "interrupted", timeout=300)
    metrics, _ = store.read_metrics(run_id)
    assert len(metrics) > 0
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    last_epoch = store.epoch_checkpoints(run_id)[-1]
    load_model(last_epoch)
    follow_up = store.create_run(tiny_config)
    assert execute_run(store, follow_up) == "finished"


def test_queued_runs_run_one_after_another(store, tiny_config):
    first = launch(store, replace(tiny_config, epochs=3))
    second = launch(store, replace(tiny_config, epochs=3, seed=1))
    wait_for(lambda: all(store.get_run(r).status == "finished" for r in (first, second)), timeout=300)
    a, b = store.get_run(first), store.get_run(second)
    assert a.ended_at <= b.started_at or b.ended_at <= a.started_at
