"""Plotly figures the pages draw: metric curves, probability bars, images and confusion matrices.

Every name and title given here is shown as plain text (ui.text.plotly_text): callers pass run names as they are.
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from core.runs.series import off_scale
from ui.text import plotly_text, shortened

COLORS = qualitative.Plotly  # for series that are not runs (loss functions, a sweep's parameters)
# a run's colour: Tableau's ten without its grey, and three more, dark enough for thin lines on white
PALETTE = [*(c for c in qualitative.D3 if c != "#7F7F7F"), "#0D2A63", "#FC0080", "#6C7C32"]
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
MARKERS = ("circle", "diamond", "square", "triangle-up", "x")  # a dash's counterpart where there are no lines
NEUTRAL = "#5f6b7a"  # what belongs to no run in particular (a run's validation points beside its line)
DIGITS = tuple(str(d) for d in range(10))
SALIENCY_SCALE = [[0.0, "rgba(255, 60, 0, 0)"], [1.0, "rgba(255, 60, 0, 0.9)"]]
# a legend under the plot: above it, the toolbar that appears on hover covers it
FAINT = 0.3  # the opacity of raw values drawn behind their smoothed curve
LEGEND = dict(orientation="h", yanchor="top", y=-0.12, xanchor="left", x=0, font=dict(size=11))
# a legend entry longer than this would run past an 800 px page's chart: it is cut, with an ellipsis
LEGEND_CHARS = 40
# the Runs page draws a confusion matrix 360 px wide: a longer title would be cut without a mark
CONFUSION_TITLE_CHARS = 36


def color(index: int) -> str:
    """The index-th colour of COLORS, cycling: for series that are not runs (a run has run_color)."""
    return COLORS[index % len(COLORS)]


def run_color(run_id: str) -> str:
    """A run's colour, derived from its id alone: the same on every page, in every selection, always."""
    return PALETTE[zlib.crc32(run_id.encode()) % len(PALETTE)]


def run_styles(run_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(colour, dash) for runs drawn together: each keeps its colour; runs that share one get a dash each."""
    seen: dict[str, int] = {}
    styles = []
    for run_id in run_ids:
        colour = run_color(run_id)
        styles.append((colour, DASHES[seen.get(colour, 0) % len(DASHES)]))
        seen[colour] = seen.get(colour, 0) + 1
    return styles


@dataclass(frozen=True)
class Curve:
    name: str
    x: np.ndarray
    y: np.ndarray
    color: str
    markers: bool = False  # per-epoch series: few points, each worth seeing
    faint: bool = False  # raw values drawn behind their smoothed curve
    dash: str = "solid"
    last_raw: float | None = None  # a smoothed curve's last raw value: marked at its end
    group: str | None = None  # curves that show and hide together from the legend (a run's raw and smoothed)


def _line(curve: Curve, y: np.ndarray, hover: str | None = None) -> go.Scatter:
    # a faint line's colour is see-through itself: a trace's opacity costs Plotly a layer per trace
    # (about 15% of drawing 20 runs' raw and smoothed lines, benchmarks.dashboard_scale)
    colour = translucent(curve.color, FAINT) if curve.faint else curve.color
    return go.Scatter(x=curve.x, y=y, name=plotly_text(curve.name), mode="lines+markers" if curve.markers else "lines",
                      line=dict(color=colour, width=1 if curve.faint else 2, dash=curve.dash),
                      showlegend=not curve.faint, hoverinfo="skip" if curve.faint else None,
                      legendgroup=curve.group, hovertemplate=None if curve.faint else hover)


def short_number(value: float) -> str:
    """A value in a chart's label, in four figures as its axis reads: '53,420', not '5.342e+04'."""
    return f"{value:,.0f}" if 1e4 <= abs(value) < 1e15 else f"{value:.4g}"


def hover_template(x_title: str, metric: str) -> str:
    """A point's hover label: 'step 3,438 · loss 0.2778', an accuracy in percent, and the curve's name."""
    value = "%{y:.2%}" if is_accuracy(metric) else "%{y:.4g}"
    return (f"{plotly_text(x_title)} %{{x:,}}<br>{plotly_text(metric.replace('_', ' ') or 'value')} {value}"
            "<extra>%{fullData.name}</extra>")


def is_accuracy(metric: str) -> bool:
    """Whether a metric is an accuracy, a share from 0 to 1 that reads in percent."""
    return "accuracy" in metric


def _last_raw(curve: Curve, position: str = "top left", percent: bool = False) -> go.Scatter:
    """A marker on a smoothed curve's last x at the raw value there, labelled with it (an accuracy in percent)."""
    label = f"{curve.last_raw:.2%}" if percent else short_number(curve.last_raw)
    return go.Scatter(x=[curve.x[-1]], y=[curve.last_raw], text=[label], meta="replace",
                      mode="markers+text", textposition=position, showlegend=False, cliponaxis=False,
                      marker=dict(color=curve.color, size=8, symbol="circle-open", line=dict(width=2)),
                      textfont=dict(color=curve.color, size=11), legendgroup=curve.group,
                      hovertemplate=f"last value (raw): %{{y:{'.2%' if percent else '.6g'}}}"
                                    f"<extra>{plotly_text(curve.name)}</extra>")


# where the labels of three or more last values that end close together go, from the lowest value up:
# below, beside, above the marker, then the same on its right; a seventh and later label shares a place
STACKED_POSITIONS = ("bottom left", "middle left", "top left", "bottom right", "middle right", "top right")


def label_positions(points: Sequence[tuple[float, float]], spans: tuple[float, float],
                    near: float = 0.06) -> list[str]:
    """Where each last-value label goes: above its marker, or, for markers so close (within `near` of both
    axes' spans of the next one up) that their labels would print over each other, each in its own place."""
    positions = ["top left"] * len(points)
    for cluster in _close_clusters(points, spans, near):
        places = ("bottom left", "top left") if len(cluster) == 2 else STACKED_POSITIONS  # two: one each side
        if len(cluster) > 1:
            for rank, index in enumerate(cluster):
                positions[index] = places[min(rank, len(places) - 1)]
    return positions


def _close_clusters(points: Sequence[tuple[float, float]], spans: tuple[float, float],
                    near: float) -> list[list[int]]:
    """The points' indices in runs of close neighbours, each run from its lowest value up."""
    order = sorted(range(len(points)), key=lambda i: points[i][1])
    clusters: list[list[int]] = []
    for index in order:
        if clusters and _close(points[clusters[-1][-1]], points[index], spans, near):
            clusters[-1].append(index)
        else:
            clusters.append([index])
    return clusters


def _close(a: tuple[float, float], b: tuple[float, float], spans: tuple[float, float], near: float) -> bool:
    return abs(b[1] - a[1]) <= near * spans[1] and abs(b[0] - a[0]) <= near * spans[0]


def _axis_value(value: float, log: bool) -> float:
    return math.log10(value) if log and value > 0 else float(value)


def _axis_values(values: np.ndarray, log: bool) -> np.ndarray:
    """The finite values as they sit on their axis: log10 of the positive ones on a log axis."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return np.log10(values[values > 0]) if log else values


def _span(values: Sequence[np.ndarray], log: bool = False) -> float:
    """How wide the values spread on their axis; 1 where they do not."""
    ends = [(v.min(), v.max()) for v in (_axis_values(v, log) for v in values) if v.size]
    if not ends:
        return 1.0
    low, high = min(end[0] for end in ends), max(end[1] for end in ends)
    return float(high - low) if high > low else 1.0


def _last_values(curves: Sequence[Curve], log_y: bool, percent: bool = False) -> list[go.Scatter]:
    """The last-value markers of the smoothed curves, their labels kept apart."""
    marked = [curve for curve in curves if curve.last_raw is not None and len(curve.x)]
    if len(marked) < 2:  # a live chart of one run: no label to keep apart, no spans to measure
        return [_last_raw(curve, percent=percent) for curve in marked]
    points = [(float(curve.x[-1]), _axis_value(curve.last_raw, log_y)) for curve in marked]
    spans = (_span([curve.x for curve in curves]), _span([curve.y for curve in curves], log_y))
    return [_last_raw(curve, position, percent) for curve, position in zip(marked, label_positions(points, spans))]


def _scale(curves: Sequence[Curve], name: str, log_y: bool) -> tuple[float, float] | None:
    """The y range of the points that are on scale, if some are not (a diverged loss): else None."""
    finite = [curve.y[~off_scale(name, curve.y)] for curve in curves if len(curve.y)]
    if not any(off_scale(name, curve.y).any() for curve in curves) or not any(len(y) for y in finite):
        return None
    values = _axis_values(np.concatenate(finite), log_y)
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.08 or 0.5
    return low - pad, high + pad


def _off_scale_marks(curve: Curve, name: str, top: float) -> go.Scatter:
    """Where a curve left the scale: a marker on the top edge, labelled with the value it had."""
    off = off_scale(name, curve.y)
    labels = [short_number(value) if np.isfinite(value) else ("not a number" if np.isnan(value) else str(value))
              for value in curve.y[off]]
    return go.Scatter(x=curve.x[off], y=np.full(int(off.sum()), top), text=labels, mode="markers+text",
                      textposition="bottom left", showlegend=False, legendgroup=curve.group,
                      marker=dict(color=curve.color, size=11, symbol="triangle-up"),
                      textfont=dict(color=curve.color, size=11),
                      hovertemplate=f"{name} %{{text}} at %{{x}} (off the scale)"
                                    f"<extra>{plotly_text(curve.name)}</extra>")


def curves_figure(curves: Sequence[Curve], title: str, x_title: str, y_title: str = "", log_y: bool = False,
                  height: int = 320, metric: str = "", legend: bool = True, x_in_title: bool = False) -> go.Figure:
    """Line chart of several curves sharing one x axis. x_in_title: titled 'title by x_title' with no
    axis title, which leaves room for the legend right under the axis (live and small charts). Points
    off the scale (metric: the metric's name, for a loss past divergence) are drawn on the top edge
    with a marker saying their value."""
    fig = go.Figure()
    scale = _scale(curves, metric, log_y)
    top = None if scale is None else (10 ** scale[1] if log_y else scale[1])
    hover = hover_template(x_title, metric)
    for curve in curves:
        clipped = curve.y if top is None else np.where(off_scale(metric, curve.y), top, curve.y)
        fig.add_trace(_line(curve, clipped, hover))
    fig.add_traces(_last_values(curves, log_y, percent=is_accuracy(metric)))
    if top is not None:
        fig.add_traces([_off_scale_marks(curve, metric, top) for curve in curves
                        if not curve.faint and off_scale(metric, curve.y).any()])
    fig.update_yaxes(title=plotly_text(y_title), type="log" if log_y else "linear", range=scale,
                     tickformat=".1%" if is_accuracy(metric) and not log_y else None)  # as the headlines say it
    fig.update_layout(showlegend=legend)
    if not x_in_title:
        fig.update_xaxes(title=plotly_text(x_title))
        return _reserve_margins(_layout(fig, title, height).update_layout(legend_y=-0.3), legend, 120)
    return _reserve_margins(_layout(fig, f"{title} by {x_title}", height), legend, 76)


def _reserve_margins(fig: go.Figure, legend: bool, legend_bottom: int) -> go.Figure:
    """Room for the y tick labels, the x ones and a one-row legend before the first draw: margins that
    automargin must widen make Plotly draw every line again (twice the time for 20 long runs)."""
    return fig.update_layout(margin=dict(l=60, b=legend_bottom if legend else 30))


def plotly_labels(labels: Sequence[str]) -> list[str]:
    """Labels (a CSV's class names) as Plotly shows them literally: see ui.text.plotly_text."""
    return [plotly_text(label) for label in labels]


def _axis_title(classes: Sequence[str]) -> str:
    return "digit" if tuple(classes) == DIGITS else "class"


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=plotly_text(title), font=dict(size=14)), height=height, legend=LEGEND,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)  # tick labels are not cut off by the small margin
    return fig


def probability_figure(probabilities: Sequence[float], color: str = COLORS[0], height: int = 220,
                       classes: Sequence[str] = DIGITS) -> go.Figure:
    """Bars of the class probabilities, the top one in the run's colour; every class labelled."""
    top = int(np.argmax(probabilities))
    colors = [color if d == top else "#b8c0cc" for d in range(len(probabilities))]
    labels = plotly_labels(classes)
    fig = go.Figure(go.Bar(x=labels, y=list(probabilities), marker_color=colors,
                           hovertemplate=f"{_axis_title(classes)} %{{x}}: %{{y:.1%}}<extra></extra>"))
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    # a narrow chart would label every other digit: name them all, upright
    fig.update_xaxes(type="category", tickmode="array", tickvals=labels, ticktext=labels, tickangle=0)
    return _layout(fig, "", height)


def image_figure(image: np.ndarray, overlay: np.ndarray | None = None, title: str = "",
                 height: int = 260) -> go.Figure:
    """A grey image, optionally with a saliency map over it in orange."""
    fig = go.Figure(go.Heatmap(z=image, colorscale="gray", showscale=False, zmin=0, zmax=1,
                               hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"))
    if overlay is not None:
        fig.add_trace(go.Heatmap(z=overlay, colorscale=SALIENCY_SCALE, zmin=0, zmax=1, showscale=False,
                                 hovertemplate="saliency %{z:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(visible=False, constrain="domain")
    return _layout(fig, title, height)


def confusion_figure(confusion: Sequence[Sequence[int]], title: str = "", height: int = 420,
                     classes: Sequence[str] = DIGITS) -> go.Figure:
    """Confusion matrix: true class down, predicted class across, counts in the cells."""
    z = np.asarray(confusion)
    labels = plotly_labels(classes)
    # a fixed size: left to itself, Plotly shrinks the counts to fit a narrow chart (7 px and less)
    fig = go.Figure(go.Heatmap(z=np.log1p(z), x=labels, y=labels, text=z, texttemplate="%{text}",
                               textfont=dict(size=12), colorscale="Blues", showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(title="true", autorange="reversed", type="category", tickvals=labels)
    fig.update_xaxes(title="predicted", type="category", side="top", tickvals=labels)
    _layout(fig, title, height)
    # the title above the top axis's labels and title, not beside them: the margin holds all three
    return fig.update_layout(title=dict(yref="container", y=1, yanchor="top", pad=dict(t=8)),
                             margin=dict(t=90 if title else 55))


def per_class_figure(names: Sequence[str], accuracies: Sequence[Sequence[float]], styles: Sequence[tuple[str, str]],
                     height: int = 300, classes: Sequence[str] = DIGITS, data: str = "") -> go.Figure:
    """Per-class test accuracy, a dot per run side by side in each class; styles are run_styles'. `data`, where
    given, names the data set in the title: the classes are its own, digits only for MNIST.

    Dots, not bars: the axis starts just below the lowest accuracy so that 97% and 99% can be told
    apart, and a bar's length from there would make a small difference look large. Runs that share a
    colour have a dash each in line charts, and a marker shape each here.
    """
    axis = _axis_title(classes) if data in ("", "mnist") else "class"
    # the name through %{fullData.name}: put in the template itself, a '%{y}' in it would be filled in
    fig = go.Figure([go.Scatter(x=plotly_labels(classes), y=list(acc), name=plotly_text(shortened(name, LEGEND_CHARS)),
                                mode="markers",
                                marker=dict(color=colour, size=10, symbol=MARKERS[DASHES.index(dash)],
                                            line=dict(width=1, color="white")),
                                hovertemplate=f"%{{fullData.name}}<br>{axis} %{{x}}: %{{y:.2%}}<extra></extra>")
                     for name, acc, (colour, dash) in zip(names, accuracies, styles)])
    low = max(0.0, min((min(acc) for acc in accuracies), default=0.0) - 0.05)
    top = 1.0 + (1.0 - low) * 0.04  # room for a dot at 100%
    fig.update_yaxes(tickformat=".0%", range=[low, top], title="accuracy")
    fig.update_layout(scattermode="group", scattergap=0.4)
    fig.update_xaxes(type="category", title=axis)
    _layout(fig, f"Per-class test accuracy: {data}" if data else "Per-class test accuracy", height)
    # the legend in the chart's bottom strip, below the axis title: at -0.12 of the plot, it ran into it
    return fig.update_layout(legend=dict(yref="container", y=0, yanchor="bottom"), margin=dict(b=36))


@dataclass(frozen=True)
class Shade:
    """A band behind a curve: a seed group's min-max or ±1 std around its mean."""
    x: np.ndarray
    low: np.ndarray
    high: np.ndarray
    color: str


@dataclass(frozen=True)
class Branch:
    """Where a fork left its parent: a dotted line across the chart at that x."""
    x: float
    label: str


def translucent(colour: str, alpha: float = 0.18) -> str:
    """'#636efa' as an rgba() colour with this opacity."""
    red, green, blue = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def add_shades(fig: go.Figure, shades: Sequence[Shade]) -> go.Figure:
    """Bands drawn under the curves already in the figure."""
    traces = []
    for shade in shades:
        edge = dict(x=shade.x, mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip")
        traces += [go.Scatter(y=shade.high, **edge),
                   go.Scatter(y=shade.low, fill="tonexty", fillcolor=translucent(shade.color), **edge)]
    fig.add_traces(traces)
    fig.data = fig.data[-len(traces):] + fig.data[:-len(traces)] if traces else fig.data
    return fig


def add_branches(fig: go.Figure, branches: Sequence[Branch]) -> go.Figure:
    """A dotted vertical line with a label (plain text) at each branch point."""
    for branch in branches:
        fig.add_vline(x=branch.x, line=dict(dash="dot", width=1, color="#7f7f7f"),
                      annotation=dict(text=plotly_text(branch.label), font=dict(size=10, color="#7f7f7f")),
                      annotation_position="top left")
    return fig


def add_lineage(fig: go.Figure, curves: Sequence[Curve]) -> go.Figure:
    """Dashed curves of what a fork inherited: its parent's run up to the branch point."""
    fig.add_traces([go.Scatter(x=curve.x, y=curve.y, name=plotly_text(curve.name), mode="lines",
                               line=dict(color=curve.color, width=1.5, dash="dash"), opacity=0.6)
                    for curve in curves])
    return fig
