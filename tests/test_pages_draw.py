"""The Draw page under AppTest: a drawing goes in through the canvas's state, predictions come out."""
from __future__ import annotations

import base64
import io

import numpy as np
from pages_helpers import app_store, as_shown, finished_run, open_page, tiny_run_config  # noqa: F401
from PIL import Image
from test_final_test import stop_after_steps

from core.insight.inference import predict
from core.insight.preprocess import preprocess
from core.runs.supervisor import execute_run
from core.training.checkpoints import load_model


def stroke_image() -> np.ndarray:
    """A 280x280 RGBA canvas, black, with a thick white vertical stroke: a '1'."""
    image = np.zeros((280, 280, 4), dtype=np.uint8)
    image[..., 3] = 255
    image[60:220, 130:150, :3] = 255
    return image


def draw(at, image: np.ndarray):
    """Put an image into the canvas's state, as the component sends it after a stroke."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    [key] = [k for k in at.session_state if k.startswith("draw_canvas_")]
    at.session_state[key] = {"drawing": {"raw": {"objects": []}, "data": url}, "backgroundFit": None}
    return at.run()


def test_without_models_it_asks_for_a_training_run(app_store):
    at = open_page("pages/draw.py")
    assert any("No trained model yet" in info.value for info in at.info)


def test_empty_canvas_asks_for_a_drawing(app_store):
    finished_run(app_store, "model")
    at = open_page("pages/draw.py")
    assert any("Draw a digit" in info.value for info in at.info)
    assert at.metric.len == 0


def test_drawing_is_predicted_as_the_model_itself_predicts_it(app_store):
    run_id = finished_run(app_store, "model")
    at = draw(open_page("pages/draw.py"), stroke_image())
    assert not at.exception
    model = load_model(app_store.checkpoint_path(run_id, "best"))[0]
    expected = predict(model, preprocess(stroke_image()))
    [metric] = at.metric
    assert as_shown(metric.label) == "model" and metric.value == str(expected.label)
    assert f"{expected.confidence:.1%}" in metric.proto.delta
    assert len(at.get("plotly_chart")) == 3  # the 28x28 input, the probabilities, the saliency


def test_several_models_side_by_side(app_store):
    finished_run(app_store, "first")
    finished_run(app_store, "second", lr=3e-3)
    at = open_page("pages/draw.py")
    at.multiselect(key="draw_runs").set_value([run.id for run in app_store.list_runs()]).run()
    at = draw(at, stroke_image())
    assert sorted(as_shown(metric.label) for metric in at.metric) == ["first", "second"]


def test_two_models_of_one_name_are_told_apart_by_their_model_and_id(app_store):
    mlp = finished_run(app_store, "ctrlc")
    cnn = finished_run(app_store, "ctrlc", model="cnn")
    at = open_page("pages/draw.py")
    picker = at.multiselect(key="draw_runs")
    shown = {run_id: picker.format_func(run_id) for run_id in (mlp, cnn)}
    assert shown == {mlp: f"ctrlc (mlp, {mlp[-6:]}) (bars, not digits)",
                     cnn: f"ctrlc (cnn, {cnn[-6:]}) (bars, not digits)"}
    at = draw(picker.set_value([mlp, cnn]).run(), stroke_image())
    assert sorted(as_shown(metric.label) for metric in at.metric) == sorted(
        f"ctrlc ({model}, {run_id[-6:]})" for model, run_id in (("mlp", mlp), ("cnn", cnn)))


def test_with_every_model_taken_out_it_asks_for_one_and_offers_nothing_to_look_inside(app_store):
    finished_run(app_store, "only")
    at = draw(open_page("pages/draw.py"), stroke_image())
    at.multiselect(key="draw_runs").set_value([]).run()
    assert not at.exception and at.metric.len == 0
    assert any("Pick one or more models above" in info.value for info in at.info)
    assert not at.get("page_link")


def test_a_bad_checkpoint_is_reported(app_store):
    run_id = finished_run(app_store, "broken")
    app_store.checkpoint_path(run_id, "best").write_bytes(b"not a checkpoint")
    at = draw(open_page("pages/draw.py"), stroke_image())
    assert any("Cannot load 'broken'" in as_shown(error.value) for error in at.error)


def test_clear_gives_an_empty_canvas(app_store):
    finished_run(app_store, "model")
    at = draw(open_page("pages/draw.py"), stroke_image())
    assert at.metric.len == 1
    at.button(key="draw_clear").click().run()
    assert at.metric.len == 0
    assert any("Draw a digit" in info.value for info in at.info)


def test_a_run_stopped_in_its_first_epoch_is_offered_with_its_last_checkpoint(app_store, monkeypatch):
    run_id = app_store.create_run(tiny_run_config(batch_size=1, epochs=3), name="stopped")
    assert execute_run(app_store, run_id, on_item=stop_after_steps(app_store, run_id, 5, monkeypatch)) == "stopped"
    at = draw(open_page("pages/draw.py"), stroke_image())
    assert [as_shown(metric.label) for metric in at.metric] == ["stopped"]
    assert any(as_shown(caption.value).startswith("Last checkpoint, stopped at epoch 1") for caption in at.caption)


def test_a_model_that_never_saw_a_digit_says_so(app_store):
    finished_run(app_store, "bars")
    at = open_page("pages/draw.py")
    assert at.multiselect(key="draw_runs").format_func(at.multiselect(key="draw_runs").value[0]) == \
        "bars (bars, not digits)"
    at = draw(at, stroke_image())
    assert any("Trained on synthetic bars, not digits" in as_shown(caption.value) for caption in at.caption)


def test_one_warning_for_a_drawing_unlike_a_digit_whichever_models_read_it(app_store):
    finished_run(app_store, "first")
    finished_run(app_store, "second", lr=3e-3)
    at = open_page("pages/draw.py")
    at.multiselect(key="draw_runs").set_value([run.id for run in app_store.list_runs()]).run()
    line = np.zeros((280, 280, 4), dtype=np.uint8)
    line[..., 3] = 255
    line[130:150, 40:240, :3] = 255  # a horizontal line: one model was 94% sure it is a 4
    at = draw(at, line)
    [warning] = at.warning
    assert as_shown(warning.value).startswith("This may not be read as a digit: it is much wider than it is tall, "
                                              "unlike any MNIST digit")
    at = draw(at, stroke_image())
    assert not any("may not be read as a digit" in warning.value for warning in at.warning)


def test_a_link_to_a_run_without_weights_says_so_and_shows_another(app_store):
    finished_run(app_store, "has weights")
    unweighted = app_store.create_run(app_store.list_runs()[0].config, name="diverged at once")
    at = open_page("pages/draw.py")
    at.query_params["run"] = unweighted  # the Sweeps page links a trial as /draw?run=ID
    at.run()
    assert not at.exception
    assert any(as_shown(info.value).startswith("The linked run 'diverged at once' has no weights to predict with")
               for info in at.info)
    assert at.multiselect(key="draw_runs").value != [unweighted]
    at.query_params["run"] = "20990101-000000-abcdef"
    at.run()
    assert any("The linked run is not in the run store" in as_shown(info.value) for info in at.info)

