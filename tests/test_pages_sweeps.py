"""The Sweeps page under AppTest: the form refuses a bad space, a stored sweep's trials, charts and links."""
from __future__ import annotations

import json
import os
import time

import pytest
from pages_helpers import app_store, as_shown, finished_run, open_page  # noqa: F401

from core.status import RunStatus
from core.sweeps.records import SweepPlan
from core.sweeps.space import parse_space
from core.sweeps.store import SweepStore
from tests.cli_helpers import cli_here

SPACE = {"model": "mlp", "dataset": "synthetic", "val_size": 100, "epochs": 2, "device": "cpu",
         "optimizer": "sgd", "momentum": 0.0, "lr": {"low": 1e-3, "high": 0.1, "log": True}, "batch_size": [32, 64]}


@pytest.fixture
def stored_sweep(app_store):
    """A finished sweep of three real trials (trained here), with the importance its driver would store."""
    sweeps = SweepStore(app_store)
    sweep_id = sweeps.create(SweepPlan(parse_space(SPACE), trials=3, name="lr search"))
    for number, (lr, batch) in enumerate([(1e-3, 64), (0.1, 32), (0.01, 32)]):
        run_id = finished_run(app_store, f"lr search #{number}", lr=lr, batch_size=batch, optimizer="sgd",
                              momentum=0.0)
        with app_store.transaction() as db:  # what the driver's create_run(sweep_id=..., trial_number=...) sets
            db.execute("UPDATE runs SET sweep_id=?, trial_number=? WHERE id=?", (sweep_id, number, run_id))
    sweeps.start(sweep_id, 0)
    sweeps.set_importance(sweep_id, {"lr": 0.8, "batch_size": 0.2})
    sweeps.finish(sweep_id, RunStatus.FINISHED, "best: trial #1")
    return sweep_id


def test_no_sweeps_yet_opens_the_form(app_store):
    at = open_page("pages/sweeps.py")
    assert any("No sweeps yet" in info.value for info in at.info)
    assert at.button(key="sweeps_launch")
    cores = os.cpu_count()  # "At once" goes to 16; its help says what this machine can take
    assert f"which has {cores} core" in at.number_input(key="sweeps_parallel").help


@pytest.mark.parametrize("changes, message", [
    ({"sweeps_models": []}, "Not started: Models: pick at least one value"),  # in the form's words
    ({"sweeps_lr": (1e-3, 1e-3), "sweeps_batch_sizes": [64]}, "Not started: nothing to search: pick two or more"),
    ({"sweeps_batch_sizes": []}, "Not started: Batch sizes: pick at least one value"),
    ({"sweeps_strategy": "grid", "sweeps_trials": 50}, "Not started: Trials: the grid has 18 points"),
    ({"sweeps_executor": "ray", "sweeps_ray_address": "127.0.0.1:9"}, "Not started: Ray is not reachable at"),
    ({"sweeps_executor": "ray", "sweeps_ray_address": "<b>x</b>:abc"},
     "Not started: Ray's address <b>x</b>:abc does not end in a port number from 1 to 65535"),
])
def test_a_bad_sweep_is_refused_naming_what_is_wrong_and_nothing_starts(app_store, changes, message):
    at = open_page("pages/sweeps.py")
    for key, value in changes.items():
        at.session_state[key] = value
    at.run()
    at.button(key="sweeps_launch").click().run()
    assert any(message in as_shown(error.value) for error in at.error), [e.value for e in at.error]
    assert SweepStore(app_store).list() == []


def test_a_sweep_shows_its_trials_best_so_far_parallel_coordinates_and_importance(stored_sweep):
    at = open_page("pages/sweeps.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert table["trial"].tolist() == [0, 1, 2]
    assert table["status"].tolist() == ["finished"] * 3 and table["lr"].tolist() == [1e-3, 0.1, 0.01]
    best = table["val acc"].idxmax()
    assert table["best"].tolist() == ["best" if i == best else "" for i in range(3)]
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    kinds = [spec["data"][0]["type"] for spec in charts]
    assert kinds == ["scatter", "bar", "parcoords", "scatter"]
    parcoords = charts[2]["data"][0]
    assert [d["label"] for d in parcoords["dimensions"]] == ["lr (log)", "batch_size", "validation accuracy"]
    assert parcoords["dimensions"][0]["values"] == pytest.approx([-3, -1, -2])
    assert parcoords["dimensions"][2]["values"] == pytest.approx(table["val acc"].tolist(), abs=5e-5)
    assert charts[1]["data"][0]["y"] == ["batch_size", "lr"]  # most important on top


def test_a_deleted_trial_is_counted_and_the_best_line_follows_the_trials_left(stored_sweep, app_store):
    trials = {run.trial_number: run for run in app_store.sweep_runs(stored_sweep)}
    best = max(trials.values(), key=lambda run: run.summary.best_val_accuracy)
    app_store.delete_run(best.id)  # on the Runs page
    left = max((run for run in trials.values() if run.id != best.id), key=lambda run: run.summary.best_val_accuracy)
    at = open_page("pages/sweeps.py")
    shown = [as_shown(c.value) for c in at.caption]
    assert any("3 of 3 trials started (1 deleted since)" in c for c in shown), shown
    listing = cli_here("sweep", "--list", "--runs", str(app_store.root)).stdout
    assert "   3/3" in listing  # as the page counts them: it read 2/3 for a finished sweep
    assert (f"best: trial #{left.trial_number}, validation accuracy {left.summary.best_val_accuracy:.2%}"
            in shown)  # not the deleted trial, which the message named


def test_the_picked_trial_links_to_runs_and_draw(stored_sweep, app_store):
    at = open_page("pages/sweeps.py")
    table = at.dataframe[0]
    at.session_state[table.key] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    trial = next(r for r in app_store.sweep_runs(stored_sweep) if r.trial_number == 2)
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    assert any(as_shown(c.value).startswith("Trial #2: lr search #2") for c in at.caption)
    assert links["Compare in Runs"].query_string == f"run={trial.id}"
    assert links["Try it in Draw"].query_string == f"run={trial.id}"
    # the Runs page ticks the linked run in a real browser (tests/browser/test_sweeps.py)

def test_launching_from_the_page_starts_a_driver_that_runs_the_sweep(app_store):
    at = open_page("pages/sweeps.py")
    name = "from the **page**"
    for key, value in {"sweeps_dataset": "synthetic", "sweeps_trials": 2, "sweeps_name": name}.items():
        at.session_state[key] = value
    at.run()
    at.button(key="sweeps_launch").click().run()
    assert not at.error, [e.value for e in at.error]
    # the sweep's name as typed, not its id, and not as markup
    assert [as_shown(s.value) for s in at.success] == [f"Started sweep {name}."]
    assert "**page**" not in at.success[0].value
    (sweep,) = SweepStore(app_store).list()
    assert sweep.name == name and sweep.plan.trials == 2 and sweep.pid
    assert sweep.plan.space.fixed["dataset"] == "synthetic"
    deadline = time.monotonic() + 300
    while SweepStore(app_store).get(sweep.id).is_active and time.monotonic() < deadline:
        time.sleep(0.5)
    assert SweepStore(app_store).get(sweep.id).status == RunStatus.FINISHED
    assert len(app_store.sweep_runs(sweep.id)) == 2
    at.run()  # as the live part reruns: "Started sweep" stood beside the finished sweep
    assert not at.success and any("badge[finished]" in m.value for m in at.markdown)


def test_a_sweeps_name_and_message_are_shown_as_typed_not_as_markup(app_store):
    name = "**bold** [link](http://example.com) :red[x] <b>b</b>"
    sweeps = SweepStore(app_store)
    sweep_id = sweeps.create(SweepPlan(parse_space(SPACE), trials=1, name=name))
    sweeps.finish(sweep_id, RunStatus.FAILED, "driver said _this_ and `that`")
    at = open_page("pages/sweeps.py")
    assert not at.exception
    assert [as_shown(s.value) for s in at.subheader] == [name]
    assert as_shown(at.error[0].value) == "driver said _this_ and `that`"
    assert "\\*\\*bold\\*\\*" in at.subheader[0].value  # escaped, so Markdown shows the stars


def test_a_resume_notice_goes_once_the_sweep_has_ended_since(stored_sweep, app_store):
    ended_at = SweepStore(app_store).get(stored_sweep).ended_at
    at = open_page("pages/sweeps.py")
    at.session_state["sweeps_stop_result"] = (stored_sweep, "resumed", ended_at + 1)  # clicked after it ended
    assert any("Resumed: finished trials are kept" in info.value for info in at.run().info)
    at.session_state["sweeps_stop_result"] = (stored_sweep, "resumed", ended_at - 1)  # it ended after the click
    assert not any("Resumed" in info.value for info in at.run().info)  # "the rest run now" beside "finished"
