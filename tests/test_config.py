import json
import math

import pytest

from core.config import (
    ConfigError,
    RunConfig,
    data_label,
    dataset_label,
    nesterov_applies,
    planned_steps,
    training_images,
)
from core.training.data import build_datasets


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
    ("model", "resnet", "model: 'resnet' is not one of mlp, cnn, fastcnn, fastcnn24"),
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


def test_a_stored_config_is_read_leniently_and_says_why_it_no_longer_validates():
    old = {**RunConfig(model="mlp").to_dict(), "colour": "blue"}  # a key this version does not know
    del old["dataset"]  # a key an older version did not write
    config, problem = RunConfig.from_stored(old)
    assert (config.model, config.dataset, problem) == ("mlp", "mnist", None)
    config, problem = RunConfig.from_stored({"model": "mlp", "epochs": 500})
    assert config.epochs == 500 and problem == "epochs: must be from 1 to 100, got 500"
    config, problem = RunConfig.from_stored({"hidden_sizes": 5})
    assert config.hidden_sizes == 5 and problem.startswith("stored settings are malformed")


@pytest.mark.parametrize("optimizer, momentum, applies", [("sgd", 0.9, True), ("sgd", 0.0, False),
                                                          ("adam", 0.9, False), ("rmsprop", 0.9, False)])
def test_nesterov_applies_to_sgd_with_momentum_only(optimizer, momentum, applies):
    assert nesterov_applies(optimizer, momentum) is applies
    if applies:
        assert RunConfig(optimizer=optimizer, momentum=momentum, nesterov=True).nesterov
    else:
        with pytest.raises(ConfigError, match="nesterov"):
            RunConfig(optimizer=optimizer, momentum=momentum, nesterov=True)


@pytest.mark.parametrize("values, images", [
    ({}, 55_000), ({"val_size": 0}, 60_000), ({"train_samples": 1000}, 1000),
    ({"dataset": "synthetic", "val_size": 100}, 500), ({"dataset": "synthetic", "val_size": 100,
                                                        "train_samples": 10_000}, 500)])
def test_planned_steps_match_the_batches_the_datasets_give(synthetic_arrays, values, images):
    config = RunConfig(batch_size=64, epochs=3, **values)
    assert training_images(config) == images
    assert planned_steps(config) == 3 * math.ceil(images / 64)
    if config.dataset == "synthetic":  # the data loader's own count agrees
        data = build_datasets(synthetic_arrays, config.val_size, config.seed, config.train_samples)
        assert len(data.train) == images


def test_the_data_label_names_the_examples_a_limited_run_trains_on():
    limited = RunConfig(train_samples=5000)
    assert data_label(limited) == "mnist, 5,000 examples" and dataset_label(limited) == "mnist"  # one test set
    assert data_label(RunConfig(train_samples=59_999)) == "mnist, 55,000 examples"  # capped: 5,000 validate
    assert data_label(RunConfig(dataset="synthetic", val_size=100)) == "synthetic"
