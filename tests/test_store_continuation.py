"""The store's side of runs that go on: migration 2, reopening a run, children, per-epoch validations."""
from __future__ import annotations

import sqlite3
import time

import pytest

from core.config import RunConfig
from core.runs import schema
from core.runs.records import EpochValidation, Metric
from core.runs.store import RunActive, RunStore

CONFIG = RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=3)


def rows(epochs: int, steps: int = 2) -> list[Metric]:
    """Two batches an epoch, epoch-end and validation rows, and test rows at the end."""
    out = []
    for epoch in range(1, epochs + 1):
        out += [Metric((epoch - 1) * steps + s, epoch, "train", "loss", 1.0, 0.0) for s in range(1, steps + 1)]
        out += [Metric(epoch * steps, epoch, "train", "epoch_loss", 1.0, 0.0),
                Metric(epoch * steps, epoch, "val", "accuracy", 0.5, 0.0)]
    return out + [Metric(epochs * steps, 1, "test", "accuracy", 0.9, 0.0)]


def test_a_version_1_store_is_migrated_and_its_runs_read_as_before(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    with sqlite3.connect(root / "runs.db") as db:
        for statement in schema.statements(schema.MIGRATIONS[0]):
            db.execute(statement)
        db.execute("INSERT INTO runs (id, name, config, status, created_at) VALUES ('old', 'old', ?, 'finished', 1)",
                   (CONFIG.to_json(),))
        db.execute("PRAGMA user_version = 1")
    store = RunStore(root)
    run = store.get_run("old")
    assert (run.parent_id, run.parent_epoch, run.trained_before_s) == (None, None, 0.0)
    assert store.validations("old") == [] and store.children("old") == []
    # version 2 added sweeps, version 3 lineage and validations, version 4 a resumed sweep's earlier time
    with sqlite3.connect(root / "runs.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION == 4


def test_reopen_drops_what_came_after_the_epoch_and_queues_the_run(store):
    run_id = store.create_run(CONFIG)
    store.claim(run_id, 1)
    store.add_metrics(run_id, rows(3) + [Metric(7, 4, "train", "loss", 1.0, 0.0)])  # part of epoch 4
    for epoch in (1, 2, 3):
        store.add_validation(run_id, EpochValidation(epoch, [[epoch] * 10] * 10, bytes([epoch] * 100)))
    store.finish(run_id, "stopped", "stopped on request")
    ended = store.get_run(run_id)
    assert store.completed_epochs(run_id) == 3
    store.reopen(run_id, RunConfig(**{**CONFIG.to_dict(), "epochs": 5}), after_epoch=2)
    run = store.get_run(run_id)
    assert (run.status, run.config.epochs, run.message, run.ended_at, run.started_at) == ("queued", 5, "", None, None)
    assert run.trained_before_s == pytest.approx(ended.ended_at - ended.started_at)
    kept = store.read_metrics(run_id)[0]
    assert max(m.epoch for m in kept) == 2 and not [m for m in kept if m.split == "test"]
    assert kept == [m for m in rows(3) if m.epoch <= 2 and m.split != "test"]
    assert store.validated_epochs(run_id) == [1, 2] and store.completed_epochs(run_id) == 2
    assert [v.predictions for v in store.validations(run_id, [2])] == [bytes([2] * 100)]


def test_reopen_refuses_an_active_run_and_changes_nothing(store):
    run_id = store.create_run(CONFIG, name="busy")
    store.claim(run_id, 1)
    store.add_metrics(run_id, rows(2))
    with pytest.raises(RunActive, match="run 'busy' is running: stop it first"):
        store.reopen(run_id, CONFIG, after_epoch=0)
    assert store.get_run(run_id).status == "running" and len(store.read_metrics(run_id)[0]) == len(rows(2))


def test_forks_are_listed_as_children_and_deleting_a_run_takes_its_validations(store):
    parent = store.create_run(CONFIG)
    first = store.create_run(CONFIG, parent_id=parent, parent_epoch=1)
    time.sleep(0.01)
    second = store.create_run(CONFIG, parent_id=parent, parent_epoch=2)
    assert [(run.id, run.parent_epoch) for run in store.children(parent)] == [(first, 1), (second, 2)]
    store.add_validation(parent, EpochValidation(1, [[0] * 10] * 10, b"\x01\x02"))
    store.add_validation(parent, EpochValidation(1, [[1] * 10] * 10, b"\x03"))  # an epoch redone replaces it
    assert store.validations(parent) == [EpochValidation(1, [[1] * 10] * 10, b"\x03")]
    store.finish(parent, "finished")
    store.delete_run(parent)
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM validations").fetchone()[0] == 0
    assert store.get_run(first).parent_id == parent  # a child keeps naming its deleted parent
