"""Series helpers: min/max downsampling, TensorBoard's debiased EMA, metric tables and x axes."""
from __future__ import annotations

import numpy as np
import pytest

from core.runs.records import Metric
from core.runs.series import (
    downsample_minmax,
    is_per_epoch,
    is_smoothable,
    metric_series,
    metrics_frame,
    off_scale,
    recent_rate,
    smooth_ema,
)


def noisy(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(n, dtype=float), rng.normal(size=n).cumsum()


def test_short_series_is_left_alone():
    x, y = noisy(100)
    dx, dy = downsample_minmax(x, y, max_points=100)
    assert np.array_equal(dx, x) and np.array_equal(dy, y)


@pytest.mark.parametrize("n, max_points", [(10_001, 2000), (5_000, 101), (2_001, 2000), (50_000, 16)])
def test_downsampling_bounds_the_length_and_keeps_the_ends(n, max_points):
    x, y = noisy(n)
    dx, dy = downsample_minmax(x, y, max_points=max_points)
    assert len(dx) <= max_points
    assert (dx[0], dy[0], dx[-1], dy[-1]) == (x[0], y[0], x[-1], y[-1])
    assert np.all(np.diff(dx) > 0)  # still in x order, no point twice


def test_downsampling_keeps_each_buckets_min_and_max():
    x, y = noisy(10_000)
    dx, dy = downsample_minmax(x, y, max_points=202)
    kept = set(dx.astype(int).tolist())
    for bucket in np.array_split(np.arange(1, len(y) - 1), 100):
        assert bucket[np.argmin(y[bucket])] in kept and bucket[np.argmax(y[bucket])] in kept
    assert dy.max() == y.max() and dy.min() == y.min()


def test_downsampling_keeps_a_single_spike():
    x = np.arange(100_000, dtype=float)
    y = np.zeros_like(x)
    y[54_321] = 9.0  # random sampling would almost surely drop it
    dx, dy = downsample_minmax(x, y)
    assert 54_321.0 in dx and dy.max() == 9.0


def test_smoothing_weight_zero_is_the_raw_series():
    _, y = noisy(50)
    assert np.array_equal(smooth_ema(y, 0.0), y)


def test_smoothing_keeps_a_constant_constant_and_the_first_value():
    assert np.allclose(smooth_ema(np.full(500, 3.7), 0.99), 3.7)
    _, y = noisy(20)
    assert smooth_ema(y, 0.9)[0] == pytest.approx(y[0])


def test_smoothing_matches_tensorboards_formula():
    values, weight = [1.0, 5.0, 2.0], 0.6
    last, expected = 0.0, []
    for i, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        expected.append(last / (1 - weight ** i))
    assert np.allclose(smooth_ema(values, weight), expected)
    assert smooth_ema(values, weight)[1] == pytest.approx((0.4 * 0.6 * 1 + 0.4 * 5) / (1 - 0.36))


def test_smoothing_refuses_weight_one():
    with pytest.raises(ValueError, match="weight"):
        smooth_ema([1.0, 2.0], 1.0)


def metrics() -> list[Metric]:
    """Two epochs of four batches, validation after each epoch, a test point at the end."""
    rows = [Metric(step, (step - 1) // 4 + 1, "train", "loss", 1.0 / step, 100.0 + step)
            for step in range(1, 9)]
    rows += [Metric(4 * e, e, "val", "loss", 0.5 / e, 100.0 + 4 * e) for e in (1, 2)]
    rows += [Metric(4 * e, e, "train", "epoch_loss", 0.6 / e, 100.0 + 4 * e) for e in (1, 2)]
    return rows + [Metric(8, 1, "test", "loss", 0.4, 110.0)]


def test_metric_series_by_step_epoch_and_wall_time():
    frame = metrics_frame(metrics())
    x, y = metric_series(frame, "train", "loss")
    assert x.tolist() == list(range(1, 9)) and y[0] == 1.0
    x, _ = metric_series(frame, "train", "loss", x="epoch")
    assert x.tolist() == [s / 4 for s in range(1, 9)]  # steps per epoch from epoch 1, not the test row
    x, y = metric_series(frame, "val", "loss", x="epoch")
    assert x.tolist() == [1.0, 2.0] and y.tolist() == [0.5, 0.25]
    x, _ = metric_series(frame, "train", "loss", x="wall_time", start_time=100.0)
    assert x.tolist() == [float(s) for s in range(1, 9)]


def test_metric_series_keeps_a_missing_value_as_nan_and_refuses_unknown_axes():
    # a NaN loss is stored as a missing value: where a run diverged stays in its series
    frame = metrics_frame(metrics() + [Metric(9, 3, "train", "loss", None, 200.0)])
    x, y = metric_series(frame, "train", "loss")
    assert x[-1] == 9 and np.isnan(y[-1]) and np.isfinite(y[:-1]).all()
    with pytest.raises(ValueError, match="x"):
        metric_series(frame, "train", "loss", x="time")


def test_epoch_axis_from_the_runs_steps_per_epoch_does_not_move_as_the_run_grows():
    frame = metrics_frame(metrics()[:2])  # two batches of epoch 1 so far
    assert metric_series(frame, "train", "loss", x="epoch")[0].tolist() == [0.5, 1.0]  # guessed: 2 steps
    assert metric_series(frame, "train", "loss", x="epoch", epoch_steps=4)[0].tolist() == [0.25, 0.5]


def test_only_per_batch_series_other_than_the_learning_rate_are_smoothed():
    assert is_smoothable("train", "loss") and is_smoothable("train", "accuracy")
    assert is_smoothable("train", "samples_per_s")
    for split, name in [("train", "lr"), ("val", "accuracy"), ("train", "epoch_loss"), ("test", "loss")]:
        assert not is_smoothable(split, name), (split, name)


def test_off_scale_points_are_the_non_finite_ones_and_diverged_losses():
    y = np.array([2.3, 0.5, 55.0, 504.0, np.nan, np.inf])
    assert off_scale("loss", y).tolist() == [False, False, False, True, True, True]
    assert off_scale("accuracy", np.array([0.5, np.nan])).tolist() == [False, True]
    assert off_scale("lr", np.array([500.0])).tolist() == [False]  # only a loss diverges


def test_per_epoch_metrics_are_told_apart():
    assert is_per_epoch("val", "loss") and is_per_epoch("train", "epoch_accuracy")
    assert not is_per_epoch("train", "loss") and not is_per_epoch("train", "samples_per_s")


def test_the_epoch_axis_places_a_fork_from_its_branch_epoch():
    """A fork from epoch 2 of a run with 4 steps per epoch: its steps 9-16 are epochs 2.25 to 4."""
    rows = [Metric(step, 3 + (step - 9) // 4, "train", "loss", 1.0, 0.0) for step in range(9, 17)]
    rows += [Metric(12, 3, "train", "epoch_loss", 1.0, 0.0), Metric(16, 4, "train", "epoch_loss", 1.0, 0.0)]
    x, _ = metric_series(metrics_frame(rows), "train", "loss", x="epoch")
    assert x.tolist() == [2 + s / 4 for s in range(1, 9)]
    live = [Metric(step, 3, "train", "loss", 1.0, 0.0) for step in range(9, 12)]  # epoch 3 under way
    x, _ = metric_series(metrics_frame(live), "train", "loss", x="epoch")
    assert x.tolist() == [2 + s / 3 for s in range(1, 4)]


def test_the_speed_shown_is_the_median_of_the_latest_batches_not_the_last_one():
    rates = [5000.0] * 300 + [130.0]  # one read-back group slowed by what else the machine did
    frame = metrics_frame([Metric(step, 1, "train", "samples_per_s", rate, float(step))
                           for step, rate in enumerate(rates, 1)])
    assert recent_rate(frame) == 5000.0
    assert recent_rate(metrics_frame([])) is None
