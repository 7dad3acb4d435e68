"""The sweep's charts read as the sweep was asked: choices in their order, whole trial numbers, whole decades."""
from __future__ import annotations

import math
from dataclasses import replace

from core.config import RunConfig
from core.runs.records import Environment, Run, RunSummary
from core.status import RunStatus
from core.sweeps.records import Sweep, SweepPlan
from core.sweeps.results import TrialRow, activity, best_row
from core.sweeps.space import parse_space
from ui.sweep_charts import best_so_far_figure, log_ticks, parallel_figure, scatter_figure

SPACE = {"model": "mlp", "dataset": "synthetic", "val_size": 100, "lr": {"low": 3e-4, "high": 3e-2, "log": True},
         "batch_size": [64, 128, 32]}
RUN = Run(id="20261203-000000-000000", name="t", config=RunConfig(), config_error=None, status=RunStatus.FINISHED,
          created_at=0.0, started_at=0.0, ended_at=1.0, environment=Environment(), tags=(), notes="",
          summary=RunSummary(best_val_accuracy=0.9), message="", pid=None, heartbeat_at=None, stop_requested=False)


def sweep_and_rows() -> tuple[Sweep, list[TrialRow]]:
    sweep = Sweep(id="s", name="s", plan=SweepPlan(parse_space(SPACE), trials=3), status=RunStatus.FINISHED,
                  created_at=0.0, started_at=0.0, ended_at=1.0, message="", pid=None, heartbeat_at=None,
                  stop_requested=False)
    # the first trial drew 128: categories in order of appearance put 128 before 64
    params = [{"lr": 1e-3, "batch_size": 128}, {"lr": 5e-3, "batch_size": 64}, {"lr": 2e-3, "batch_size": 128}]
    rows = [TrialRow(number, replace(RUN, summary=RunSummary(best_val_accuracy=0.9 + number / 100)), 1, p)
            for number, p in enumerate(params)]
    return sweep, rows


def test_choices_are_in_the_order_they_were_given_on_both_charts():
    sweep, rows = sweep_and_rows()
    batch = next(d for d in parallel_figure(sweep, rows).data[0].dimensions if d.label == "batch_size")
    assert list(batch.ticktext) == ["64", "128", "32"] and list(batch.values) == [1, 0, 1]
    scatter = scatter_figure(sweep, rows)
    axis = next(a for a in (scatter.layout.xaxis, scatter.layout.xaxis2) if a.type == "category")
    assert list(axis.categoryarray) == ["64", "128", "32"] and axis.categoryorder == "array"
    assert scatter.layout.yaxis.title.text == "val accuracy"  # the row's shared axis, titled once


def test_a_log_axis_spans_whole_decades_so_both_end_labels_show():
    sweep, rows = sweep_and_rows()
    lr = next(d for d in parallel_figure(sweep, rows).data[0].dimensions if d.label == "lr (log)")
    assert tuple(lr.range) == (-3, -2) and list(lr.ticktext) == ["0.001", "0.01"]


def test_the_best_so_far_axis_ticks_whole_trial_numbers():
    _, rows = sweep_and_rows()
    axis = best_so_far_figure(rows).layout.xaxis
    assert (axis.tick0, axis.dtick) == (0, 1)
    many = [replace(rows[0], number=n) for n in range(45)]
    assert best_so_far_figure(many).layout.xaxis.dtick == 5


def test_each_setting_is_drawn_over_the_whole_range_searched():
    sweep, rows = sweep_and_rows()  # lr searched over 3e-4..3e-2 on a log scale; the trials tried 1e-3..5e-3
    lr = scatter_figure(sweep, rows).layout.xaxis
    low, high = lr.range
    assert lr.type == "log" and list(lr.ticktext) == ["0.0005", "0.001", "0.002", "0.005", "0.01", "0.02"]
    assert low < math.log10(3e-4) < math.log10(3e-2) < high and high - low < 2.2
    linear = replace(sweep, plan=replace(sweep.plan, space=parse_space(SPACE | {"lr": {"low": 0.001, "high": 0.011}})))
    axis = scatter_figure(linear, rows).layout.xaxis
    assert axis.type == "linear" and axis.range[0] < 0.001 < 0.011 < axis.range[1] < 0.0115


def test_trials_at_the_top_of_the_axis_are_drawn_whole():
    sweep, rows = sweep_and_rows()
    markers = [trace for figure in (best_so_far_figure(rows), scatter_figure(sweep, rows)) for trace in figure.data
               if trace.mode == "markers"]
    assert len(markers) == 3 and all(trace.cliponaxis is False for trace in markers)


def test_log_ticks_are_full_numbers_at_1_2_5_over_two_decades_and_powers_of_ten_beyond():
    assert log_ticks(1e-4, 1e-2) == [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2]
    assert log_ticks(1e-6, 1e-1) == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    assert log_ticks(3e-4, 3e-2) == [5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2]


def test_the_header_counts_running_and_waiting_trials_apart():
    _, rows = sweep_and_rows()
    statuses = [RunStatus.RUNNING, RunStatus.QUEUED, RunStatus.FINISHED]
    rows = [replace(row, run=replace(row.run, status=status)) for row, status in zip(rows, statuses)]
    assert activity(rows) == "1 running, 1 waiting"  # the queued one was counted running
    assert activity(rows[2:]) == "0 running"


def test_a_diverged_trial_is_never_the_best_and_a_stopped_one_is_no_result():
    _, rows = sweep_and_rows()
    diverged = replace(rows[0], run=replace(rows[0].run, status=RunStatus.DIVERGED, summary=RunSummary()))
    stopped = replace(rows[1], run=replace(rows[1].run, status=RunStatus.STOPPED))
    assert diverged.objective == 0.0 and stopped.objective is None
    assert best_row([diverged, stopped]) is None  # "best: trial #1, validation accuracy 0.00%" was said
    assert best_row([diverged, stopped, rows[2]]) == rows[2]
