import json

import pytest

from core.config import ConfigError, RunConfig


def test_defaults_are_the_labs_recipe():
    config = RunConfig()
    assert (config.model, config.optimizer, config.lr, config.batch_size, config.epochs) == ("cnn", "adam", 1e-3, 64, 5)


@pytest.mark.parametrize("field, value, words", [
    ("lr", 0.0, "lr: must be in (0, 10]"),
    ("lr", -1e-3, "lr:"),
    ("lr", float("nan"), "lr: must be a finite number"),
    ("batch_size", 0, "batch_size: must be from 1 to 8192"),
    ("epochs", 101, "epochs: must be from 1 to 100"),
    ("epochs", 2.5, "epochs: must be a whole number"),
    ("model", "resnet", "model: 'resnet' is not one of mlp, cnn, fastcnn"),
    ("optimizer", "lbfgs", "optimizer:"),
    ("scheduler", "warmup", "scheduler:"),
    ("device", "tpu", "device:"),
    ("momentum", 1.0, "momentum:"),
    ("label_smoothing", 1.0, "label_smoothing:"),
    ("hidden_sizes", (), "hidden_sizes:"),
    ("val_size", -1, "val_size:"),
])
def test_invalid_values_name_the_field(field, value, words):
    with pytest.raises(ConfigError) as caught:
        RunConfig(**{field: value})
    assert words in str(caught.value)
    assert caught.value.field == field


def test_settings_that_contradict_each_other_are_refused():
    with pytest.raises(ConfigError, match="nesterov"):
        RunConfig(optimizer="adam", nesterov=True)
    with pytest.raises(ConfigError, match="patience: early stopping needs a validation set"):
        RunConfig(patience=2, val_size=0)


def test_json_round_trip_gives_an_equal_config():
    config = RunConfig(model="mlp", hidden_sizes=(64, 32), optimizer="sgd", nesterov=True, train_samples=100)
    text = config.to_json()
    assert json.loads(text)["hidden_sizes"] == [64, 32]
    assert RunConfig.from_json(text) == config


def test_unknown_setting_is_refused_by_name():
    with pytest.raises(ConfigError, match="colour: unknown setting"):
        RunConfig.from_dict({"colour": "blue"})


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        RunConfig().lr = 1.0
