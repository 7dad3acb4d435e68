"""Issue 16, case 6: checkpoints with wrong-typed fields or non-finite weights. Each is refused on
load with a message naming the field (one `error:` line from the CLI); on the Draw page a bad model
shows its error in its own column and the other models still predict."""
from __future__ import annotations

import math

import pytest
import torch
from pages_helpers import app_store, as_shown, finished_run, open_page  # noqa: F401
from reliability_helpers import one_error_line
from test_pages_draw import draw, stroke_image

from core.cli import main
from core.training.checkpoints import CheckpointError, load_model


def nan_weights(data: dict) -> None:
    first = next(iter(data["model_state_dict"]))
    data["model_state_dict"][first][0, 0] = math.nan


def infinite_bias(data: dict) -> None:
    last = list(data["model_state_dict"])[-1]
    data["model_state_dict"][last][0] = math.inf


# how a checkpoint is spoiled -> what the refusal names
SPOILED = {
    "config is 5": (lambda d: d.update(config=5), "config must be a dict of settings, got 5"),
    "config is None": (lambda d: d.update(config=None), "config must be a dict of settings, got None"),
    "hidden_sizes is 5": (lambda d: d["config"].update(hidden_sizes=5), "malformed settings"),
    "a setting out of range": (lambda d: d["config"].update(epochs=0), "settings that are not valid: epochs"),
    "weights are a tensor": (lambda d: d.update(model_state_dict=torch.zeros(3)),
                             "model_state_dict must map layer names to tensors, got Tensor"),
    "weights are None": (lambda d: d.update(model_state_dict=None),
                         "model_state_dict must map layer names to tensors, got NoneType"),
    "weights hold a string": (lambda d: d["model_state_dict"].update({"net.0.weight": "x"}),
                              "model_state_dict must map layer names to tensors"),
    "epoch is text": (lambda d: d.update(epoch="one"), "epoch must be a whole number"),
    "loss is a list": (lambda d: d.update(loss=[1]), "loss must be a number"),
    "NaN weights": (nan_weights, "non-finite weights (NaN or inf) in net.1.weight"),
    "an infinite bias": (infinite_bias, "non-finite weights (NaN or inf) in net.3.bias"),
}


def spoil(good: dict, how) -> dict:
    data = {**good, "config": dict(good["config"]),
            "model_state_dict": {k: v.clone() for k, v in good["model_state_dict"].items()}}
    how(data)
    return data


@pytest.mark.parametrize("what", list(SPOILED))
def test_a_spoiled_checkpoint_is_refused_naming_the_field(app_store, tmp_path, capsys, what):
    run_id = finished_run(app_store, "good")
    good = torch.load(app_store.checkpoint_path(run_id, "best"), weights_only=True)
    how, says = SPOILED[what]
    path = tmp_path / "spoiled.pt"
    torch.save(spoil(good, how), path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path}") as refused:
        load_model(path)
    assert says in str(refused.value)
    capsys.readouterr()
    assert main(["test", "--checkpoint", str(path)]) == 2
    assert says in one_error_line(capsys.readouterr().err)


def test_on_draw_a_bad_newest_model_fails_alone_in_its_column(app_store):
    good = finished_run(app_store, "good")
    bad = finished_run(app_store, "bad newest")  # the newest, and as accurate: it leads the picks
    path = app_store.checkpoint_path(bad, "best")
    torch.save(spoil(torch.load(path, weights_only=True), nan_weights), path)
    at = open_page("pages/draw.py")
    at.multiselect(key="draw_runs").set_value([bad, good]).run()
    at = draw(at, stroke_image())
    assert not at.exception
    [error] = at.error
    shown = as_shown(error.value)
    assert shown.startswith("Cannot load 'bad newest': checkpoint") and "non-finite weights" in shown
    [metric] = at.metric
    assert as_shown(metric.label) == "good" and metric.value.isdigit()
