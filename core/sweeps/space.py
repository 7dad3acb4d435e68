"""A sweep's search space: each RunConfig field fixed, chosen from a list, or drawn from a range.

Written as TOML or JSON (`examples/sweep-quick.toml`) or built by the Sweeps page; checked against
RunConfig's own rules before anything starts, so a bad space is refused naming its field.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ConfigError, RunConfig

FIELDS = {field.name: field for field in dataclasses.fields(RunConfig)}
INT_FIELDS = {"hidden_sizes", "batch_size", "epochs", "step_size", "plateau_patience", "patience", "val_size",
              "train_samples", "augment_shift", "seed"}
FLOAT_FIELDS = {"lr", "momentum", "weight_decay", "gamma", "plateau_factor", "min_delta", "label_smoothing"}
MAX_GRID = 10_000


class SpaceError(ValueError):
    """The space cannot be searched; the message names the field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False  # an int field: Optuna draws whole numbers


Param = Choice | Range


@dataclass(frozen=True)
class SearchSpace:
    """Fixed settings plus the searched ones, by RunConfig field name."""
    fixed: dict[str, Any]
    search: dict[str, Param]

    def config(self, params: dict[str, Any]) -> RunConfig:
        """The RunConfig of one trial: the fixed settings with the trial's drawn values."""
        return RunConfig(**{**self.fixed, **{name: decode(value) for name, value in params.items()}})

    def grid_size(self) -> int:
        """How many settings a grid search visits (ranges need a step or whole numbers)."""
        return math.prod(len(grid_values(name, param)) for name, param in self.search.items())

    def to_dict(self) -> dict[str, Any]:
        """The space as written in a space file."""
        out: dict[str, Any] = {name: ({"value": value} if isinstance(value, list) else value)
                               for name, value in self.fixed.items()}
        for name, param in self.search.items():
            if isinstance(param, Choice):
                out[name] = {"choices": [decode(v) for v in param.values]}
            else:
                spec = {"low": param.low, "high": param.high, "log": param.log}
                out[name] = spec | ({"step": param.step} if param.step is not None else {})
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())  # in the order written: the charts show them so


def encode(value: Any) -> Any:
    """A choice as Optuna stores it (None, bool, int, float or str): a list of layer sizes as JSON."""
    return json.dumps(list(value)) if isinstance(value, (list, tuple)) else value


def decode(value: Any) -> Any:
    """A drawn value back as RunConfig takes it."""
    if isinstance(value, str) and value.startswith("["):
        return tuple(json.loads(value))
    return value


def load_space(path: Path | str) -> SearchSpace:
    """A space file (.toml or .json); a file that cannot be read is a SpaceError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as some Windows editors write, is no statement
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)  # sp.JSON read as TOML
    except (OSError, ValueError) as err:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise SpaceError("space", f"cannot read {path}: {err}") from err
    return parse_space(data)


def parse_space(data: Any) -> SearchSpace:
    """Check a space written as a dict, field by field, then against RunConfig's rules."""
    if not isinstance(data, dict) or not data:
        raise SpaceError("space", "is empty: give RunConfig settings, at least one with a list of "
                                  "choices or a range")
    fixed, search = {}, {}
    for name, spec in data.items():
        if name not in FIELDS:
            raise SpaceError(name, f"not a RunConfig setting (known: {', '.join(sorted(FIELDS))})")
        param = _param(name, spec)
        if param is None:
            fixed[name] = _fixed(name, spec)
        elif (one := _single_value(param)) is not None:  # as the form takes one value: a fixed setting
            fixed[name] = _fixed(name, one[0])
        else:
            search[name] = param
    if not search:  # `lr = [0.1]` alone ran trials that all trained the same settings
        raise SpaceError("space", "searches nothing: give at least one setting two or more choices, or a range "
                                  "(one value is a fixed setting)")
    space = SearchSpace(fixed, search)
    check_space(space)
    return space


def _single_value(param: Param) -> tuple[Any] | None:
    """(the value,) of a parameter that can take one value only: a one-item list, or a range from x to x."""
    if isinstance(param, Choice):
        return (decode(param.values[0]),) if len(param.values) == 1 else None
    if param.low == param.high:
        return (int(param.low) if param.integer else param.low,)
    return None


def _fixed(name: str, spec: Any) -> Any:
    value = spec["value"] if isinstance(spec, dict) else spec
    return tuple(value) if name == "hidden_sizes" else value


def _param(name: str, spec: Any) -> Param | None:
    """The searched parameter a spec describes, or None for a fixed value."""
    if isinstance(spec, dict):
        if "value" in spec:
            return None
        if "choices" in spec:
            return _choice(name, spec["choices"])
        return _range(name, spec)
    # a plain list is a list of choices, except one list of layer sizes, which is a fixed value
    if isinstance(spec, list) and not (name == "hidden_sizes" and all(isinstance(v, int) for v in spec)):
        return _choice(name, spec)
    return None


def _choice(name: str, values: Any) -> Choice:
    if not isinstance(values, list) or not values:
        raise SpaceError(name, "the list of choices is empty")
    encoded = tuple(dict.fromkeys(encode(v) for v in values))  # repeats dropped, order kept
    if any(not isinstance(v, (str, int, float, bool, type(None))) for v in encoded):
        raise SpaceError(name, f"choices must be plain values, got {values!r}")
    return Choice(encoded)


def _range(name: str, spec: dict) -> Range:
    unknown = sorted(set(spec) - {"low", "high", "log", "step"})
    if unknown or "low" not in spec or "high" not in spec:
        raise SpaceError(name, "a range is {low, high} with optional log and step; a list is a list of "
                               f"choices; got {spec!r}")
    if name not in INT_FIELDS | FLOAT_FIELDS or name == "hidden_sizes":
        raise SpaceError(name, "only a number setting takes a range: give a list of choices")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    for label, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise SpaceError(name, f"{label} must be a number, got {value!r}")
    if not isinstance(log, bool):
        raise SpaceError(name, f"log must be true or false, got {log!r}")
    if low > high:
        raise SpaceError(name, f"low ({low:g}) is above high ({high:g})")
    if log and low <= 0:
        raise SpaceError(name, f"a log range needs low above 0, got {low:g}")
    if step is not None and (step <= 0 or log):
        raise SpaceError(name, "step must be above 0, and a log range takes no step")
    integer = name in INT_FIELDS
    if integer and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise SpaceError(name, f"is a whole number: low, high and step must be whole, got {spec!r}")
    cast = int if integer else float
    return Range(cast(low), cast(high), log, None if step is None else cast(step), integer)


def probes(param: Param) -> tuple[Any, ...]:
    """The values that stand for a parameter when checking it: each choice, or both ends of a range."""
    return tuple(decode(v) for v in param.values) if isinstance(param, Choice) else (param.low, param.high)


def check_space(space: SearchSpace) -> None:
    """Each searched value, with the fixed settings, must make a valid RunConfig."""
    first = {name: probes(param)[0] for name, param in space.search.items()}
    try:
        base = RunConfig(**{**space.fixed, **first})
    except ConfigError as err:
        raise SpaceError(err.field, str(err).split(": ", 1)[1]) from err
    except TypeError as err:
        raise SpaceError("space", f"malformed: {err}") from err
    if base.val_size == 0:
        raise SpaceError("val_size", "a sweep ranks trials by validation accuracy, so it needs val_size above 0")
    for name, param in space.search.items():
        for value in probes(param):
            try:
                dataclasses.replace(base, **{name: value})
            except ConfigError as err:
                raise SpaceError(name, f"{value!r} is refused: {err}") from err
            except TypeError as err:
                raise SpaceError(name, f"{value!r} is refused: {err}") from err


def grid_values(name: str, param: Param) -> tuple[Any, ...]:
    """The values a grid search visits for one parameter."""
    if isinstance(param, Choice):
        return param.values
    if not param.integer and param.step is None:
        raise SpaceError(name, "a grid needs a list of choices, or a range with a step (or of whole numbers)")
    step = param.step or 1
    count = math.floor((param.high - param.low) / step + 1e-9) + 1
    if count > MAX_GRID:
        raise SpaceError(name, f"a grid over this range has {count:,} values; give a larger step")
    cast = int if param.integer else float
    return tuple(cast(param.low + i * step) for i in range(count))
