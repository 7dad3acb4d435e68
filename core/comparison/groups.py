"""Seed groups: runs with the same settings but their seed, their curves as a mean and a band, their
final metrics as mean and spread."""
from __future__ import annotations

import dataclasses
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.config import ConfigError, RunConfig
from core.runs.records import Run

# where a run trained, not what: a seed group spans devices as it spans seeds
NOT_SETTINGS = ("seed", "device")
BANDS = ("min-max", "std")
MAX_SEEDS = 100


def repeat_over_seeds(config: RunConfig, seeds: Iterable[int]) -> list[RunConfig]:
    """The config once per seed, in the order given; repeats and an empty list are refused."""
    # the reasons avoid the word "seeds": the Train form names the field by its label in front of them
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("seeds", "give at least one")
    _refuse_too_many(len(seeds))
    repeated = sorted(seed for seed, count in Counter(seeds).items() if count > 1)
    if repeated:
        raise ConfigError("seeds", f"give each once; {', '.join(map(str, repeated))} came more than once")
    return [dataclasses.replace(config, seed=seed) for seed in seeds]


def parse_seeds(text: str) -> list[int]:
    """Seeds as a user types them: '0 1 2', '0, 1, 2' or a range '0-4'; more than MAX_SEEDS are refused
    before any range is spelled out."""
    parts = [_seed_range(part) for part in text.replace(",", " ").split()]
    _refuse_too_many(sum(len(part) for part in parts))
    return [seed for part in parts for seed in part]


def _refuse_too_many(count: int) -> None:
    if count > MAX_SEEDS:
        raise ConfigError("seeds", f"at most {MAX_SEEDS} at once, got {count}")


def _seed_range(part: str) -> range:
    low, _, high = part.partition("-")
    if not low.isdigit() or (high and not high.isdigit()) or (high and int(high) < int(low)):
        raise ConfigError("seeds", f"write whole numbers or ranges such as 0-4, got {part!r}")
    return range(int(low), int(high or low) + 1)


def settings_key(run: Run) -> tuple[str, str | None, int | None]:
    """What a seed group shares: every setting but the seed and device, and where a fork branched."""
    settings = {name: value for name, value in run.config.to_dict().items() if name not in NOT_SETTINGS}
    return json.dumps(settings, sort_keys=True), run.parent_id, run.parent_epoch


@dataclass(frozen=True)
class SeedGroup:
    label: str  # the settings that set it apart from the other groups
    runs: tuple[Run, ...]

    @property
    def seeds(self) -> list[int]:
        return sorted(run.config.seed for run in self.runs)


def seed_groups(runs: Sequence[Run]) -> list[SeedGroup]:
    """The runs grouped by settings minus the seed, in the order their first run comes."""
    grouped: dict[tuple, list[Run]] = {}
    for run in runs:
        grouped.setdefault(settings_key(run), []).append(run)
    labels = _labels([members[0] for members in grouped.values()])
    return [SeedGroup(label, tuple(members)) for label, members in zip(labels, grouped.values())]


def _labels(firsts: list[Run]) -> list[str]:
    """Each group named by the settings that differ between the groups: 'lr=0.001, optimizer=adam'."""
    configs = [_shown_settings(run) for run in firsts]
    differing = differing_settings(configs)
    labels = []
    for run, config in zip(firsts, configs):
        parts = [f"{name}={config[name]}" for name in differing]
        if run.parent_id is not None and len({(r.parent_id, r.parent_epoch) for r in firsts}) > 1:
            parts.append(f"fork of {run.parent_id[-6:]} at epoch {run.parent_epoch}")
        labels.append(", ".join(parts) or "same settings")
    return _unique(labels)


def differing_settings(configs: Sequence[Mapping[str, object]]) -> list[str]:
    """The settings, but the seed and device, on which the configs (as dicts) do not all agree, in their order."""
    return [name for name in configs[0] if name not in NOT_SETTINGS
            and len({repr(config[name]) for config in configs}) > 1] if configs else []


def _shown_settings(run: Run) -> dict[str, str]:
    """Settings as a label shows them; a table by its file name and target."""
    settings = {name: "all" if value is None and name == "train_samples" else str(value)  # not "None"
                for name, value in run.config.to_dict().items()}
    if run.config.csv is not None:
        settings["csv"] = f"{run.config.csv.name} ({run.config.csv.target})"
    return settings


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct by a number where two would read the same."""
    return [f"{label} #{labels[:i].count(label) + 1}" if labels.count(label) > 1 else label
            for i, label in enumerate(labels)]


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float | None  # sample standard deviation; None for a single value
    count: int

    def __str__(self) -> str:
        return f"{self.mean:.4g}" if self.std is None else f"{self.mean:.4g} ± {self.std:.2g}"


def spread(values: Iterable[float | None]) -> Spread | None:
    """Mean, sample std and count of the values that exist; None if none does."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return Spread(statistics.fmean(present), statistics.stdev(present) if len(present) > 1 else None,
                  len(present))


FINAL_METRICS = {"test accuracy": lambda run: run.summary.test_accuracy,
                 "test loss": lambda run: run.summary.test_loss,
                 "best val accuracy": lambda run: run.summary.best_val_accuracy,
                 "epochs": lambda run: run.summary.epochs_completed if run.status.is_final else None}


def final_spreads(group: SeedGroup) -> dict[str, Spread | None]:
    """Mean ± std of each final metric over the group's runs."""
    return {name: spread(read(run) for run in group.runs) for name, read in FINAL_METRICS.items()}


@dataclass(frozen=True)
class Band:
    """A group's curve: at each x, the mean of its runs, the band's edges and how many runs were there."""
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray


def band(series: Sequence[tuple[np.ndarray, np.ndarray]], kind: str = "min-max") -> Band:
    """Runs' (x, y) series on a shared x (step or epoch) as a mean line and a min-max or ±1 std band."""
    if kind not in BANDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(BANDS)}")
    import pandas as pd  # here: the CLI's train and the worker use this module and would pay pandas' import

    frames = [pd.DataFrame({"x": x, "y": y}).dropna() for x, y in series]
    points = pd.concat(frames) if frames else pd.DataFrame({"x": [], "y": []})
    stats = points.groupby("x")["y"].agg(["mean", "std", "min", "max", "count"]).sort_index()
    mean = stats["mean"].to_numpy(dtype=float)
    if kind == "std":
        std = stats["std"].fillna(0.0).to_numpy(dtype=float)
        low, high = mean - std, mean + std
    else:
        low, high = stats["min"].to_numpy(dtype=float), stats["max"].to_numpy(dtype=float)
    return Band(stats.index.to_numpy(dtype=float), mean, low, high, stats["count"].to_numpy())
