"""Plotly figures of a sweep: best so far, parallel coordinates, each setting against the objective, importance.

A trial's marker has its run's colour (ui.charts.run_color), the one it has on every page."""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.sweeps.records import Sweep
from core.sweeps.results import TrialRow, best_so_far, is_categorical, is_log, shown_value
from core.sweeps.space import Range
from ui.charts import COLORS, run_color

OBJECTIVE = "validation accuracy"


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    return fig


def accuracy_range(values: list[float]) -> list[float]:
    """An accuracy axis from a little below the lowest value to 100%, never past it."""
    low = min(values, default=0.0)
    return [max(0.0, low - max(0.02, 0.05 * (1 - low))), 1.005]


def best_so_far_figure(rows: list[TrialRow], height: int = 300) -> go.Figure:
    """Each scored trial's objective, and the best up to it, over the trial numbers."""
    scored = [row for row in rows if row.objective is not None]
    best = best_so_far(rows)
    fig = go.Figure([
        go.Scatter(x=[row.number for row in scored], y=[row.objective for row in scored], mode="markers",
                   name="trial", marker=dict(color=[run_color(row.run.id) for row in scored], size=7),
                   cliponaxis=False,  # a trial at 100% sits on the axis's top edge: drawn whole, not halved
                   hovertemplate="trial #%{x}: %{y:.2%}<extra></extra>"),
        go.Scatter(x=[n for n, _ in best], y=[v for _, v in best], mode="lines", name="best so far",
                   line=dict(color=COLORS[2], width=2, shape="hv"), hoverinfo="skip")])
    last = max((row.number for row in scored), default=0)
    fig.update_xaxes(title="trial", tick0=0, dtick=max(1, math.ceil(last / 10)))  # whole trial numbers only
    fig.update_yaxes(title=OBJECTIVE, tickformat=".0%", range=accuracy_range([row.objective for row in scored]))
    fig.update_layout(showlegend=False)  # a legend collides with the toolbar in a half-width column
    return _layout(fig, "Best so far", height)


def category_labels(sweep: Sweep, name: str, values: list[Any]) -> list[str]:
    """A setting's values as labels in the order of its choices (64 before 128, as typed), then any other."""
    param = sweep.plan.space.search[name]
    choices = list(param.values) if is_categorical(sweep, name) else []
    return [str(shown_value(v)) for v in dict.fromkeys([*choices, *values])]


def _dimension(sweep: Sweep, name: str, values: list[Any]) -> dict:
    """One parcoords axis: categories as evenly spaced ticks, a log range on a log10 axis of whole decades."""
    if is_categorical(sweep, name) or not all(isinstance(v, (int, float)) for v in values):
        labels = category_labels(sweep, name, values)
        index = {label: i for i, label in enumerate(labels)}
        return dict(label=name, values=[index[str(shown_value(v))] for v in values],
                    tickvals=list(range(len(labels))), ticktext=labels)
    if is_log(sweep, name):
        low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        high = max(high, low + 1)
        ticks = list(range(low, high + 1))
        # the range from decade to decade: from the values alone, the ticks at its ends were left out
        return dict(label=f"{name} (log)", values=[math.log10(v) for v in values], tickvals=ticks,
                    ticktext=[f"{10.0 ** t:g}" for t in ticks], range=[low, high])
    return dict(label=name, values=values)


def parallel_figure(sweep: Sweep, rows: list[TrialRow], height: int = 380) -> go.Figure:
    """Plotly parcoords: one line per scored trial through its settings to its objective."""
    scored = [row for row in rows if row.objective is not None]
    objective = [row.objective for row in scored]
    dimensions = [_dimension(sweep, name, [row.params[name] for row in scored]) for name in sweep.plan.space.search]
    low, high = accuracy_range(objective)
    dimensions.append(dict(label=OBJECTIVE, values=objective, tickformat=".0%", range=[low, min(high, 1.0)]))
    line = dict(color=objective, colorscale="Viridis", cmin=low, cmax=1.0, showscale=True,
                colorbar=dict(title="val acc", tickformat=".0%"))
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    # no title: the axes' labels stand above the plot, where a title would cover them
    fig.update_layout(height=height, margin=dict(l=60, r=60, t=50, b=20))
    return fig


def scatter_figure(sweep: Sweep, rows: list[TrialRow], height: int = 280) -> go.Figure:
    """Each searched setting against the objective, one small chart per setting."""
    names = list(sweep.plan.space.search)
    columns = min(len(names), 3)
    fig = make_subplots(rows=math.ceil(len(names) / columns), cols=columns, subplot_titles=names,
                        shared_yaxes=True, horizontal_spacing=0.06)
    scored = [row for row in rows if row.objective is not None]
    for i, name in enumerate(names):
        row, col = divmod(i, columns)
        categorical = is_categorical(sweep, name)
        xs = [str(shown_value(r.params[name])) if categorical else r.params[name] for r in scored]
        fig.add_trace(go.Scatter(x=xs, y=[r.objective for r in scored], mode="markers", showlegend=False,
                                 marker=dict(color=[run_color(r.run.id) for r in scored], size=7), cliponaxis=False,
                                 customdata=[r.number for r in scored],
                                 hovertemplate=f"trial #%{{customdata}}<br>{name} %{{x}}: %{{y:.2%}}<extra></extra>"),
                      row=row + 1, col=col + 1)
        axis = (dict(type="category", categoryorder="array", categoryarray=category_labels(sweep, name, []))
                if categorical else searched_range_axis(sweep.plan.space.search[name]))
        fig.update_xaxes(**axis, row=row + 1, col=col + 1)
    fig.update_yaxes(tickformat=".0%", range=accuracy_range([r.objective for r in scored]))
    fig.update_yaxes(title_text="val accuracy", col=1)  # each row's first chart: the axis the row shares
    return _layout(fig, "", height * math.ceil(len(names) / columns))


def searched_range_axis(param: Range) -> dict:
    """An x axis over the whole searched range, not just the values tried: where they fall in it shows. A
    log axis is labelled in full at powers of ten, and at 2 and 5 times them across a decade or two
    (Plotly's own labels crowded, 0.0008 0.0009 0.001, or read a bare '2' and '5' between decades)."""
    if param.log:
        low, high = math.log10(param.low), math.log10(param.high)
        pad = 0.04 * (high - low or 1)
        ticks = log_ticks(param.low, param.high)
        return dict(type="log", range=[low - pad, high + pad], tickvals=ticks, ticktext=[f"{v:g}" for v in ticks])
    pad = 0.04 * (param.high - param.low or abs(param.low) or 1)
    return dict(type="linear", range=[param.low - pad, param.high + pad])


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times each power of ten from low to high where that spans two decades at most, else the powers."""
    steps = (1, 2, 5) if math.log10(high / low) <= 2 + 1e-9 else (1,)
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    candidates = [float(f"{m}e{d}") for d in decades for m in steps]  # exact decimals: 2e-4, not 0.00020000001
    return [v for v in candidates if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)]


def importance_figure(importance: dict[str, float], height: int = 240) -> go.Figure:
    """Optuna's parameter importance as horizontal bars, the most important on top."""
    ranked = sorted(importance.items(), key=lambda item: item[1])
    fig = go.Figure(go.Bar(x=[share for _, share in ranked], y=[name for name, _ in ranked], orientation="h",
                           marker_color=COLORS[0], hovertemplate="%{y}: %{x:.2f}<extra></extra>"))
    fig.update_xaxes(title="importance (PED-ANOVA)", rangemode="tozero")
    return _layout(fig, "Parameter importance", height)
