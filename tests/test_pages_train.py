"""The Train page under AppTest: the form, presets, errors, launching, and the run shown live."""
from __future__ import annotations

import os
import subprocess
import time

import pytest
from pages_helpers import (  # noqa: F401
    app_store,
    as_shown,
    chart_traces,
    finished_run,
    live_charts,
    open_page,
    tiny_run_config,
    wait_until_ended,
)

from core.config import default_val_size
from core.devices import available_devices
from core.presets import PRESETS
from core.runs.records import Metric
from core.status import RunStatus

FORM_KEYS = ["train_model", "train_optimizer", "train_lr", "train_weight_decay", "train_epochs",
             "train_batch_size", "train_scheduler", "train_patience", "train_min_delta", "train_seed",
             "train_device", "train_name", "train_tags", "train_dataset", "train_val_size",
             "train_train_samples", "train_augment_shift", "train_label_smoothing"]


def keys_on_page(at) -> set[str]:
    return {widget.key for kind in ("selectbox", "select_slider", "slider", "number_input", "text_input",
                                    "checkbox", "button") for widget in at.get(kind)}


def fill_tiny_run(at, name: str = "tiny") -> None:
    """Settings for a synthetic MLP run of two epochs."""
    at.selectbox(key="train_dataset").set_value("synthetic")
    at.number_input(key="train_val_size").set_value(100)
    at.selectbox(key="train_model").set_value("mlp")
    at.slider(key="train_epochs").set_value(2)
    at.text_input(key="train_name").set_value(name)
    at.text_input(key="train_tags").set_value("smoke, tiny")
    at.run()


def test_form_has_every_setting_and_no_runs_message(app_store):
    at = open_page("pages/train.py")
    assert set(FORM_KEYS) <= keys_on_page(at)
    lr = at.select_slider(key="train_lr")
    assert min(lr.options, key=float) in ("1e-05",) and "1" in lr.options
    assert at.selectbox(key="train_device").options == available_devices()
    assert (at.slider(key="train_epochs").min, at.slider(key="train_epochs").max) == (1, 100)  # MAX_EPOCHS, as the CLI
    assert any("No runs yet" in info.value for info in at.info)


def test_optimizer_options_appear_where_they_apply(app_store):
    at = open_page("pages/train.py")
    assert "train_momentum" not in keys_on_page(at)  # adam by default
    at.selectbox(key="train_optimizer").set_value("sgd").run()
    assert {"train_momentum", "train_nesterov"} <= keys_on_page(at)
    at.selectbox(key="train_optimizer").set_value("rmsprop").run()
    assert "train_momentum" in keys_on_page(at) and "train_nesterov" not in keys_on_page(at)


def test_preset_fills_the_form_and_shows_its_description(app_store):
    at = open_page("pages/train.py")
    preset = PRESETS["quick-mlp"]
    at.button(key="train_preset_quick-mlp").click().run()
    assert at.session_state["train_model"] == preset.config.model
    assert at.session_state["train_lr"] == preset.config.lr
    assert at.session_state["train_scheduler"] == preset.config.scheduler
    assert at.select_slider(key="train_lr").value == preset.config.lr
    assert any(preset.description == caption.value for caption in at.caption)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_fits_the_form(app_store, name):
    at = open_page("pages/train.py")
    at.button(key=f"train_preset_{name}").click().run()
    assert not at.exception
    expected = PRESETS[name].config.to_dict()
    for field in ("model", "optimizer", "lr", "batch_size", "epochs", "scheduler", "weight_decay",
                  "label_smoothing", "val_size", "patience", "seed", "dataset"):
        assert at.session_state[f"train_{field}"] == expected[field], field


def test_bad_settings_show_the_error_in_the_forms_words_and_start_nothing(app_store):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("synthetic").run()
    at.number_input(key="train_val_size").set_value(600).run()
    at.button(key="train_start").click().run()
    [error] = at.error
    assert "Validation images: must be below the 600 training images" in as_shown(error.value)
    assert "val_size" not in as_shown(error.value)
    at.selectbox(key="train_dataset").set_value("mnist")
    at.selectbox(key="train_scheduler").set_value("plateau")
    at.number_input(key="train_val_size").set_value(0).run()
    at.button(key="train_start").click().run()
    [error] = at.error
    assert as_shown(error.value).startswith(
        "Not started: LR schedule: 'plateau' needs a validation set (Validation images")
    at.selectbox(key="train_model").set_value("mlp").run()
    at.text_input(key="train_hidden_sizes").set_value("12, x")
    at.number_input(key="train_val_size").set_value(5000).run()
    at.button(key="train_start").click().run()
    assert "Hidden layer sizes: write whole numbers" in as_shown(at.error[0].value)
    at.text_input(key="train_hidden_sizes").set_value("12")
    at.text_input(key="train_tags").set_value("fine, " + "t" * 41).run()
    at.button(key="train_start").click().run()
    assert as_shown(at.error[0].value) == "Not started: tag 'tttttttttttttttttttt...': 41 characters; at most 40"
    assert app_store.list_runs() == []


def test_the_synthetic_dataset_works_out_of_the_box(app_store):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("synthetic").run()
    assert at.number_input(key="train_val_size").value == default_val_size("synthetic")
    at.selectbox(key="train_model").set_value("mlp")
    at.slider(key="train_epochs").set_value(1).run()
    at.button(key="train_start").click().run()
    assert not at.error
    [run] = app_store.list_runs()
    assert wait_until_ended(app_store, run.id) == "finished"
    at.selectbox(key="train_dataset").set_value("mnist").run()  # and back: MNIST's own split again
    assert at.number_input(key="train_val_size").value == default_val_size("mnist")


def test_a_preset_is_highlighted_only_while_the_form_holds_it(app_store):
    at = open_page("pages/train.py")
    at.button(key="train_preset_quick-mlp").click().run()
    assert at.button(key="train_preset_quick-mlp").proto.type == "primary"
    at.slider(key="train_epochs").set_value(7).run()
    assert at.button(key="train_preset_quick-mlp").proto.type == "secondary"
    assert any("no preset" in caption.value for caption in at.caption)
    at.slider(key="train_epochs").set_value(PRESETS["quick-mlp"].config.epochs).run()  # back to the preset's
    assert at.button(key="train_preset_quick-mlp").proto.type == "primary"


def test_start_launches_a_worker_and_the_page_follows_the_run(app_store):
    at = open_page("pages/train.py")
    fill_tiny_run(at, "tiny")
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    [run] = app_store.list_runs()
    assert (run.name, run.tags) == ("tiny", ("smoke", "tiny"))
    assert (run.config.model, run.config.epochs, run.config.dataset) == ("mlp", 2, "synthetic")
    assert wait_until_ended(app_store, run.id) == "finished"
    at.run()
    assert as_shown(at.subheader[0].value) == "tiny"
    assert at.get("progress")[0].proto.text.startswith("finished")
    charts = live_charts(at)
    assert set(charts) == {"train_chart_loss", "train_chart_accuracy"}
    batches = chart_traces(charts["train_chart_loss"])["train (per batch)"]
    steps = [m.step for m in app_store.read_metrics(run.id)[0] if (m.split, m.name) == ("train", "loss")]
    assert batches["x"] == steps  # every step, none twice
    assert at.metric[1].value != "-"  # test accuracy, from the run's summary
    assert any(caption.value == "Test: best checkpoint, epoch 2" for caption in at.caption)


def test_live_points_are_read_from_the_cursor_while_the_run_is_active(app_store):
    run_id = app_store.create_run(tiny_run_config(), name="live")
    app_store.claim(run_id, os.getpid())  # this process plays the worker: the run is running
    batch = [Metric(step, 1, "train", "loss", 1.0 / step, time.time()) for step in range(1, 4)]
    app_store.add_metrics(run_id, batch)
    at = open_page("pages/train.py")
    assert as_shown(at.subheader[0].value) == "live"
    app_store.add_metrics(run_id, [m._replace(step=m.step + 3) for m in batch])
    at.run()
    live = at.session_state["train_live"][run_id]
    metrics, cursor = app_store.read_metrics(run_id)
    assert live["cursor"] == cursor and not live["complete"]
    assert live["frame"]["step"].tolist() == [m.step for m in metrics] == list(range(1, 7))


def test_a_fresh_session_finds_the_queue_in_the_store_and_can_cancel(app_store):
    queued = app_store.create_run(tiny_run_config(), name="waiting")  # no worker: it stays queued
    finished_run(app_store, "newer")  # the newest run, yet the queue comes first
    at = open_page("pages/train.py")
    assert as_shown(at.subheader[0].value) == "waiting"
    assert at.get("progress")[0].proto.text == "waiting in the queue"
    assert "waiting" in at.dataframe[0].value["name"].tolist()
    at.button(key="train_stop").click().run()
    assert app_store.get_run(queued).status == "stopped"
    # the panel moves on to the run that ended last, and says what the Cancel did above it
    assert any(as_shown(info.value) == "Cancelled 'waiting': it had not started yet." for info in at.info)
    assert [as_shown(toast.value) for toast in at.toast] == ["Cancelled 'waiting': it had not started yet."]


def test_stop_asks_a_running_run_to_stop(app_store):
    run_id = app_store.create_run(tiny_run_config(), name="busy")
    # a stand-in plays the worker, not this process: a Stop that found the run not responding would
    # send its worker SIGTERM
    with subprocess.Popen(["sleep", "600"]) as stand_in:
        try:
            app_store.claim(run_id, stand_in.pid)
            at = open_page("pages/train.py")
            app_store.heartbeat(run_id)  # however long the page took to open, the worker beat just now
            at.button(key="train_stop").click().run()
        finally:
            stand_in.kill()
    assert app_store.stop_requested(run_id)
    assert any("Stop requested" in as_shown(info.value) for info in at.info)


def test_settings_survive_a_visit_to_another_page(app_store):
    at = open_page("pages/train.py")
    at.slider(key="train_epochs").set_value(7)
    at.selectbox(key="train_optimizer").set_value("sgd").run()
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/train.py").run()
    assert at.slider(key="train_epochs").value == 7
    assert at.selectbox(key="train_optimizer").value == "sgd"


def test_a_picked_run_stays_picked_when_its_status_changes(app_store):
    picked = app_store.create_run(tiny_run_config(), name="picked")
    app_store.claim(picked, os.getpid())  # this process plays its worker
    finished_run(app_store, "newer")
    at = open_page("pages/train.py")
    assert as_shown(at.subheader[0].value) == "picked"  # the running one, as the current run
    at.selectbox(key="train_view").set_value(picked).run()
    app_store.finish(picked, RunStatus.STOPPED, "stopped on request")
    at.run()
    assert at.selectbox(key="train_view").value == picked
    assert as_shown(at.subheader[0].value) == "picked" and at.get("progress")[0].proto.text.startswith("stopped after")
