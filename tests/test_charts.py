"""Charts that tell the truth: one colour per run, smoothing only where it is honest, divergence shown."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core.config import RunConfig
from core.insight.robustness import Curve as RobustnessCurve
from core.insight.robustness import Robustness
from core.runs.records import Environment, Metric, Run, RunSummary
from core.runs.series import metrics_frame
from core.status import RunStatus
from ui.charts import (
    LEGEND_CHARS,
    PALETTE,
    STACKED_POSITIONS,
    Curve,
    curves_figure,
    label_positions,
    per_class_figure,
    run_color,
    run_styles,
    short_number,
)
from ui.robustness import robustness_figure
from ui.run_charts import CurveSettings, key_figure, run_curves
from ui.text import plotly_text

IDS = [f"20261201-1200{i:02d}-{i * 7919 % 16**6:06x}" for i in range(40)]


def test_a_runs_colour_is_a_fact_of_its_id_whatever_is_selected_with_it():
    assert all(run_color(run_id) in PALETTE for run_id in IDS)
    assert run_color(IDS[3]) == run_color(IDS[3])
    alone = dict(zip(IDS[:1], run_styles(IDS[:1])))
    together = dict(zip(IDS[:30], run_styles(IDS[:30])))
    reordered = dict(zip(IDS[29::-1], run_styles(IDS[29::-1])))
    assert alone[IDS[0]][0] == together[IDS[0]][0] == reordered[IDS[0]][0] == run_color(IDS[0])
    assert len({run_color(run_id) for run_id in IDS}) > len(PALETTE) // 2  # spread over the palette


def test_runs_that_share_a_colour_are_told_apart_by_their_dash():
    styles = run_styles(IDS[:30])
    assert len(set(styles)) == len(styles)  # 30 runs, 13 colours: no two drawn alike


def run(metrics_config=None) -> Run:
    config = metrics_config or RunConfig(model="mlp", dataset="synthetic", val_size=100, batch_size=100, epochs=2)
    return Run(id=IDS[0], name="r", config=config, config_error=None, status=RunStatus.FINISHED, created_at=0.0,
               started_at=0.0, ended_at=10.0, environment=Environment(), tags=(), notes="", summary=RunSummary(),
               message="", pid=None, heartbeat_at=None, stop_requested=False)


def frame() -> pd.DataFrame:
    """Two epochs of 5 noisy batches, validation accuracy 0.9 then 0.9898 (the issue's 98.98%), an lr schedule."""
    rng = np.random.default_rng(0)
    rows = [Metric(s, (s - 1) // 5 + 1, "train", "loss", float(1 / s + rng.normal(0, 0.05)), float(s))
            for s in range(1, 11)]
    rows += [Metric(s, (s - 1) // 5 + 1, "train", "lr", 0.01 * s, float(s)) for s in range(1, 11)]
    rows += [Metric(5, 1, "val", "accuracy", 0.9, 5.0), Metric(10, 2, "val", "accuracy", 0.9898, 10.0)]
    return metrics_frame(rows)


@pytest.mark.parametrize("metric", [("val", "accuracy"), ("train", "lr")])
def test_per_epoch_values_and_the_learning_rate_are_drawn_as_they_are(metric):
    [curve] = run_curves(frame(), run(), "r", (PALETTE[0], "solid"), metric, CurveSettings(weight=0.6))
    expected = frame()[(frame()["split"] == metric[0]) & (frame()["name"] == metric[1])]["value"].tolist()
    assert curve.y.tolist() == expected  # the validation line ends at 98.98%, not a smoothed 98.78%
    assert curve.last_raw is None


def test_per_batch_values_are_smoothed_with_the_raw_behind_and_the_last_raw_value_marked():
    raw, smoothed = run_curves(frame(), run(), "r", (PALETTE[0], "solid"), ("train", "loss"), CurveSettings())
    losses = frame()[frame()["name"] == "loss"]["value"].to_numpy()
    assert raw.faint and raw.y.tolist() == losses.tolist()
    assert smoothed.y[-1] != pytest.approx(losses[-1]) and smoothed.last_raw == losses[-1]
    figure = curves_figure([raw, smoothed], "loss", "step", metric="loss")
    [marker] = [trace for trace in figure.data if trace.meta == "replace"]
    assert (marker.x[0], marker.y[0], marker.text[0]) == (10, losses[-1], f"{losses[-1]:.4g}")


def test_last_value_labels_of_runs_ending_close_together_go_one_above_one_below():
    x = np.arange(1.0, 101.0)
    # two runs ending nearly on top of each other, a third far above them: (last smoothed, last raw)
    ends = [(0.020, 0.021), (0.0205, 0.0207), (0.80, 0.81)]
    curves = [Curve(f"run {i}", x, np.linspace(2.0, end, 100), PALETTE[i], last_raw=raw)
              for i, (end, raw) in enumerate(ends)]
    figure = curves_figure(curves, "loss", "step", metric="loss")
    positions = [trace.textposition for trace in figure.data if trace.meta == "replace"]  # in the curves' order
    assert positions == ["top left", "bottom left", "top left"]  # run 1 ends just under run 0


def test_last_value_labels_far_apart_all_stay_above_their_markers():
    assert label_positions([(100, 0.1), (100, 0.5), (50, 0.11)], (100, 1.0)) == ["top left"] * 3
    assert label_positions([(100, 0.1), (99, 0.11)], (100, 1.0)) == ["bottom left", "top left"]


def test_three_or_more_labels_ending_together_each_get_their_own_place():
    ends = [(100, 0.03), (100, 0.01), (100, 0.02), (100, 0.9)]  # three on one spot, one far above
    assert label_positions(ends, (100, 1.0)) == ["top left", "bottom left", "middle left", "top left"]
    seven = label_positions([(100, 0.001 * i) for i in range(7)], (100, 1.0))
    assert seven[:6] == list(STACKED_POSITIONS) and seven[6] == STACKED_POSITIONS[-1]


def test_the_epoch_axis_comes_from_the_runs_own_steps_per_epoch():
    [_, smoothed] = run_curves(frame(), run(), "r", (PALETTE[0], "solid"), ("train", "loss"), CurveSettings(x="epoch"))
    assert smoothed.x.tolist() == pytest.approx([s / 5 for s in range(1, 11)])  # 500 images / batch 100


def test_a_diverged_loss_is_a_marker_on_the_top_edge_of_a_clipped_axis():
    x = np.arange(1.0, 401.0)
    y = np.r_[np.linspace(2.3, 0.5, 397), [10.0, 55.0, 504.0]]  # the run: 55 at 398, 504 at 399
    y_nan = np.r_[y[:-1], np.nan]
    for values, label in ((y, "504"), (y_nan, "not a number")):
        figure = curves_figure([Curve("run", x, values, PALETTE[0])], "loss", "step", metric="loss")
        low, high = figure.layout.yaxis.range
        assert low < 0.5 and 55.0 <= high < 100.0  # every point up to the divergence, and not the 504
        line, mark = figure.data
        assert line.y[-1] == pytest.approx(high) and len(line.y) == 400  # drawn up to the edge, not dropped
        assert (mark.x.tolist(), mark.text) == ([400.0], (label,))
        assert mark.y[0] == pytest.approx(high)


def test_a_chart_without_divergence_keeps_plotlys_own_range():
    figure = curves_figure([Curve("run", np.arange(3.0), np.array([2.0, 1.0, 0.5]), PALETTE[0])], "loss", "step",
                           metric="loss")
    assert figure.layout.yaxis.range is None and len(figure.data) == 1


def test_per_class_accuracy_is_dots_on_an_axis_zoomed_to_the_values_with_room_at_100_percent():
    figure = per_class_figure(["a", "b"], [[0.97, 1.0, 0.99], [0.82, 0.95, 1.0]],
                              [("#111111", "solid"), ("#111111", "dash")], classes=("x", "y", "z"))
    # a bar's length from a zoomed axis would overstate a difference: these are markers, grouped per class
    assert [trace.type for trace in figure.data] == ["scatter", "scatter"]
    assert {trace.mode for trace in figure.data} == {"markers"} and figure.layout.scattermode == "group"
    assert [trace.marker.symbol for trace in figure.data] == ["circle", "diamond"]  # one colour, two shapes
    low, top = figure.layout.yaxis.range
    assert low == pytest.approx(0.77) and top > 1.0


def test_a_long_run_name_is_cut_with_an_ellipsis_in_the_legend_and_a_short_one_is_kept():
    figure = per_class_figure(["L" * 300, "<b>short</b>"], [[0.9], [0.8]], [("#111111", "solid"), ("#222222", "solid")],
                              classes=("x",))
    assert figure.data[0].name == "L" * (LEGEND_CHARS - 1) + "\u2026"
    assert figure.data[1].name == "&lt;b&gt;short&lt;/b&gt;"  # shown as typed, not as markup


def test_run_names_in_the_robustness_and_grid_legends_are_text_not_markup():
    name = '<a href="https://example.com">click</a> %{x}'
    curve = RobustnessCurve("rotation", "degrees", [0.0, 15.0], [0.99, 0.9])
    result = Robustness([curve], images=100, subset="every 100th", checkpoint="best", seconds=1.0)
    trace = robustness_figure("rotation", "degrees", [(name, ("#123456", "dot"), result)]).data[0]
    assert (trace.line.color, trace.line.dash) == ("#123456", "dot")
    assert trace.name == plotly_text(name) and "click" not in trace.hovertemplate  # "%{x}" is not filled in
    key = key_figure([name], [("#123456", "solid")])
    assert key.data[0].name == plotly_text(name) and key.layout.showlegend  # shown for one run too


def test_a_point_says_its_step_metric_and_run_and_an_accuracy_reads_in_percent():
    curve = Curve("run <b>a</b>", np.array([1, 2, 3438]), np.array([0.5, 0.9, 0.9698]), "#123456")
    accuracy = curves_figure([curve], "Accuracy", "step", metric="accuracy", x_in_title=True)
    # it read "(3438, 0.9698025) validation": no names, seven digits, a fraction beside a headline in percent
    assert accuracy.data[0].hovertemplate == "step %{x:,}<br>accuracy %{y:.2%}<extra>%{fullData.name}</extra>"
    assert accuracy.layout.yaxis.tickformat == ".1%" and accuracy.data[0].name == "run &lt;b&gt;a&lt;/b&gt;"
    marked = curves_figure([replace(curve, last_raw=0.9698)], "Accuracy", "step", metric="accuracy")
    assert marked.data[-1].text == ("96.98%",)  # the last value's label too (it read 0.9698 by a 97.0% axis)
    loss = curves_figure([curve], "Loss", "epoch", metric="epoch_loss")
    assert loss.data[0].hovertemplate.startswith("epoch %{x:,}<br>epoch loss %{y:.4g}")
    assert loss.layout.yaxis.tickformat is None


def test_chart_labels_read_as_their_axes_not_in_e_notation():
    assert [short_number(v) for v in (53_420.0, 0.006107, 0.7336, 1.5e-05, 2.5e16)] == [
        "53,420", "0.006107", "0.7336", "1.5e-05", "2.5e+16"]
