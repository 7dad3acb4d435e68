"""A run's settings: one frozen dataclass, validated on creation, saved as JSON."""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODELS = ("mlp", "cnn", "fastcnn")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "plateau", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
DATASETS = ("mnist", "synthetic")
# training images before the validation split is carved out
TRAIN_IMAGES = {"mnist": 60_000, "synthetic": 600}
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 8192
MAX_VAL_SIZE = 30_000
# the fields whose value is one of a fixed list, for forms and --help
CHOICES = {"model": MODELS, "optimizer": OPTIMIZERS, "scheduler": SCHEDULERS, "device": DEVICES,
           "dataset": DATASETS}


class ConfigError(ValueError):
    """A setting is out of its allowed range; the message names the field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class RunConfig:
    model: str = "cnn"
    hidden_sizes: tuple[int, ...] = (128,)
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 5
    scheduler: str = "none"
    step_size: int = 1
    gamma: float = 0.7
    plateau_patience: int = 1
    plateau_factor: float = 0.5
    patience: int = 0
    min_delta: float = 0.0
    val_size: int = 5000
    train_samples: int | None = None
    augment_shift: int = 0
    augment_rotate: float = 0.0  # degrees, each way
    augment_scale: float = 0.0  # zoom within 1 +- this
    augment_thickness: float = 0.0  # share of one erosion or dilation step, each way
    augment_elastic: float = 0.0  # pixels of smooth random displacement
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    dataset: str = "mnist"

    def __post_init__(self) -> None:
        # JSON gives lists; keep the dataclass hashable and frozen all the way down.
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hidden_sizes"] = list(self.hidden_sizes)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(sorted(known))})")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> tuple[RunConfig, str | None]:
        """A stored config read leniently, and why it no longer validates (None if it does).

        Unknown keys are dropped and missing ones take their defaults, so runs stored by older
        versions still open; values that fail today's rules are kept as stored, unchecked, for
        showing, and the reason comes back so that nothing trains on them.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {name: value for name, value in dict(data).items() if name in known}
        try:
            return cls(**values), None
        except ConfigError as err:
            return cls._unchecked(values), str(err)
        except (TypeError, ValueError) as err:  # e.g. hidden_sizes stored as a number
            return cls._unchecked(values), f"stored settings are malformed: {err}"

    @classmethod
    def _unchecked(cls, values: dict[str, Any]) -> RunConfig:
        config = object.__new__(cls)
        for field in dataclasses.fields(cls):
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            object.__setattr__(config, field.name, values.get(field.name, default))
        return config


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(allowed)}")


def _int_range(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be a whole number from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(name, f"must be from {low} to {high}, got {value}")


def _float_range(name: str, value: Any, low: float, high: float, *, open_low: bool = False,
                 open_high: bool = False) -> None:
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok_type or not math.isfinite(value):
        raise ConfigError(name, f"must be a finite number, got {value!r}")
    too_low = value <= low if open_low else value < low
    too_high = value >= high if open_high else value > high
    if too_low or too_high:
        lo, hi = ("(" if open_low else "["), (")" if open_high else "]")
        raise ConfigError(name, f"must be in {lo}{low:g}, {high:g}{hi}, got {value:g}")


def validate(config: RunConfig) -> None:
    """Raise ConfigError naming the first field that is out of range."""
    _choice("model", config.model, MODELS)
    if not config.hidden_sizes or len(config.hidden_sizes) > 4:
        raise ConfigError("hidden_sizes", "must list 1 to 4 layer sizes")
    for size in config.hidden_sizes:
        _int_range("hidden_sizes", size, 1, 4096)
    _choice("optimizer", config.optimizer, OPTIMIZERS)
    _float_range("lr", config.lr, 0.0, 10.0, open_low=True)
    _float_range("momentum", config.momentum, 0.0, 1.0, open_high=True)
    if not isinstance(config.nesterov, bool):
        raise ConfigError("nesterov", f"must be true or false, got {config.nesterov!r}")
    if config.nesterov and not nesterov_applies(config.optimizer, config.momentum):
        raise ConfigError("nesterov", "needs optimizer 'sgd' with a momentum above 0")
    _float_range("weight_decay", config.weight_decay, 0.0, 1.0)
    _int_range("batch_size", config.batch_size, 1, MAX_BATCH_SIZE)
    _int_range("epochs", config.epochs, 1, MAX_EPOCHS)
    _validate_schedule(config)
    _choice("dataset", config.dataset, DATASETS)
    _int_range("val_size", config.val_size, 0, MAX_VAL_SIZE)
    if config.train_samples is not None:
        _int_range("train_samples", config.train_samples, 1, 60_000)
    _int_range("augment_shift", config.augment_shift, 0, 4)
    _float_range("augment_rotate", config.augment_rotate, 0.0, 45.0)
    _float_range("augment_scale", config.augment_scale, 0.0, 0.5)
    _float_range("augment_thickness", config.augment_thickness, 0.0, 1.0)
    _float_range("augment_elastic", config.augment_elastic, 0.0, 4.0)
    _float_range("label_smoothing", config.label_smoothing, 0.0, 1.0, open_high=True)
    _int_range("seed", config.seed, 0, 2**32 - 1)
    _choice("device", config.device, DEVICES)
    images = TRAIN_IMAGES[config.dataset]
    if config.val_size >= images:
        raise ConfigError("val_size", f"must be below the {images:,} training images of {config.dataset!r}, "
                                      f"got {config.val_size:,}")


def _validate_schedule(config: RunConfig) -> None:
    _choice("scheduler", config.scheduler, SCHEDULERS)
    _int_range("step_size", config.step_size, 1, MAX_EPOCHS)
    _float_range("gamma", config.gamma, 0.0, 1.0, open_low=True)
    _int_range("plateau_patience", config.plateau_patience, 0, MAX_EPOCHS)
    _float_range("plateau_factor", config.plateau_factor, 0.0, 1.0, open_low=True, open_high=True)
    _int_range("patience", config.patience, 0, MAX_EPOCHS)
    _float_range("min_delta", config.min_delta, 0.0, 1.0)
    if config.patience and config.val_size == 0:
        raise ConfigError("patience", "early stopping needs a validation set (val_size above 0)")
    if config.scheduler == "plateau" and config.val_size == 0:
        raise ConfigError("scheduler", "'plateau' needs a validation set (val_size above 0)")


def nesterov_applies(optimizer: str, momentum: float) -> bool:
    """Nesterov momentum exists only for SGD with a momentum above 0."""
    return optimizer == "sgd" and momentum > 0


def training_images(config: RunConfig) -> int:
    """Images trained on per epoch: the dataset's, less the validation split, capped by train_samples."""
    images = TRAIN_IMAGES[config.dataset] - config.val_size
    return max(min(images, config.train_samples or images), 0)


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Batches in one epoch; the last one may be short."""
    return math.ceil(images / batch_size)


def planned_steps(config: RunConfig) -> int:
    """Batches in the whole run if nothing ends it early."""
    return config.epochs * steps_per_epoch(training_images(config), config.batch_size)
