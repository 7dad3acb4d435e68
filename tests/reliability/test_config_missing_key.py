"""Issue 16, case 7: a stored run config that lacks a key (written by an older version, or edited).
The pages show the run with that setting's default instead of failing with a KeyError."""
from __future__ import annotations

import json
import sqlite3

from pages_helpers import app_store, as_shown, finished_run, open_page, tiny_run_config  # noqa: F401

from core.config import RunConfig
from core.runs.supervisor import execute_run


def drop_setting(store, run_id: str, key: str) -> None:
    with sqlite3.connect(store.db_path) as db:
        config = json.loads(db.execute("SELECT config FROM runs WHERE id = ?", (run_id,)).fetchone()[0])
        del config[key]
        db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))


def test_a_config_without_its_dataset_key_shows_on_every_page(app_store):
    run_id = finished_run(app_store, "older run", val_size=100)
    drop_setting(app_store, run_id, "dataset")
    run = app_store.get_run(run_id)
    assert run.config.dataset == RunConfig().dataset and run.config_error is None  # the default fills in

    at = open_page("pages/train.py")  # the live panel shows the newest run
    assert not at.exception and as_shown(at.subheader[0].value) == "older run"
    assert at.get("progress")[0].proto.text.startswith("finished")
    at.switch_page("pages/runs.py").run()
    assert not at.exception and "1 of 1 runs" in at.caption[0].value
    at.switch_page("pages/draw.py").run()
    assert not at.exception


def test_a_queued_run_without_a_key_trains_with_the_default(app_store):
    run_id = app_store.create_run(tiny_run_config(), name="queued before an upgrade")
    drop_setting(app_store, run_id, "label_smoothing")
    assert execute_run(app_store, run_id) == "finished"
    assert app_store.get_run(run_id).config.label_smoothing == RunConfig().label_smoothing
