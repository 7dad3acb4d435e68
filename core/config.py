"""A run's settings: one frozen dataclass, validated on creation, saved as JSON."""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MODELS = ("mlp", "cnn", "fastcnn", "fastcnn24")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "plateau", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
IMAGE_DATASETS = ("mnist", "synthetic")
DATASETS = (*IMAGE_DATASETS, "csv")  # csv: a user's table, stored in the run store (see CsvData)
# training images before the validation split is carved out
TRAIN_IMAGES = {"mnist": 60_000, "synthetic": 600}
DIGITS = tuple(str(digit) for digit in range(10))
# the validation split an image dataset gets unless one is chosen: RunConfig's default is MNIST's
VAL_SIZES = {"mnist": 5000, "synthetic": 100}
MAX_EPOCHS = 100
MAX_BATCH_SIZE = 8192
MAX_VAL_SIZE = 30_000
MAX_CLASSES = 50  # a target with more distinct values is an identifier or a number, not a class label
MAX_INPUTS = 4096
MAX_CSV_MB = 20
ONE_HOT_MAX_VALUES = 20  # a text column with more values is a name or an id: one column per value is no help
# the fields whose value is one of a fixed list, for forms and --help (a CSV comes with --csv)
CHOICES = {"model": MODELS, "optimizer": OPTIMIZERS, "scheduler": SCHEDULERS, "device": DEVICES,
           "dataset": IMAGE_DATASETS}
SHA256_HEX = frozenset("0123456789abcdef")


class ConfigError(ValueError):
    """A setting is out of its allowed range; the message names the field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field, self.reason = field_name, message


IMAGE_AUGMENTATIONS = ("augment_shift", "augment_rotate", "augment_scale", "augment_thickness", "augment_elastic")

@dataclass(frozen=True)
class CsvData:
    """A table a run trains on: the stored file (by checksum), the columns used, and what they became.

    The file itself lives in the run store under its sha256; with these fields the same arrays come
    back from it bit for bit. rows, classes and inputs are facts of the checked table, kept here so that
    a config alone builds its model and plans its steps.
    """
    sha256: str  # of the stored file's bytes
    name: str  # the uploaded file's name, for people
    target: str
    features: tuple[str, ...]
    one_hot: tuple[str, ...] = ()  # text feature columns encoded as one column per value
    drop_missing: bool = False  # rows with a missing value are left out
    rows: int = 0  # rows used, after leaving out those with missing values
    classes: tuple[str, ...] = ()  # the target's values, in label order
    inputs: int = 0  # model inputs after one-hot encoding
    test_size: int = 0  # rows held out for the test set, picked by the file's checksum alone

    def __post_init__(self) -> None:
        for name in ("features", "one_hot", "classes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @classmethod
    def from_value(cls, value: Any) -> CsvData | None:
        """None, a CsvData, or its dict as stored in JSON."""
        if value is None or isinstance(value, CsvData):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError("csv", f"must be the table's settings, got {value!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError("csv", f"unknown table setting {unknown[0]!r}")
        return cls(**value)


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
    csv: CsvData | None = None  # the table of a 'csv' run; None for images

    def __post_init__(self) -> None:
        # JSON gives lists and dicts; keep the dataclass hashable and frozen all the way down.
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        object.__setattr__(self, "csv", CsvData.from_value(self.csv))
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
        try:
            object.__setattr__(config, "csv", CsvData.from_value(config.csv))
        except (ConfigError, TypeError):
            object.__setattr__(config, "csv", None)
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
    _validate_model(config)
    _validate_optimizer(config)
    _int_range("batch_size", config.batch_size, 1, MAX_BATCH_SIZE)
    _int_range("epochs", config.epochs, 1, MAX_EPOCHS)
    _validate_schedule(config)
    _validate_data(config)
    _validate_augmentation(config)
    _float_range("label_smoothing", config.label_smoothing, 0.0, 1.0, open_high=True)
    _int_range("seed", config.seed, 0, 2**32 - 1)
    _choice("device", config.device, DEVICES)
    _validate_table(config)
    _validate_split(config)


def _validate_model(config: RunConfig) -> None:
    _choice("model", config.model, MODELS)
    if not config.hidden_sizes or len(config.hidden_sizes) > 4:
        raise ConfigError("hidden_sizes", "must list 1 to 4 layer sizes")
    for size in config.hidden_sizes:
        _int_range("hidden_sizes", size, 1, 4096)


def _validate_optimizer(config: RunConfig) -> None:
    _choice("optimizer", config.optimizer, OPTIMIZERS)
    _float_range("lr", config.lr, 0.0, 10.0, open_low=True)
    _float_range("momentum", config.momentum, 0.0, 1.0, open_high=True)
    if not isinstance(config.nesterov, bool):
        raise ConfigError("nesterov", f"must be true or false, got {config.nesterov!r}")
    if config.nesterov and not nesterov_applies(config.optimizer, config.momentum):
        raise ConfigError("nesterov", "needs optimizer 'sgd' with a momentum above 0")
    _float_range("weight_decay", config.weight_decay, 0.0, 1.0)


def _validate_data(config: RunConfig) -> None:
    _choice("dataset", config.dataset, DATASETS)
    _int_range("val_size", config.val_size, 0, MAX_VAL_SIZE)
    if config.train_samples is not None:
        _int_range("train_samples", config.train_samples, 1, 60_000)


def _validate_augmentation(config: RunConfig) -> None:
    _int_range("augment_shift", config.augment_shift, 0, 4)
    _float_range("augment_rotate", config.augment_rotate, 0.0, 45.0)
    _float_range("augment_scale", config.augment_scale, 0.0, 0.5)
    _float_range("augment_thickness", config.augment_thickness, 0.0, 1.0)
    _float_range("augment_elastic", config.augment_elastic, 0.0, 4.0)


def _validate_split(config: RunConfig) -> None:
    """The validation split leaves examples to train on."""
    examples = training_pool(config)
    if config.val_size >= examples:
        what = "rows left after the test rows" if config.csv else "training images"
        raise ConfigError("val_size", f"must be below the {examples:,} {what} of {config.dataset!r}, "
                                      f"got {config.val_size:,}")


def _validate_table(config: RunConfig) -> None:
    """A 'csv' run has its table and trains an MLP on it; an image run has no table."""
    table = config.csv
    if config.dataset != "csv":
        if table is not None:
            raise ConfigError("csv", f"a table belongs to dataset 'csv', not {config.dataset!r}")
        return
    if table is None:
        raise ConfigError("dataset", "'csv' needs a table (--csv FILE --target COLUMN)")
    if config.model != "mlp":
        raise ConfigError("model", f"a table's rows are not images: a 'csv' run trains 'mlp', not {config.model!r}")
    for name in IMAGE_AUGMENTATIONS:
        if getattr(config, name):
            raise ConfigError(name, "changes images: a 'csv' run needs 0")
    if not (len(table.sha256) == 64 and set(table.sha256) <= SHA256_HEX):
        raise ConfigError("csv", f"sha256 must be 64 hex digits, got {table.sha256!r}")
    if not table.target or not table.features or table.target in table.features:
        raise ConfigError("csv", "needs a target column and at least one other column as a feature")
    if not set(table.one_hot) <= set(table.features):
        raise ConfigError("csv", "one-hot columns must be feature columns")
    if not 2 <= len(table.classes) <= MAX_CLASSES:
        raise ConfigError("csv", f"needs 2 to {MAX_CLASSES} classes, got {len(table.classes)}")
    _int_range("csv.inputs", table.inputs, 1, MAX_INPUTS)
    _int_range("csv.rows", table.rows, 2, 10**8)
    _int_range("csv.test_size", table.test_size, 1, table.rows - 1)  # a run ends with its test


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


def default_val_size(dataset: str) -> int:
    """The validation split for a dataset when none is chosen: it must leave images to train on."""
    return VAL_SIZES.get(dataset, VAL_SIZES["mnist"])


def unused_settings(config: RunConfig, names: Iterable[str]) -> dict[str, str]:
    """Of the settings named, those the run would not use, each with what it needs: a schedule's settings
    without that schedule, say (the CLI refuses them, where a learner may think --plateau-patience turns
    ReduceLROnPlateau on)."""
    needs = {"step_size": ("scheduler step", config.scheduler == "step"),
             "gamma": ("scheduler step", config.scheduler == "step"),
             "plateau_patience": ("scheduler plateau", config.scheduler == "plateau"),
             "plateau_factor": ("scheduler plateau", config.scheduler == "plateau"),
             "min_delta": ("patience above 0", config.patience > 0),
             "momentum": ("optimizer sgd or rmsprop", config.optimizer in ("sgd", "rmsprop")),
             "hidden_sizes": ("model mlp", config.model == "mlp")}
    return {name: needs[name][0] for name in names if name in needs and not needs[name][1]}


def nesterov_applies(optimizer: str, momentum: float) -> bool:
    """Nesterov momentum exists only for SGD with a momentum above 0."""
    return optimizer == "sgd" and momentum > 0


def training_pool(config: RunConfig) -> int:
    """Examples the training and validation splits are carved from: images, or a table's non-test rows."""
    if config.csv is not None:
        return config.csv.rows - config.csv.test_size
    return TRAIN_IMAGES[config.dataset]


def training_images(config: RunConfig) -> int:
    """Examples trained on per epoch: the pool less the validation split, capped by train_samples."""
    images = training_pool(config) - config.val_size
    return max(min(images, config.train_samples or images), 0)


def dataset_label(config: RunConfig) -> str:
    """The data set a run trains and is tested on: 'mnist', 'synthetic' or 'csv: <file name>'."""
    return f"csv: {config.csv.name}" if config.csv is not None else config.dataset


def data_label(config: RunConfig) -> str:
    """dataset_label, with the examples a run trains on where it is limited to some ('mnist, 5,000 examples')."""
    label = dataset_label(config)
    return label if config.train_samples is None else f"{label}, {training_images(config):,} examples"


def class_names(config: RunConfig) -> tuple[str, ...]:
    """The classes in label order: the ten digits, or a table's target values."""
    return config.csv.classes if config.csv is not None else DIGITS


def input_size(config: RunConfig) -> int:
    """Numbers per example: 784 pixels, or a table's encoded feature columns."""
    return config.csv.inputs if config.csv is not None else 28 * 28


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Batches in one epoch; the last one may be short."""
    return math.ceil(images / batch_size)


def epoch_steps(config: RunConfig) -> int:
    """Batches in one epoch of this run."""
    return steps_per_epoch(training_images(config), config.batch_size)


def planned_steps(config: RunConfig) -> int:
    """Batches in the whole run if nothing ends it early."""
    return config.epochs * epoch_steps(config)
