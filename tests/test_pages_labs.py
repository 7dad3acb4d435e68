"""The labs' pieces on the pages, under AppTest: a CSV on Train, CSV runs on Runs and Draw, the losses page."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from pages_helpers import app_store, as_shown, finished_run, open_page  # noqa: F401
from tabular_helpers import CLASSES, csv_bytes, pets_config, pets_frame

from core.insight import robustness_jobs
from core.runs.supervisor import execute_run
from core.training.checkpoints import CheckpointError
from core.training.tabular import MAX_CSV_BYTES, left_out_note, read_table, sha256


def csv_page(data: bytes, name: str = "pets.csv"):
    """The Train page switched to a CSV, with this file uploaded."""
    at = open_page("pages/train.py")
    at.segmented_control(key="train_source").set_value("CSV file").run()
    at.file_uploader(key="train_csv_file").set_value((name, data, "text/csv")).run()
    assert not at.exception, at.exception
    return at


def table_with(at, *columns: str):
    """The shown dataframe that has these columns (AppTest does not give dataframes their keys)."""
    found = [frame.value for frame in at.dataframe if set(columns) <= set(frame.value.columns)]
    return found[0] if found else None


def problem_messages(at) -> list[str]:
    """The listed problems, as a reader sees them."""
    return [as_shown(line.removeprefix("- ")) for block in at.markdown for line in block.value.splitlines()
            if line.startswith("- \u2060")]


def test_a_csv_is_previewed_checked_fixed_and_started(app_store):
    frame = pets_frame(120)
    frame.loc[[4, 9], "legs"] = np.nan
    data = csv_bytes(frame)
    at = csv_page(data)
    key = sha256(data)[:12]
    assert at.selectbox(key=f"train_csv_target_{key}").value == "animal"  # the last column
    assert table_with(at, "weight", "legs").columns.tolist() == ["weight", "legs", "colour", "animal"]
    # numbered from 1 below the header, as the checks and the Runs page count rows (it began at 0)
    assert table_with(at, "weight", "legs").index[:2].tolist() == [1, 2]
    messages = problem_messages(at)
    assert any(m.startswith("the feature 'colour' is not numeric") for m in messages)
    assert any(m.startswith("2 missing values in 2 of 120 rows") for m in messages)
    at.button(key="train_start").click().run()
    assert any("upload a CSV that passes its checks" in e.value for e in at.error)
    assert app_store.list_runs() == []
    at.checkbox(key=f"train_csv_onehot_{key}").check()
    at.checkbox(key=f"train_csv_drop_{key}").check().run()
    assert problem_messages(at) == []
    balance = table_with(at, "class", "rows", "share")
    assert balance["class"].tolist() == list(CLASSES) and balance["rows"].sum() == 118
    assert any("Split: 82 training, 18 validation and 18 test rows" in c.value for c in at.caption)
    at.text_input(key="train_name").set_value("pets from the page")
    at.button(key="train_start").click().run()
    (run,) = app_store.list_runs()
    table = run.config.csv
    assert (run.name, run.config.dataset, run.config.model, run.config.val_size) == ("pets from the page", "csv",
                                                                                      "mlp", 18)
    assert (table.name, table.target, table.one_hot, table.drop_missing, table.rows) == (
        "pets.csv", "animal", ("colour",), True, 118)
    assert (app_store.tables_dir / f"{table.sha256}.csv").read_bytes() == data


@pytest.mark.parametrize("data, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "Not usable: not a CSV file: it holds binary data"),
    (b"", "Not usable: the file is empty"),
    (b"a,b\n" + b"1,2\n" * (MAX_CSV_BYTES // 4), "Not usable: the file is 20.0 MB; the limit is 20 MB"),
    (b"**w**,**w**,label\n1,2,a\n", "Not usable: columns 1 and 2 are both named '**w**': give each column a name of "
                                     "its own in the first row."),
    (b"weight,,label\n1,0,a\n", "Not usable: column 2 of the header row has no name: name every column in the "
                                 "first row."),
], ids=["binary", "empty", "too-large", "same-name-twice", "unnamed-column"])
def test_a_file_that_is_not_a_usable_csv_says_why(app_store, data, message):
    at = csv_page(data)
    assert any(as_shown(e.value).startswith(message) for e in at.error), [e.value for e in at.error]
    at.button(key="train_start").click().run()
    assert app_store.list_runs() == []


def test_a_saved_row_index_is_left_out_with_a_note(app_store):
    data = pets_frame(40).drop(columns="colour").to_csv().encode()  # pandas' default: the index first, unnamed
    at = csv_page(data)
    assert not at.error
    assert left_out_note(read_table(data)) in [i.value for i in at.info]
    assert list(table_with(at, "weight").columns) == ["weight", "legs", "animal"]
    (target,) = [w for w in at.selectbox if w.key.startswith("train_csv_target")]
    assert target.options == ["weight", "legs", "animal"]

@pytest.mark.parametrize("change, message", [
    (lambda f: f.assign(animal="cat"), "the target 'animal' has a single class"),
    (lambda f: f.assign(animal=[f"id {i}" for i in range(len(f))]), "has 120 different values"),
], ids=["single-class", "hundreds-of-classes"])
def test_a_target_that_is_no_class_label_is_named(app_store, change, message):
    at = csv_page(csv_bytes(change(pets_frame(120)).drop(columns="colour")))
    assert any(message in m for m in problem_messages(at))


def test_csv_mode_offers_only_what_fits_a_table(app_store):
    at = csv_page(csv_bytes(pets_frame(40)))
    keys = {widget.key for kind in ("selectbox", "slider", "number_input", "button") for widget in at.get(kind)}
    assert at.selectbox(key="train_table_model").options == ["mlp"]
    assert not {"train_model", "train_dataset", "train_val_size", "train_augment_shift"} & keys
    assert not any(key.startswith("train_preset_") for key in keys)


@pytest.fixture
def table_run(app_store):
    run_id = app_store.create_run(pets_config(app_store, epochs=3), name="pets")
    assert execute_run(app_store, run_id) == "finished"
    return app_store, run_id


def select(at, rows: list[int]):
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_a_csv_run_on_runs_shows_its_class_names_wrong_rows_and_predicts_a_row(table_run):
    app_store, run_id = table_run
    finished_run(app_store, "digits")
    at = open_page("pages/runs.py")
    assert at.dataframe[0].value["data"].tolist() == ["synthetic", "csv: pets.csv"]
    at = select(at, [0, 1])
    assert not at.exception, at.exception
    figures = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    tested = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart") if "runs_confusion_" in chart.proto.id]
    confusion = [f for f in tested if f["data"][0]["type"] == "heatmap"]  # the Epochs tab has one more
    axes = sorted(tuple(f["data"][0]["x"]) for f in confusion)
    assert axes == sorted([CLASSES, tuple(str(d) for d in range(10))])
    per_class = [f for f in figures if f["layout"].get("scattermode") == "group"]
    assert sorted(tuple(f["data"][0]["x"]) for f in per_class) == axes  # one chart per set of classes
    titles = {f["layout"]["title"]["text"]: f["layout"]["xaxis"]["title"]["text"] for f in per_class}
    assert titles == {"Per-class test accuracy: synthetic": "class", "Per-class test accuracy: csv: pets.csv": "class"}
    wrong = table_with(at, "true", "predicted", "confidence")
    if app_store.get_run(run_id).evaluation.misclassified:
        assert {"true", "predicted", "confidence", "weight", "legs", "colour"} <= set(wrong.columns)
        assert set(wrong["true"]) <= set(CLASSES)
    answer = table_with(at, "class", "probability")
    assert sorted(answer["class"]) == list(CLASSES) and answer["probability"].sum() == pytest.approx(1.0)


def test_a_csv_run_whose_table_is_gone_says_so_with_the_file_name_as_typed(app_store):
    hostile = "**bold** :red[x] $y$.csv"
    config = pets_config(app_store, epochs=1)
    config = replace(config, csv=replace(config.csv, name=hostile))
    run_id = app_store.create_run(config, name="pets")
    assert execute_run(app_store, run_id) == "finished"
    at = select(open_page("pages/runs.py"), [0])
    assert not at.error and table_with(at, "class", "probability") is not None  # read, and cached
    (app_store.tables_dir / f"{config.csv.sha256}.csv").unlink()  # while the server runs
    at.run()
    assert not at.exception, at.exception
    errors = [error.value for error in at.error]
    for opening in ("Cannot show the test rows:", "Cannot predict with this run:"):
        shown = [as_shown(error) for error in errors if as_shown(error).startswith(opening)]
        assert shown and f"'{hostile}' is missing from the run store" in shown[0], errors
    assert not any("**bold**" in error or ":red[x]" in error for error in errors)  # all escaped, none rendered


def test_robustness_leaves_a_table_run_out_and_shows_why_a_computation_failed(table_run):
    app_store, _ = table_run
    image_run = finished_run(app_store, "digits")
    best = app_store.checkpoint_path(image_run, "best")
    best.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        robustness_jobs.compute(app_store, image_run)  # what the background job met
    at = select(open_page("pages/runs.py"), [0, 1])
    assert not at.exception, at.exception
    assert any(as_shown(c.value) == "Not measured: pets (trained on a table, and robustness perturbs images)."
               for c in at.caption), [c.value for c in at.caption]
    assert any(as_shown(e.value).startswith("Measuring digits failed: checkpoint is corrupt or truncated")
               for e in at.error), [e.value for e in at.error]
    assert at.button(key="runs_robustness_compute").label == "Compute robustness curves"  # the image run's alone


def test_draw_offers_image_models_only(table_run):
    app_store, _ = table_run
    image_run = finished_run(app_store, "digits")
    at = open_page("pages/draw.py")
    at.run()
    assert at.multiselect(key="draw_runs").value == [image_run]
    assert len(at.multiselect(key="draw_runs").options) == 1
    assert any("Predict a row" in c.value for c in at.caption)


def test_losses_page_shows_values_gradients_and_paths(app_store):
    at = open_page("pages/losses.py")
    assert not at.exception
    table = table_with(at, "loss", "d loss / d prediction")
    assert table.set_index("loss").loc["MSE", "value"] == pytest.approx(2.25)  # prediction 2, target 0.5
    assert table.set_index("loss").loc["MSE", "d loss / d prediction"] == pytest.approx(3.0)
    at.slider(key="losses_prediction").set_value(1.0).run()
    assert table_with(at, "loss", "d loss / d prediction").set_index("loss").loc["Huber", "value"] == \
        pytest.approx(0.125)
    update = table_with(at, "quantity", "formula")
    assert update["quantity"].tolist()[:2] == ["θ", "g"] and update["quantity"].tolist()[-1] == "θ'"
    at.slider(key="losses_step").set_value(0).run()  # the start: no update to show
    assert any(c.value.startswith("Step 0 is the start, before any update") for c in at.caption)
    at.slider(key="losses_step").set_value(1)
    at.selectbox(key="losses_update_optimizer").set_value("adam").run()
    update = table_with(at, "quantity", "formula").set_index("quantity")
    assert update.loc["θ", "x"] == -2.5 and update.loc["θ'", "x"] == pytest.approx(-2.4)  # Adam's first step: lr
    at.selectbox(key="losses_surface").set_value("rosenbrock").run()
    assert not at.exception and len(at.get("plotly_chart")) >= 3
    paths = next(f for f in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                 if f["layout"].get("title", {}).get("text", "").startswith("Rosenbrock"))
    assert paths["layout"]["yaxis"]["scaleanchor"] == "x"  # a unit as long on both axes: circles stay circles


def test_a_link_to_a_table_run_on_draw_says_where_it_predicts(table_run):
    app_store, run_id = table_run
    finished_run(app_store, "digits")
    at = open_page("pages/draw.py")
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    assert any("was trained on a table, not on images: predict a row of it on the Runs page" in as_shown(i.value)
               for i in at.info)
