"""Metric series for charts: a table of points, x axes, smoothing and downsampling."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from core.runs.progress import Progress, StepTime, progress
from core.runs.records import Metric, Run
from core.training.events import DIVERGED_LOSS

X_AXES = ("step", "epoch", "wall_time")
MAX_POINTS = 2000
COLUMNS = list(Metric._fields)


def metrics_frame(metrics: Iterable[Metric] | Iterable[tuple]) -> pd.DataFrame:
    """Metric points (or plain tuples in Metric's field order, as RunStore.read_metric_rows gives) as a
    table with the columns step, epoch, split, name, value, wall_time."""
    return pd.DataFrame(list(metrics), columns=COLUMNS)


def metric_series(frame: pd.DataFrame, split: str, name: str, x: str = "step", start_time: float | None = None,
                  epoch_steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One metric's (x, y) in step order; x is the step, the (fractional) epoch or seconds since start.

    A value that is not a number (a NaN loss is stored as a missing value) stays, as NaN: where a
    run diverged is part of its record. epoch_steps (the run's steps per epoch) places per-batch
    points between epochs; without it, the longest epoch seen so far stands in.
    """
    if x not in X_AXES:
        raise ValueError(f"x: {x!r} is not one of {', '.join(X_AXES)}")
    rows = frame[(frame["split"] == split) & (frame["name"] == name)]
    rows = rows.sort_values("step", kind="stable")
    y = rows["value"].to_numpy(dtype=float, na_value=np.nan)
    if x == "step":
        return rows["step"].to_numpy(dtype=float), y
    if x == "wall_time":
        start = start_time if start_time is not None else frame["wall_time"].min()
        return rows["wall_time"].to_numpy(dtype=float) - start, y
    if epoch_steps and not is_per_epoch(split, name):
        return rows["step"].to_numpy(dtype=float) / epoch_steps, y
    return _epoch_axis(frame, rows), y


def _epoch_axis(frame: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    if rows.empty or is_per_epoch(rows["split"].iloc[0], rows["name"].iloc[0]):
        return rows["epoch"].to_numpy(dtype=float)
    # per-batch points sit between epochs: epoch - 1 plus the fraction of the epoch's steps done. Steps
    # per epoch from the longest epoch seen (a whole one, or the first so far); each epoch from its own
    # first step, so a fork or a resume that starts at epoch 5 is placed as well as a run from epoch 1
    bounds = rows.groupby("epoch")["step"].agg(["min", "max"])
    steps_per_epoch = float((bounds["max"] - bounds["min"] + 1).max())
    first = rows["epoch"].map(bounds["min"])
    return (rows["epoch"] - 1 + (rows["step"] - first + 1) / steps_per_epoch).to_numpy(dtype=float)


def is_per_epoch(split: str, name: str) -> bool:
    """True for metrics written once an epoch (epoch_* train metrics, validation, test)."""
    return split != "train" or name.startswith("epoch_")


def is_smoothable(split: str, name: str) -> bool:
    """Only per-batch noise is smoothed: never per-epoch or test values, nor the learning rate (a schedule)."""
    return not is_per_epoch(split, name) and name != "lr"


def off_scale(name: str, y: np.ndarray) -> np.ndarray:
    """Points a chart marks at its edge instead of stretching its axis to them: values that are not
    finite, and losses past the point where a run counts as diverged."""
    y = np.asarray(y, dtype=float)
    with np.errstate(invalid="ignore"):
        blown = ~np.isfinite(y)
        if "loss" in name:
            blown |= np.isfinite(y) & (y > DIVERGED_LOSS)
    return blown


def smooth_ema(values: Iterable[float], weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average; weight 0 returns the values unchanged.

    pandas' ewm(adjust=True) is that average (to 1e-15) and 14x faster than a Python loop over
    17,000 points (benchmarks.library_swaps). Non-finite values stay as they are, visible, and do
    not poison the points after them.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"weight: must be in [0, 1), got {weight}")
    y = np.array(values, dtype=float)
    if weight == 0.0 or len(y) == 0:
        return y
    finite = np.isfinite(y)
    y[finite] = pd.Series(y[finite]).ewm(alpha=1.0 - weight, adjust=True).mean().to_numpy()
    return y


def downsample_minmax(x: Iterable[float], y: Iterable[float],
                      max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most max_points points: first, last, and each bucket's min and max in x order."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = minmax_indices(y, max_points)
    return x[keep], y[keep]


def minmax_indices(y: Iterable[float], max_points: int = MAX_POINTS) -> np.ndarray:
    """The indices downsample_minmax keeps: all of them, or the first, the last and each bucket's min and max."""
    y = np.asarray(y, dtype=float)
    if max_points < 4:
        raise ValueError(f"max_points: must be at least 4, got {max_points}")
    if len(y) <= max_points:
        return np.arange(len(y))
    inner, count = len(y) - 2, (max_points - 2) // 2
    # bucket of each inner point, sized as np.array_split sizes them (the first ones one larger)
    sizes = np.full(count, inner // count)
    sizes[:inner % count] += 1
    bucket = np.repeat(np.arange(count), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    values, gaps = y[1:-1], np.isnan(y[1:-1])
    # sorted by bucket, then by value (stable: the first of equal values wins, as argmin's does)
    lowest = np.lexsort((np.where(gaps, np.inf, values), bucket))[starts]
    highest = np.lexsort((-np.where(gaps, -np.inf, values), bucket))[starts]
    return np.unique(np.concatenate(([0, len(y) - 1], lowest + 1, highest + 1)))  # a bucket's min may be its max


def last_value(frame: pd.DataFrame, split: str, name: str) -> float | None:
    """A metric's latest value, None if it has none."""
    rows = frame[(frame["split"] == split) & (frame["name"] == name)]
    return None if rows.empty else float(rows["value"].iloc[-1])


def step_times(frame: pd.DataFrame, since: float | None = None) -> tuple[StepTime | None, StepTime | None]:
    """The first per-batch point since a time (a resume's start: the pace is this stretch's) and the latest."""
    batches = frame[(frame["split"] == "train") & (frame["name"] == "loss")]
    recent = batches if since is None else batches[batches["wall_time"] >= since]
    first = StepTime(int(recent["step"].iloc[0]), float(recent["wall_time"].iloc[0])) if len(recent) else None
    last = StepTime(int(batches["step"].iloc[-1]), float(batches["wall_time"].iloc[-1])) if len(batches) else None
    return first, last


RATE_BATCHES = 200  # the speed shown is the median over this many latest batches


def recent_rate(frame: pd.DataFrame) -> float | None:
    """Samples a second over the latest batches: one read-back group's rate jumped from 130 to 5,600 with
    what else the machine did, and the progress line showed whichever came last."""
    rows = frame[(frame["split"] == "train") & (frame["name"] == "samples_per_s")]
    return None if rows.empty else float(rows["value"].iloc[-RATE_BATCHES:].median())


def frame_progress(run: Run, frame: pd.DataFrame) -> Progress:
    """A run's progress from its metric points."""
    epoch = int(frame["epoch"].max()) if len(frame) else 1
    return progress(run.config, run.status, *step_times(frame, run.started_at), epoch, recent_rate(frame))
