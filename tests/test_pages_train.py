"""The Train page under AppTest: the form, presets, errors, launching, and the run shown live."""
from __future__ import annotations

import os
import time

import pytest
from pages_helpers import app_store, as_shown, finished_run, open_page, tiny_run_config, wait_until_ended  # noqa: F401

from core.devices import available_devices
from core.presets import PRESETS
from core.runs.records import Metric

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
    assert (at.slider(key="train_epochs").min, at.slider(key="train_epochs").max) == (1, 50)
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


def test_bad_settings_show_the_error_and_start_nothing(app_store):
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("synthetic").run()  # val_size 5000 > 600 images
    at.button(key="train_start").click().run()
    assert any("val_size" in as_shown(error.value) for error in at.error)
    at.selectbox(key="train_dataset").set_value("mnist")
    at.selectbox(key="train_scheduler").set_value("plateau")
    at.number_input(key="train_val_size").set_value(0).run()
    at.button(key="train_start").click().run()
    assert any("scheduler" in as_shown(error.value) and "validation" in as_shown(error.value) for error in at.error)
    assert app_store.list_runs() == []


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
    assert len(at.get("plotly_chart")) == 2
    assert at.metric[1].value != "-"  # test accuracy, from the run's summary


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
    assert at.get("progress")[0].proto.text == "Waiting in the queue"
    assert "waiting" in at.dataframe[0].value["name"].tolist()
    at.button(key="train_stop").click().run()
    assert app_store.get_run(queued).status == "stopped"
    assert any("Cancelled" in info.value for info in at.info)


def test_stop_asks_a_running_run_to_stop(app_store):
    run_id = app_store.create_run(tiny_run_config(), name="busy")
    app_store.claim(run_id, os.getpid())
    at = open_page("pages/train.py")
    at.button(key="train_stop").click().run()
    assert app_store.stop_requested(run_id)
    assert any("Stop requested" in info.value for info in at.info)


def test_settings_survive_a_visit_to_another_page(app_store):
    at = open_page("pages/train.py")
    at.slider(key="train_epochs").set_value(7)
    at.selectbox(key="train_optimizer").set_value("sgd").run()
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/train.py").run()
    assert at.slider(key="train_epochs").value == 7
    assert at.selectbox(key="train_optimizer").value == "sgd"
