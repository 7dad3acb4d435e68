"""The Runs and Train pages under AppTest: resume, fork, repeat with seeds, seed groups, the verdict, epochs."""
from __future__ import annotations

import base64
import json
from dataclasses import replace

import numpy as np
import pytest
from pages_helpers import (  # noqa: F401
    app_store,
    as_shown,
    finished_run,
    live_charts,
    open_page,
    tiny_run_config,
    wait_until_ended,
)
from tabular_helpers import CLASSES, pets_config

from core.comparison.flips import Side, count_kinds, flips
from core.comparison.verdict import verdict
from core.runs import continuation
from core.runs.supervisor import execute_run
from core.training.data import load_validation_images
from core.training.events import BatchEnded


@pytest.fixture(autouse=True)
def flush_every_batch(monkeypatch):
    """A stop request is read at each flush: flushing every batch makes a stop at step N land at N, on any machine."""
    monkeypatch.setattr("core.runs.recorder.FLUSH_INTERVAL_S", 0.0)


def select(at, rows: list[int]):
    """Select table rows the way a click would (AppTest cannot click a dataframe)."""
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def shown(element) -> str:
    """An element's text as the user reads it: without the escapes that keep it plain (ui.text)."""
    return element.value.replace("\\", "").replace("\u2060", "")


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def values(data) -> list:
    """A Plotly array from a chart's JSON: a list, or numpy's bytes in base64."""
    if isinstance(data, dict):
        array = np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
        return array.reshape([int(n) for n in str(data.get("shape", len(array))).split(",")]).tolist()
    return list(data)


def chart_spec(at, key: str) -> dict:
    """A chart's figure as the browser gets it: a live chart's whole figure (ui.live_chart), or a Plotly chart's."""
    live = live_charts(at)
    if key in live:
        return live[key]["figure"]
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id).proto.spec)


def stopped_run(store, name: str, stop_step: int, **overrides) -> str:
    """A run asked to stop at a step, in this process: it ends stopped with its earlier epochs checkpointed."""
    run_id = store.create_run(tiny_run_config(**overrides), name=name)

    def stop(item):
        if isinstance(item, BatchEnded) and item.step == stop_step:
            store.request_stop(run_id)

    assert execute_run(store, run_id, on_item=stop) == "stopped"
    return run_id


def test_resume_from_the_page_continues_the_same_run(app_store):
    run_id = stopped_run(app_store, "halfway", stop_step=12, epochs=3)  # 8 steps an epoch: inside epoch 2
    at = select(open_page("pages/runs.py"), [0])
    assert at.number_input(key=f"runs_resume_epochs_{run_id}").value == 3
    at.number_input(key=f"runs_resume_epochs_{run_id}").set_value(4).run()
    at.button(key=f"runs_resume_{run_id}").click().run()
    assert not at.exception
    assert any("goes on after epoch 1, to epoch 4" in s.value for s in at.success)
    assert wait_until_ended(app_store, run_id) == "finished"
    run = app_store.get_run(run_id)
    assert (run.config.epochs, run.summary.epochs_completed) == (4, 4)
    steps = [m.step for m in app_store.read_metrics(run_id)[0] if (m.split, m.name) == ("train", "loss")]
    assert steps == list(range(1, 4 * 8 + 1))


def test_resume_is_refused_while_a_run_is_queued_and_for_a_finished_run_without_more_epochs(app_store):
    done = finished_run(app_store, "done", epochs=1)
    queued = app_store.create_run(tiny_run_config(), name="waiting")
    at = select(open_page("pages/runs.py"), [0])  # newest first: the queued one
    assert at.button(key=f"runs_resume_{queued}").disabled
    assert any("stop it first" in c.value for c in at.caption)
    at = select(open_page("pages/runs.py"), [1])
    at.number_input(key=f"runs_resume_epochs_{done}").set_value(1).run()
    at.button(key=f"runs_resume_{done}").click().run()
    assert any("has trained 1 of its 1 epochs" in shown(e) for e in at.error)
    assert app_store.get_run(done).status == "finished"


def test_fork_from_the_page_queues_a_child_drawn_from_the_branch_point(app_store):
    parent = finished_run(app_store, "parent", epochs=3)
    at = select(open_page("pages/runs.py"), [0])
    at.selectbox(key=f"runs_fork_epoch_{parent}").set_value(2).run()
    at.select_slider(key=f"runs_fork_lr_{parent}").set_value(1e-4)
    at.text_input(key=f"runs_fork_name_{parent}").set_value("slower")
    button(at, "Fork").click().run()
    assert not at.exception and any("Forked at epoch 2" in s.value for s in at.success)
    (child,) = app_store.children(parent)
    assert (child.name, child.parent_epoch, child.config.lr, child.config.epochs) == ("slower", 2, 1e-4, 3)
    assert wait_until_ended(app_store, child.id) == "finished"
    at = select(open_page("pages/runs.py"), [0])  # the child only: its parent's run is drawn to the fork, dashed
    lineage = at.dataframe[1].value
    assert lineage[["relation", "run", "epoch"]].values.tolist() == [["parent", "parent", 2]]
    spec = chart_spec(at, "runs_curves")
    traces = {trace.get("name"): trace for trace in spec["data"]}
    assert min(values(traces["slower"]["x"])) == 2 * 8 + 1 and max(values(traces["slower"]["x"])) == 3 * 8
    assert max(values(traces["parent (parent, to epoch 2)"]["x"])) == 2 * 8
    assert traces["parent (parent, to epoch 2)"]["line"]["dash"] == "dash"
    assert [shape["x0"] for shape in spec["layout"]["shapes"]] == [2 * 8]
    spec = chart_spec(select(open_page("pages/runs.py"), [0, 1]), "runs_curves")
    both = [trace.get("name") for trace in spec["data"]]
    assert both.index("slower") > both.index("parent")  # drawn after, on top: it lay hidden under its parent


def test_a_fork_the_settings_cannot_allow_shows_why_and_creates_nothing(app_store):
    parent = finished_run(app_store, "parent", epochs=3)
    at = select(open_page("pages/runs.py"), [0])
    at.selectbox(key=f"runs_fork_epoch_{parent}").set_value(3).run()
    at.number_input(key=f"runs_fork_epochs_{parent}_3").set_value(3)
    button(at, "Fork").click().run()
    assert any("epochs: a fork from epoch 3 needs more epochs than that, got 3" in shown(e) for e in at.error)
    assert app_store.children(parent) == []


def test_repeat_with_seeds_queues_a_seed_group(app_store):
    run_id = finished_run(app_store, "base", epochs=1)
    at = select(open_page("pages/runs.py"), [0])
    at.text_input(key=f"runs_seeds_{run_id}").set_value("1 x").run()
    at.button(key=f"runs_repeat_{run_id}").click().run()
    assert any("Seeds: write whole numbers or ranges such as 0-4, got 'x'" in shown(e) for e in at.error)
    assert len(app_store.list_runs()) == 1
    at.text_input(key=f"runs_seeds_{run_id}").set_value("0").run()
    at.button(key=f"runs_repeat_{run_id}").click().run()
    assert any("Seeds: give at least one (this run has that seed already)" in shown(e) for e in at.error)
    at.text_input(key=f"runs_seeds_{run_id}").set_value("0-2").run()
    at.button(key=f"runs_repeat_{run_id}").click().run()
    assert any("Queued 2 runs, one per seed (seed 0 is this run's own)." in s.value for s in at.success)
    repeats = [run for run in app_store.list_runs() if run.id != run_id]
    assert sorted((run.name, run.config.seed) for run in repeats) == [("base seed 1", 1), ("base seed 2", 2)]
    assert all(replace(run.config, seed=0) == app_store.get_run(run_id).config for run in repeats)
    for run in repeats:
        assert wait_until_ended(app_store, run.id) == "finished"


def test_seed_groups_draw_bands_and_the_verdict_matches_a_direct_computation(app_store):
    ids = {(lr, seed): finished_run(app_store, f"lr{lr}-s{seed}", lr=lr, seed=seed, epochs=1)
           for lr in (1e-2, 1e-6) for seed in (0, 1)}
    at = select(open_page("pages/runs.py"), [0, 1, 2, 3])
    at.toggle(key="runs_grouped").set_value(True).run()
    spec = chart_spec(at, "runs_curves")
    names = [trace.get("name") for trace in spec["data"]]
    assert "lr=1e-06 (n=2)" in names and "lr=0.01 (n=2)" in names
    assert sum(trace.get("fill") == "tonexty" for trace in spec["data"]) == 2  # one band per group
    table = at.dataframe[-1].value  # the Seed groups tab's table
    assert table["runs"].tolist() == [2, 2] and sorted(table["seeds"]) == ["0 1", "0 1"]
    assert sorted(table["run names"]) == sorted(", ".join(app_store.get_run(ids[(lr, s)]).name for s in (0, 1))
                                                for lr in (1e-2, 1e-6))
    groups = table["group"].tolist()
    at.selectbox(key="runs_verdict_a").set_value(groups.index("lr=0.01")).run()
    at.selectbox(key="runs_verdict_b").set_value(groups.index("lr=1e-06")).run()
    tested = {lr: [app_store.get_run(ids[(lr, s)]).summary.test_accuracy for s in (0, 1)] for lr in (1e-2, 1e-6)}
    direct = verdict(tested[1e-2], tested[1e-6])
    assert shown(at.info[-1]) == direct.explanation and direct.outcome == "A is better"
    assert ":green-badge[A is better]" in [m.value for m in at.markdown]


def test_the_epochs_tab_scrubs_the_confusion_matrix_and_counts_flipped_digits(app_store):
    run_id = finished_run(app_store, "scrub", epochs=3, lr=3e-5)  # slow: predictions change
    at = select(open_page("pages/runs.py"), [0])
    validations = app_store.validations(run_id)
    assert [v.epoch for v in validations] == [1, 2, 3]
    at.select_slider(key=f"runs_epoch_{run_id}").set_value(1).run()
    confusion = chart_spec(at, "runs_epoch_confusion")["data"][0]["text"]
    assert values(confusion) == validations[0].confusion
    at.select_slider(key=f"runs_flips_{run_id}").set_value((1, 3)).run()
    config = app_store.get_run(run_id).config
    _, labels, indices = load_validation_images(config.dataset, config.val_size, config.seed)
    changed, shared = flips(Side(indices, labels, validations[0].predictions),
                            Side(indices, labels, validations[2].predictions))
    counts = count_kinds(changed)
    assert shared == 100 and changed  # an early epoch and a later one disagree somewhere
    assert any(c.value.startswith(f"{len(changed)} of 100 validation examples changed their prediction from epoch 1 "
                                  f"to epoch 3: {counts['fixed']} fixed, {counts['broken']} broken")
               for c in at.caption)
    gallery = at.get("image")[0]  # the Epochs tab's, before the Misclassified tab's
    assert gallery.captions[0] == f"true {changed[0].label}: {changed[0].before} -> {changed[0].after}"


def test_train_page_repeat_over_seeds_queues_one_run_per_seed(app_store):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("synthetic")
    at.number_input(key="train_val_size").set_value(100)
    at.slider(key="train_epochs").set_value(1)
    at.selectbox(key="train_model").set_value("mlp")
    at.text_input(key="train_seeds").set_value("3-4").run()
    at.button(key="train_start").click().run()
    assert any("Queued 2 runs, one per seed: 3 4" in as_shown(t.value) for t in at.toast)
    runs = app_store.list_runs()
    assert sorted((run.name, run.config.seed) for run in runs) == [("mlp seed 3", 3), ("mlp seed 4", 4)]
    for run in runs:
        assert wait_until_ended(app_store, run.id) == "finished"
    at.text_input(key="train_seeds").set_value("4-3").run()
    at.button(key="train_start").click().run()
    assert any("Not started: Repeat over seeds" in shown(e) for e in at.error) and len(app_store.list_runs()) == 2
    for typed, reason in (("0-300", "at most 100 at once, got 301"),
                          ("1 1 1", "give each once; 1 came more than once")):
        at.text_input(key="train_seeds").set_value(typed).run()
        at.button(key="train_start").click().run()
        assert any(f"Repeat over seeds: {reason}" in shown(e) for e in at.error), [shown(e) for e in at.error]
    assert len(app_store.list_runs()) == 2


@pytest.mark.parametrize("epochs", [2])
def test_lineage_lists_the_children_of_a_parent(app_store, epochs):
    parent = finished_run(app_store, "parent", epochs=epochs)
    first = continuation.fork(app_store, parent, 1, {"lr": 1e-4}, name="first")
    second = continuation.fork(app_store, parent, 2, {"lr": 1e-4, "epochs": 3}, name="second")
    at = select(open_page("pages/runs.py"), [2])  # the parent, oldest
    lineage = at.dataframe[1].value
    assert lineage[["relation", "run", "epoch"]].values.tolist() == [["child", "first", 1], ["child", "second", 2]]
    assert {first, second} == {run.id for run in app_store.children(parent)}


def test_a_csv_runs_epochs_show_its_class_names_and_its_flipped_rows(app_store):
    run_id = app_store.create_run(pets_config(app_store, epochs=3, lr=1e-3), name="pets")
    assert execute_run(app_store, run_id) == "finished"
    at = select(open_page("pages/runs.py"), [0])
    spec = chart_spec(at, "runs_epoch_confusion")
    assert spec["data"][0]["x"] == list(CLASSES)
    validations = app_store.validations(run_id)
    at.select_slider(key=f"runs_flips_{run_id}").set_value((1, 3)).run()
    first, last = validations[0].predictions, validations[2].predictions
    changed = sum(a != b for a, b in zip(first, last))
    assert any(shown(c).startswith(f"{changed} of 36 validation examples changed") for c in at.caption)
    if changed:
        rows = next(frame.value for frame in at.dataframe if "before" in frame.value.columns)
        assert len(rows) == changed and set(rows["true"]) <= set(CLASSES)
        assert rows.index.name == "row" and {"weight", "legs", "colour", "animal"} <= set(rows.columns)
