"""Issue 16, case 2: queued runs whose stored settings no longer validate (or no longer parse) fail
alone, each with its reason on the page, and the valid run queued behind them still trains."""
from __future__ import annotations

import sqlite3

from pages_helpers import app_store, as_shown, open_page, tiny_run_config  # noqa: F401
from reliability_helpers import wait_for, wait_until_dead

from core.runs.supervisor import launch

POISONS = {
    "out of range": ('{"epochs": 1000, "model": "mlp", "dataset": "synthetic", "val_size": 100}',
                     "cannot start: epochs: must be from 1 to 100, got 1000"),
    "malformed": ('{"hidden_sizes": 5, "model": "mlp", "dataset": "synthetic", "val_size": 100}',
                  "cannot start: stored settings are malformed"),
    "not JSON": ("{not json", "cannot start: stored settings are not readable JSON"),
    "not a mapping": ("[1, 2]", "cannot start: stored settings are not a mapping of settings"),
}


def test_bad_queued_runs_fail_alone_and_the_rest_of_the_queue_runs(app_store, reaper):
    store = app_store
    poisoned = {}
    for label, (stored, _) in POISONS.items():
        poisoned[label] = store.create_run(tiny_run_config(), name=label)  # no worker yet: they wait
        with sqlite3.connect(store.db_path) as db:  # as an older version, or a hand edit, left them
            db.execute("UPDATE runs SET config = ? WHERE id = ?", (stored, poisoned[label]))
    good = launch(store, tiny_run_config(), name="good")  # queued last: the worker meets the bad ones first

    wait_for(lambda: store.get_run(good).status == "finished", timeout=120, what="the valid run to finish")
    wait_until_dead(store.get_run(good).pid, timeout=30)
    for label, (_, reason) in POISONS.items():
        run = store.get_run(poisoned[label])
        assert run.status == "failed" and run.message.startswith(reason), (label, run.message)
        assert store.read_metrics(run.id) == ([], 0)
    assert "Traceback" not in (store.root / "worker.log").read_text()

    at = open_page("pages/train.py")
    at.selectbox(key="train_view").set_value(poisoned["out of range"]).run()
    assert not at.exception
    assert any(POISONS["out of range"][1] in as_shown(error.value) for error in at.error)
