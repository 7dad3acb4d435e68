"""Search spaces: what a space file may say, and every bad space refused naming its field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import RunConfig
from core.sweeps.records import SweepPlan, SweepSettingError
from core.sweeps.space import Choice, Range, SpaceError, load_space, parse_space
from core.sweeps.study import distributions

REPO = Path(__file__).resolve().parents[2]
BASE = {"model": "mlp", "dataset": "synthetic", "val_size": 100, "epochs": 1}


def test_the_shipped_example_parses_into_fixed_and_searched_settings():
    space = load_space(REPO / "examples" / "sweep-quick.toml")
    assert space.fixed["dataset"] == "synthetic" and space.fixed["optimizer"] == "sgd"
    assert space.search["lr"] == Range(1e-4, 0.3, log=True)
    assert space.search["batch_size"] == Choice((32, 64, 128))
    config = space.config({"lr": 0.01, "batch_size": 64})
    assert config == RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=2, device="cpu",
                               optimizer="sgd", momentum=0.0, lr=0.01, batch_size=64)


def test_fixed_values_choices_and_ranges_of_every_kind():
    space = parse_space({**BASE, "hidden_sizes": [[64], [128, 64]], "weight_decay": {"value": 0.01},
                         "epochs": {"low": 1, "high": 3}, "momentum": {"low": 0.0, "high": 0.9, "step": 0.3},
                         "seed": [0, 1]})
    assert space.fixed["weight_decay"] == 0.01
    assert space.search["epochs"] == Range(1, 3, integer=True)
    dists = distributions(space)
    assert dists["hidden_sizes"].choices == ("[64]", "[128, 64]")
    drawn = {"hidden_sizes": "[128, 64]", "epochs": 2, "momentum": 0.3, "seed": 1}
    assert space.config(drawn).hidden_sizes == (128, 64)
    assert space.grid_size() == 2 * 3 * 4 * 2
    # a plain list of layer sizes is one fixed value, not a choice between numbers
    assert parse_space({**BASE, "hidden_sizes": [256, 128], "lr": [0.1, 0.01]}).fixed["hidden_sizes"] == (256, 128)


def test_a_space_round_trips_through_its_json():
    space = parse_space({**BASE, "lr": {"low": 1e-4, "high": 1e-1, "log": True}, "hidden_sizes": [[32], [64]]})
    assert parse_space(json.loads(space.to_json())) == space


@pytest.mark.parametrize("data, field, words", [
    ({}, "space", "is empty"),
    (BASE, "space", "searches nothing"),
    ({**BASE, "lr": [0.1]}, "space", "searches nothing"),  # one value: trials that all trained the same
    ({**BASE, "lr": {"low": 0.1, "high": 0.1}}, "space", "searches nothing"),
    ({**BASE, "lr": {"low": 0.1, "high": 0.001}}, "lr", "low (0.1) is above high (0.001)"),
    ({**BASE, "lr": {"low": 0, "high": 0.1, "log": True}}, "lr", "a log range needs low above 0"),
    ({**BASE, "learning_rate": [0.1, 0.01]}, "learning_rate", "not a RunConfig setting"),
    ({**BASE, "optimizer": ["adam", "lion"]}, "optimizer", "'lion' is refused"),
    ({**BASE, "lr": [0.1, 20.0]}, "lr", "20.0 is refused: lr: must be in (0, 10]"),
    ({**BASE, "batch_size": []}, "batch_size", "the list of choices is empty"),
    ({**BASE, "epochs": {"low": 1, "high": 2.5}}, "epochs", "is a whole number"),
    ({**BASE, "model": {"low": 1, "high": 2}}, "model", "only a number setting takes a range"),
    ({**BASE, "lr": {"low": 0.1}}, "lr", "a range is {low, high}"),
    ({**BASE, "lr": {"low": "a", "high": 0.1}}, "lr", "low must be a number"),
    ({**BASE, "val_size": 0, "lr": [0.1, 0.01]}, "val_size", "needs val_size above 0"),
    ({**BASE, "model": "resnet", "lr": [0.1, 0.01]}, "model", "'resnet' is not one of"),
    ({**BASE, "epochs": {"low": 1, "high": 500}}, "epochs", "500 is refused: epochs: must be from 1 to 100"),
])
def test_a_bad_space_is_refused_naming_its_field(data, field, words):
    with pytest.raises(SpaceError) as caught:
        parse_space(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ") and words in str(caught.value)


def test_a_space_file_that_cannot_be_read_names_the_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("lr = [0.1,\n")
    with pytest.raises(SpaceError, match="cannot read .*broken.toml"):
        load_space(broken)
    with pytest.raises(SpaceError, match="cannot read .*missing.json"):
        load_space(tmp_path / "missing.json")


def test_sweep_settings_are_checked_and_a_grid_needs_countable_ranges():
    space = parse_space({**BASE, "lr": {"low": 1e-4, "high": 1e-1, "log": True}})
    with pytest.raises(SpaceError, match="lr: a grid needs a list of choices"):
        SweepPlan(space, strategy="grid")
    with pytest.raises(SweepSettingError, match="strategy: 'bayes' is not one of"):
        SweepPlan(space, strategy="bayes")
    with pytest.raises(SweepSettingError, match="parallel: must be a whole number from 1"):
        SweepPlan(space, parallel=0)
    with pytest.raises(SweepSettingError, match="trials: must be a whole number"):
        SweepPlan(space, trials=-3)
    with pytest.raises(SweepSettingError, match="name: 101 characters; at most 100"):
        SweepPlan(space, name="s" * 101)
    assert SweepPlan(space, name="  lr search ").name == "lr search"
    six = parse_space({**BASE, "lr": [0.1, 0.01], "epochs": {"low": 1, "high": 3}})
    assert SweepPlan(six, strategy="grid", trials=6).space.grid_size() == 6
    with pytest.raises(SweepSettingError, match="trials: the grid has 6 points; ask for at most 6 trials"):
        SweepPlan(six, strategy="grid", trials=8)  # it ended "finished, 6 of 8 trials started", unexplained
    huge = parse_space({**BASE, "lr": {"low": 1e-4, "high": 0.1, "step": 1e-5}, "batch_size": {"low": 1, "high": 8192},
                        "seed": {"low": 0, "high": 9999}})  # each within MAX_GRID: their product is 8e11
    with pytest.raises(SweepSettingError, match="space: the grid has 818,[0-9,]+ points, more than the 100,000"):
        SweepPlan(huge, strategy="grid", trials=1)  # Optuna listed them all: MemoryError, and a failed sweep


def test_a_space_file_with_a_bom_or_an_upper_case_suffix_reads_as_its_kind(tmp_path):
    text = '{"model": "mlp", "lr": [0.01, 0.1]}'
    for name, data in [("bom.json", "\ufeff" + text), ("upper.JSON", text), ("bom.toml", "\ufeffmodel = 'mlp'\n"
                                                                            "lr = [0.01, 0.1]\n")]:
        (tmp_path / name).write_text(data, encoding="utf-8")
        space = load_space(tmp_path / name)  # "Unexpected UTF-8 BOM", "Invalid statement (at line 1, column 1)"
        assert space.fixed["model"] == "mlp" and "lr" in space.search, name


def test_one_value_of_a_setting_is_a_fixed_setting_as_the_form_takes_it():
    space = parse_space({**BASE, "lr": [0.1, 0.1], "epochs": {"low": 2, "high": 2}, "batch_size": [32, 64]})
    assert (space.fixed["lr"], space.fixed["epochs"], list(space.search)) == (0.1, 2, ["batch_size"])
