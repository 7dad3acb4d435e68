"""The Inside page and the Runs page's robustness tab under AppTest, checked against core's own results."""
from __future__ import annotations

import json
import time

import numpy as np
from pages_helpers import app_store, as_shown, finished_run, open_page  # noqa: F401

from core.insight import robustness_jobs
from core.insight.inside import look_inside
from core.insight.preprocess import to_tensor
from core.runs.records import RunSummary
from core.training.checkpoints import load_model
from core.training.data import load_test_images, load_test_labels
from ui.charts import run_color


def select(at, rows: list[int]):
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def test_without_models_it_asks_for_a_training_run(app_store):
    at = open_page("pages/inside.py")
    assert any("No trained model yet" in info.value for info in at.info)


def test_nothing_drawn_points_to_the_draw_page(app_store):
    finished_run(app_store, "model")
    at = open_page("pages/inside.py")
    assert any("Nothing drawn yet" in info.value for info in at.info)
    assert not at.get("image")


def test_a_run_stopped_in_its_first_epoch_is_offered_as_on_draw(app_store):
    # Draw showed a run stopped before its first epoch ended (its last checkpoint); Inside dropped it
    stopped = finished_run(app_store, "stopped early")
    app_store.checkpoint_path(stopped, "best").rename(app_store.checkpoint_path(stopped, "last"))
    at = open_page("pages/inside.py")
    assert at.multiselect(key="inside_runs").options == ["stopped early (bars, not digits)"]  # as Draw names it
    at.multiselect(key="inside_runs").set_value([stopped]).run()
    at.segmented_control(key="inside_source").set_value("Test image").run()
    assert not at.exception and not at.error
    assert any(text.value.startswith("stopped early (bars, not digits): reads ") for text in at.text)


def test_a_test_image_is_looked_at_by_every_view(app_store):
    run_id = finished_run(app_store, "mlp one")
    at = open_page("pages/inside.py")
    at.segmented_control(key="inside_source").set_value("Test image").run()
    at.number_input(key="inside_test_index").set_value(7).run()
    assert not at.exception
    truth = int(load_test_labels("mnist")[7])
    assert any(f"MNIST test image #7 (a {truth})" in str(image.proto) for image in at.get("image"))
    model = load_model(app_store.checkpoint_path(run_id, "best"))[0]
    view = look_inside(model, to_tensor(load_test_images("mnist")[7].numpy() / 255.0))
    # trained on the synthetic bars, it says so beside its answer
    assert any(f"mlp one (bars, not digits): reads {view.label} (" in text.value for text in at.text)
    # 3 evidence maps, 3 layers (Linear, ReLU, Linear), the hidden activations and the top units' weights
    assert len(at.get("image")) == 1 + 3 + len(view.layers) + 2  # and the input itself
    captions = " ".join(str(image.proto) for image in at.get("image"))
    assert "integrated gradients" in captions and "net.1 (Linear): 128 units" in captions


def test_models_side_by_side_on_a_drawn_digit(app_store):
    first = finished_run(app_store, "first")
    second = finished_run(app_store, "second", model="cnn", epochs=1)
    at = open_page("pages/inside.py")
    at.session_state["draw_seen_image"] = np.pad(np.ones((20, 4), dtype=np.float32), ((4, 4), (12, 12)))
    at.multiselect(key="inside_runs").set_value([first, second]).run()
    assert not at.exception
    assert sum(": reads " in text.value for text in at.text) == 8  # a header per model in each of 4 places
    captions = " ".join(str(image.proto) for image in at.get("image"))
    assert "conv1 (Conv2d): 32 maps of 28x28" in captions and "pool (2) (MaxPool2d)" in captions
    assert "32 filters (3x3)" in captions and ".png" in captions


def test_a_misclassified_image_comes_from_the_runs_gallery(app_store):
    run_id = finished_run(app_store, "model")
    app_store.get_run(run_id)
    at = open_page("pages/inside.py")
    at.segmented_control(key="inside_source").set_value("Misclassified").run()
    # a synthetic-data run has no MNIST gallery: said, not a traceback
    assert any("misclassified MNIST test images" in info.value for info in at.info)


def test_runs_table_shows_drawn_style_accuracy(app_store):
    run_id = finished_run(app_store, "model")
    app_store.set_summary(run_id, RunSummary(test_accuracy=0.99, drawn_accuracy=0.9512))
    at = open_page("pages/runs.py")
    assert at.dataframe[0].value["drawn acc"].tolist() == [0.9512]


def test_robustness_tab_offers_to_compute_then_shows_a_chart_per_perturbation(app_store):
    first = finished_run(app_store, "first")
    second = finished_run(app_store, "second", lr=3e-3)
    at = select(open_page("pages/runs.py"), [0, 1])
    assert at.button(key="runs_robustness_compute").label == "Compute robustness curves for 2 runs"
    charts_before = len(at.get("plotly_chart"))
    at.button(key="runs_robustness_compute").click().run()
    deadline = time.monotonic() + 300
    while not all(robustness_jobs.stored_curves(app_store, run_id) for run_id in (first, second)):
        assert time.monotonic() < deadline, "the background job did not finish"
        time.sleep(0.5)
    while any(robustness_jobs.progress(app_store, run_id) for run_id in (first, second)):
        assert time.monotonic() < deadline, "the background job did not clear its progress"
        time.sleep(0.2)
    at = select(open_page("pages/runs.py"), [0, 1])
    assert not at.exception
    assert len(at.get("plotly_chart")) == charts_before + 7  # six, and the key above them
    assert not [button for button in at.button if button.key == "runs_robustness_compute"]
    rotation = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart") if '"Rotation"' in chart.proto.spec]
    lines = {trace["name"]: (trace["line"]["color"], trace["line"]["dash"]) for trace in rotation[0]["data"]}
    # as on the curves, each run in its own colour (they were the first and second of a fixed list)
    assert {name: colour for name, (colour, _) in lines.items()} == {"first": run_color(first),
                                                                     "second": run_color(second)}
    assert len(set(lines.values())) == 2  # told apart, by a dash where they share a colour


def test_a_broken_checkpoint_is_reported_with_the_run_name_as_typed(app_store):
    hostile = "**bold** :red[x] $y$"
    run_id = finished_run(app_store, hostile)
    app_store.checkpoint_path(run_id, "best").write_bytes(b"not a checkpoint")
    at = open_page("pages/inside.py")
    at.segmented_control(key="inside_source").set_value("Test image").run()
    assert not at.exception, at.exception
    errors = [error.value for error in at.error]
    assert any(as_shown(error).startswith(f"Cannot load {hostile!r}: ") for error in errors), errors
    assert not any("**bold**" in error or ":red[x]" in error for error in errors)  # escaped, not rendered


def test_a_broken_checkpoint_is_reported_in_its_models_column_beside_a_sound_one(app_store):
    sound = finished_run(app_store, "sound")
    broken = finished_run(app_store, "broken")
    app_store.checkpoint_path(broken, "best").write_bytes(b"not a checkpoint")
    at = open_page("pages/inside.py")
    at.multiselect(key="inside_runs").set_value([broken, sound]).run()
    at.segmented_control(key="inside_source").set_value("Test image").run()
    assert not at.exception, at.exception
    leaves = [column for column in at.columns if not column.columns]  # a model's column holds no columns
    with_error = [column for column in leaves if column.error]
    assert with_error and len(at.error) == sum(len(column.error) for column in with_error)  # none elsewhere
    for column in with_error:
        assert [text.value for text in column.text] == ["broken (bars, not digits)"]
        assert as_shown(column.error[0].value).startswith("Cannot load 'broken': ")
    sounds = [column for column in leaves if any(t.value.startswith("sound (bars") for t in column.text)]
    assert sounds and not any(column.error for column in sounds)
