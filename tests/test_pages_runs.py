"""The Runs page under AppTest: the table, filters, comparison, editing and deleting."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from pages_helpers import (  # noqa: F401
    APP,
    app_store,
    as_shown,
    chart_traces,
    finished_run,
    live_charts,
    open_page,
    tiny_run_config,
)
from streamlit.testing.v1 import AppTest
from test_final_test import stop_after_steps

from core.runs.records import RunSummary
from core.runs.series import metrics_frame
from core.runs.supervisor import execute_run
from ui.charts import run_color
from ui.live_panel import live_curves


def select(at, rows: list[int]):
    """Select table rows the way a click would (AppTest cannot click a dataframe)."""
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


@pytest.fixture
def two_runs(app_store):
    """Two finished runs that differ only in the learning rate; newest ('fast') first in the table."""
    slow = finished_run(app_store, "slow", lr=1e-3)
    fast = finished_run(app_store, "fast", lr=3e-3)
    return app_store, slow, fast


def test_empty_store_points_to_train(app_store):
    at = open_page("pages/runs.py")
    assert any("No runs yet" in info.value for info in at.info)


def test_table_lists_every_run_with_its_results(two_runs):
    app_store, slow, fast = two_runs
    at = open_page("pages/runs.py")
    table = at.dataframe[0].value
    assert table["name"].tolist() == ["fast", "slow"]
    assert table["test acc"].tolist() == [round(app_store.get_run(fast).summary.test_accuracy, 4),
                                          round(app_store.get_run(slow).summary.test_accuracy, 4)]
    assert {"status", "model", "optimizer", "lr", "batch", "epochs", "best val acc", "duration (s)",
            "created", "tags"} <= set(table.columns)
    trained = [app_store.get_run(run_id).summary.epochs_completed for run_id in (fast, slow)]
    assert table["epochs"].tolist() == trained and trained[0] > 0  # trained, not planned: a number, sorted as one
    stopped = replace(app_store.get_run(slow), summary=RunSummary(epochs_completed=1))
    assert stopped.epochs_label == f"1 of {stopped.config.epochs}"  # as `runs` lists an early stop


def percent_columns(table) -> dict[str, float | None]:
    """Each column shown as a percent, with the step that fixes its decimals (None: the digits vary)."""
    config = json.loads(table.proto.columns)
    return {name: column["type_config"].get("step") for name, column in config.items()
            if column.get("type_config", {}).get("format") == "percent"}


def test_accuracies_show_two_decimals_in_every_table(two_runs):
    # "percent" alone trims zeros: 86.6% stood beside 86.12% in one column
    app_store, _, fast = two_runs
    app_store.set_summary(fast, replace(app_store.get_run(fast).summary, test_accuracy=0.90149998))
    at = select(open_page("pages/runs.py"), [0, 1])
    # the column cuts off the digits past its step: rounded first, it reads 90.15% as everywhere else
    assert at.dataframe[0].value["test acc"].tolist()[0] == at.dataframe[2].value["test acc"].tolist()[0] == 0.9015
    runs_table, results = at.dataframe[0], at.dataframe[2]
    assert percent_columns(runs_table) == {"best val acc": 0.0001, "test acc": 0.0001, "drawn acc": 0.0001}
    assert percent_columns(results) == {"best val acc": 0.0001, "test acc": 0.0001, "drawn-style acc": 0.0001}

def test_filters_narrow_the_table(two_runs):
    app_store, slow, _ = two_runs
    app_store.set_tags(slow, ["keep"])
    at = open_page("pages/runs.py")
    at.text_input(key="runs_search").set_value("FAS").run()
    assert at.dataframe[0].value["name"].tolist() == ["fast"]
    at.text_input(key="runs_search").set_value("").run()
    at.multiselect(key="runs_tag").set_value(["keep"]).run()
    assert at.dataframe[0].value["name"].tolist() == ["slow"]
    at.multiselect(key="runs_status").set_value(["failed"]).run()
    assert at.dataframe[0].value.empty


def test_selected_runs_are_compared_side_by_side(two_runs):
    at = select(open_page("pages/runs.py"), [0, 1])
    assert not at.exception
    settings = at.dataframe[1].value  # only the settings that differ
    assert settings.index.tolist() == ["lr"] and settings.columns.tolist() == ["fast", "slow"]
    traces = chart_traces(live_charts(at)["runs_curves"])
    assert {"fast", "slow", "fast (raw)", "slow (raw)"} <= set(traces)
    assert len(at.get("plotly_chart")) == 4  # per-class accuracy, two confusion matrices, one epoch's
    at.toggle(key="runs_all_config").set_value(True).run()
    assert len(at.dataframe[1].value) == len(tiny_run_config().to_dict())


def test_smoothing_and_axes_controls_render(two_runs):
    at = select(open_page("pages/runs.py"), [0, 1])
    at.selectbox(key="runs_metric").set_value(("val", "accuracy"))
    at.slider(key="runs_smoothing").set_value(0.0)
    at.toggle(key="runs_log_y").set_value(True).run()
    assert not at.exception
    assert live_charts(at)["runs_curves"]["figure"]["layout"]["yaxis"]["type"] == "log"


def test_validation_values_are_never_smoothed_and_a_run_keeps_its_colour_in_any_selection(two_runs):
    app_store, slow, _ = two_runs
    at = select(open_page("pages/runs.py"), [0, 1])
    at.selectbox(key="runs_metric").set_value(("val", "accuracy")).run()
    assert at.slider(key="runs_smoothing").value == 0.6
    traces = chart_traces(live_charts(at)["runs_curves"])
    stored = [m.value for m in app_store.read_metrics(slow)[0] if (m.split, m.name) == ("val", "accuracy")]
    assert traces["slow"]["y"] == stored and "slow (raw)" not in traces
    both = traces["slow"]["line"]["color"]
    alone = chart_traces(live_charts(select(at, [1]))["runs_curves"])["slow"]["line"]["color"]
    assert both == alone == run_color(slow)


def test_a_smoothed_training_loss_says_so_beside_a_loss_without_it(app_store):
    finished_run(app_store, "plain")
    smoothed = finished_run(app_store, "smoothed", label_smoothing=0.1)
    at = select(open_page("pages/runs.py"), [0, 1])  # train loss, the chart's first metric
    note = "The training loss of smoothed includes label smoothing"
    assert sum(as_shown(c.value).startswith(note) for c in at.caption) == 1
    at.segmented_control(key="runs_view").set_value("grid").run()
    assert sum(as_shown(c.value).startswith(note) for c in at.caption) == 1  # once, under the grid's key
    frame = metrics_frame(app_store.read_metrics(smoothed)[0])
    names = [curve.name for curve in live_curves(app_store.get_run(smoothed), frame, "loss")]
    assert names[:2] == ["train (per batch, label smoothing 0.1)", "train (epoch mean, label smoothing 0.1)"]
    assert live_curves(app_store.get_run(smoothed), frame, "accuracy")[0].name == "train (per batch)"


def test_the_grid_shows_every_metric_at_once(two_runs):
    at = select(open_page("pages/runs.py"), [0, 1])
    at.segmented_control(key="runs_view").set_value("grid").run()
    assert not at.exception
    charts = live_charts(at)
    assert {"runs_grid_train_loss", "runs_grid_val_accuracy", "runs_grid_train_lr",
            "runs_grid_train_epoch_seconds"} <= set(charts) and "runs_curves" not in charts
    for payload in charts.values():
        assert {"fast", "slow"} <= set(chart_traces(payload))


def test_rename_tag_and_note_a_run(two_runs):
    app_store, slow, _ = two_runs
    at = select(open_page("pages/runs.py"), [1])
    at.text_input(key=f"runs_name_{slow}").set_value("renamed")
    at.text_input(key=f"runs_tags_{slow}").set_value("a, b")
    at.text_area(key=f"runs_notes_{slow}").set_value("lr too low")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    run = app_store.get_run(slow)
    assert (run.name, run.tags, run.notes) == ("renamed", ("a", "b"), "lr too low")
    assert any("Saved" in s.value for s in at.success)
    assert [toast.value for toast in at.toast] == [s.value for s in at.success]  # seen from the Save button too


def test_a_note_typed_while_a_run_is_queued_elsewhere_is_saved_and_the_selection_kept(two_runs):
    app_store, slow, _ = two_runs
    at = select(open_page("pages/runs.py"), [1])
    at.text_area(key=f"runs_notes_{slow}").set_value("lr too low")
    app_store.create_run(tiny_run_config(), name="queued from the CLI")  # a new row: the table is drawn anew
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert not at.exception
    assert app_store.get_run(slow).notes == "lr too low"  # it was dropped, with the selection, and nothing said
    assert at.dataframe[0].value["name"].tolist() == ["queued from the CLI", "fast", "slow"]
    assert at.text_area(key=f"runs_notes_{slow}").value == "lr too low"  # still the run managed below


def test_a_link_ticks_its_run_once_and_a_filter_keeps_the_selection(two_runs):
    app_store, slow, fast = two_runs
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.query_params["run"] = slow  # as the Sweeps page links a trial
    at.switch_page("pages/runs.py").run()
    assert at.dataframe[0].value["name"].tolist() == ["fast", "slow"]
    assert [t.key for t in at.text_area] == [f"runs_notes_{slow}"]  # ticked: its Manage panel is there
    assert "run" not in at.query_params  # applied once, then dropped
    at = select(at, [0])  # the user ticks fast instead
    app_store.create_run(tiny_run_config(), name="queued elsewhere")  # the rows change, the table is new
    at.run()
    assert [t.key for t in at.text_area] == [f"runs_notes_{fast}"]  # not slow again, by the link
    at.text_input(key="runs_search").set_value("slow").run()  # a filter hides the ticked run...
    at.text_input(key="runs_search").set_value("").run()
    assert [t.key for t in at.text_area] == [f"runs_notes_{fast}"]  # ...and it comes back ticked


def test_saving_in_one_tab_keeps_what_another_tab_saved_meanwhile(two_runs):
    app_store, slow, _ = two_runs
    at = select(open_page("pages/runs.py"), [1])  # this tab opens the form
    app_store.rename(slow, "renamed by B")  # another tab saves a new name and tags
    app_store.set_tags(slow, ["keep"])
    at.text_area(key=f"runs_notes_{slow}").set_value("a note from A")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    run = app_store.get_run(slow)
    assert (run.name, run.tags, run.notes) == ("renamed by B", ("keep",), "a note from A")
    assert [as_shown(s.value) for s in at.success] == ["Saved 'renamed by B'."]
    assert at.text_input(key=f"runs_name_{slow}").value == "renamed by B"  # the form opens again on the store


def test_deleting_says_what_else_it_changes(two_runs):
    app_store, slow, fast = two_runs
    config = app_store.get_run(slow).config
    app_store.create_run(config, name="branch", parent_id=slow, parent_epoch=1)
    with app_store.transaction() as db:  # what a sweep's driver sets on its trials
        db.execute("UPDATE runs SET sweep_id='s1', trial_number=3 WHERE id=?", (fast,))
    at = open_page("pages/runs.py")
    slow_row = at.dataframe[0].value["name"].tolist().index("slow")
    fast_row = at.dataframe[0].value["name"].tolist().index("fast")
    shown = [as_shown(c.value) for c in select(at, [slow_row]).caption]
    assert any(c.startswith("1 run was forked from it (branch): it keeps its own checkpoints") for c in shown)
    shown = [as_shown(c.value) for c in select(at, [fast_row]).caption]
    assert "It is trial #3 of a sweep: the sweep's table and charts lose it." in shown


def test_downloads_offer_metrics_the_best_checkpoint_onnx_and_tensorboard_logs(two_runs):
    _, _slow, _ = two_runs
    at = select(open_page("pages/runs.py"), [1])
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Metrics (CSV)", "Best checkpoint", "ONNX model", "TensorBoard logs (1 run)"]


def test_a_run_stopped_in_its_first_epoch_offers_its_last_checkpoint_and_its_test_figures(app_store, monkeypatch):
    run_id = app_store.create_run(tiny_run_config(batch_size=1, epochs=3), name="stopped")
    assert execute_run(app_store, run_id, on_item=stop_after_steps(app_store, run_id, 5, monkeypatch)) == "stopped"
    at = select(open_page("pages/runs.py"), [0])
    labels = [button.proto.label for button in at.get("download_button")]
    assert labels == ["Metrics (CSV)", "Last checkpoint (stopped at epoch 1)", "ONNX model", "TensorBoard logs (1 run)"]
    assert not any("No checkpoint" in caption.value for caption in at.caption)
    results = at.dataframe[2].value
    assert results["tested"].tolist() == ["last checkpoint, stopped at epoch 1"]
    assert results["test acc"].tolist() == [round(app_store.get_run(run_id).summary.test_accuracy, 4)]


def test_a_run_cancelled_before_it_started_says_why_it_has_nothing(app_store):
    run_id = app_store.create_run(tiny_run_config(), name="cancelled")
    app_store.request_stop(run_id)
    at = select(open_page("pages/runs.py"), [0])
    assert any(as_shown(caption.value) == "No checkpoint: it was cancelled before its first epoch ended."
               for caption in at.caption)
    assert any("cancelled: not evaluated: stopped before the first epoch" in as_shown(info.value) for info in at.info)
    assert any(caption.value == "train loss (per batch): no points yet." for caption in at.caption)
    assert not live_charts(at)  # no empty chart with made-up axes


def test_delete_needs_confirmation(two_runs):
    app_store, slow, fast = two_runs
    at = select(open_page("pages/runs.py"), [1])
    assert at.button(key=f"runs_delete_{slow}").disabled
    at.checkbox(key=f"runs_confirm_{slow}").check().run()
    at.button(key=f"runs_delete_{slow}").click().run()
    assert [run.id for run in app_store.list_runs()] == [fast]
    assert at.dataframe[0].value["name"].tolist() == ["fast"]


def test_deleting_an_active_run_shows_why_not(app_store):
    queued = app_store.create_run(tiny_run_config(), name="waiting")
    at = select(open_page("pages/runs.py"), [0])
    at.checkbox(key=f"runs_confirm_{queued}").check().run()
    at.button(key=f"runs_delete_{queued}").click().run()
    assert any("stop it before deleting" in as_shown(error.value) for error in at.error)
    assert app_store.get_run(queued).status == "queued"


def test_gallery_shows_misclassified_test_images_with_labels(app_store):
    run_id = finished_run(app_store, "untrained", lr=1e-5, epochs=1)  # too little training: many mistakes
    wrong = app_store.get_run(run_id).evaluation.misclassified
    at = select(open_page("pages/runs.py"), [0])
    [gallery] = at.get("image")
    captions = gallery.captions
    first = wrong[0]
    assert captions[0] == f"true {first.label} -> {first.predicted} ({first.confidence:.0%})"
    assert len(captions) == min(len(wrong), 30)


def test_an_edit_that_cannot_be_stored_is_named_and_nothing_is_saved(two_runs):
    app_store, slow, _ = two_runs
    name = app_store.get_run(slow).name
    at = select(open_page("pages/runs.py"), [1])
    at.text_input(key=f"runs_name_{slow}").set_value("renamed")
    at.text_input(key=f"runs_tags_{slow}").set_value("ok, " + "t" * 41)
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert [as_shown(e.value) for e in at.error] == ["tag 'tttttttttttttttttttt...': 41 characters; at most 40"]
    assert (app_store.get_run(slow).name, app_store.get_run(slow).tags) == (name, ())


def test_a_run_whose_folder_was_deleted_by_hand_says_so(two_runs):
    import shutil

    app_store, slow, _ = two_runs
    shutil.rmtree(app_store.run_dir(slow))
    at = select(open_page("pages/runs.py"), [1])
    shown = [as_shown(caption.value) for caption in at.caption]
    folder = app_store.run_dir(slow)
    assert f"No checkpoint: its folder {folder} is missing (deleted outside the app), and its checkpoints with it." \
        in shown
    assert f"Nothing to fork from: its folder {folder} is missing (deleted outside the app), and its checkpoints " \
        "with it." in shown
