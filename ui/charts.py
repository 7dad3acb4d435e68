"""Plotly figures the pages draw: metric curves, probability bars, images and confusion matrices.

Every name and title given here is shown as plain text (ui.text.plotly_text): callers pass run names as they are.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from ui.text import plotly_text

COLORS = qualitative.Plotly
DIGITS = tuple(str(d) for d in range(10))
SALIENCY_SCALE = [[0.0, "rgba(255, 60, 0, 0)"], [1.0, "rgba(255, 60, 0, 0.9)"]]


@dataclass(frozen=True)
class Curve:
    name: str
    x: np.ndarray
    y: np.ndarray
    color: str
    markers: bool = False  # per-epoch series: few points, each worth seeing
    faint: bool = False  # raw values drawn behind their smoothed curve


def color(index: int) -> str:
    """The index-th colour of the palette, cycling."""
    return COLORS[index % len(COLORS)]


def plotly_labels(labels: Sequence[str]) -> list[str]:
    """Labels (a CSV's class names) as Plotly shows them literally: see ui.text.plotly_text."""
    return [plotly_text(label) for label in labels]


def _axis_title(classes: Sequence[str]) -> str:
    return "digit" if tuple(classes) == DIGITS else "class"


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=plotly_text(title), height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    return fig


def curves_figure(curves: Sequence[Curve], title: str, x_title: str, y_title: str = "",
                  log_y: bool = False, height: int = 320) -> go.Figure:
    """Line chart of several curves sharing one x axis."""
    fig = go.Figure()
    for curve in curves:
        fig.add_trace(go.Scatter(
            x=curve.x, y=curve.y, name=plotly_text(curve.name), mode="lines+markers" if curve.markers else "lines",
            line=dict(color=curve.color, width=1 if curve.faint else 2), opacity=0.3 if curve.faint else 1.0,
            showlegend=not curve.faint, hoverinfo="skip" if curve.faint else None))
    fig.update_xaxes(title=plotly_text(x_title))
    fig.update_yaxes(title=plotly_text(y_title), type="log" if log_y else "linear")
    return _layout(fig, title, height)


def probability_figure(probabilities: Sequence[float], height: int = 220,
                       classes: Sequence[str] = DIGITS) -> go.Figure:
    """Bars of the class probabilities, the top one highlighted."""
    top = int(np.argmax(probabilities))
    colors = [COLORS[0] if d == top else "#b8c0cc" for d in range(len(probabilities))]
    fig = go.Figure(go.Bar(x=plotly_labels(classes), y=list(probabilities), marker_color=colors,
                           hovertemplate=f"{_axis_title(classes)} %{{x}}: %{{y:.1%}}<extra></extra>"))
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_xaxes(type="category")
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


def confusion_figure(confusion: Sequence[Sequence[int]], title: str = "", height: int = 380,
                     classes: Sequence[str] = DIGITS) -> go.Figure:
    """Confusion matrix: true class down, predicted class across, counts in the cells."""
    z = np.asarray(confusion)
    labels = plotly_labels(classes)
    fig = go.Figure(go.Heatmap(z=np.log1p(z), x=labels, y=labels, text=z, texttemplate="%{text}",
                               colorscale="Blues", showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(title="true", autorange="reversed", type="category")
    fig.update_xaxes(title="predicted", type="category", side="top")
    return _layout(fig, title, height)


def per_class_figure(names: Sequence[str], accuracies: Sequence[Sequence[float]], colors: Sequence[str],
                     height: int = 300, classes: Sequence[str] = DIGITS) -> go.Figure:
    """Grouped bars: per-class test accuracy, one colour per run."""
    axis = _axis_title(classes)
    # the name through %{fullData.name}: put in the template itself, a '%{y}' in it would be filled in
    fig = go.Figure([go.Bar(x=plotly_labels(classes), y=list(acc), name=plotly_text(name), marker_color=colour,
                            hovertemplate=f"%{{fullData.name}}<br>{axis} %{{x}}: %{{y:.2%}}<extra></extra>")
                     for name, acc, colour in zip(names, accuracies, colors)])
    low = min((min(acc) for acc in accuracies), default=0.0)
    fig.update_yaxes(tickformat=".0%", range=[max(0.0, low - 0.05), 1.0])
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", title=axis)
    return _layout(fig, "Per-class test accuracy", height)


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
