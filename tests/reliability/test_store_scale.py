"""Issue 6, case 3: 200 runs in the store. Speed is measured by `python -m benchmarks.store_scale`;
here only that they are all listed, correctly (no timing asserts in tests)."""
from __future__ import annotations

import sqlite3
from contextlib import closing

from benchmarks.store_scale import STATUSES, fill_store


def test_two_hundred_runs_are_all_listed_newest_first_with_their_metrics(store):
    # a connection held open, as a reading dashboard's often is: without one, closing each write's
    # connection checkpoints the WAL with an fsync, and 1,000 of those take many seconds on a busy disk
    with closing(sqlite3.connect(store.db_path)) as reader:
        reader.execute("SELECT COUNT(*) FROM runs").fetchone()
        ids = fill_store(store, runs=200, epochs=2, steps_per_epoch=3)
    listed = store.list_runs()
    assert len(listed) == 200 and {run.id for run in listed} == set(ids)
    assert [run.created_at for run in listed] == sorted((run.created_at for run in listed), reverse=True)
    by_id = {run.id: run for run in listed}
    for i, run_id in enumerate(ids):
        run = by_id[run_id]
        assert run.name == f"run {i:03d}" and run.status == STATUSES[i % len(STATUSES)]
        assert run.summary.steps == 6 and run.config.seed == i
    metrics, _ = store.read_metrics(ids[137])
    assert len(metrics) == 2 * (3 * 4 + 3 + 2) + 2  # per epoch: 3 steps x 4, 3 train and 2 val; then 2 test
    assert [m.step for m in metrics if m.name == "loss" and m.split == "train"] == [1, 2, 3, 4, 5, 6]
