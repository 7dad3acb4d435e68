"""The Runs page's curves: one metric of the selected runs, or every metric at once in a grid.

Both redraw themselves while a selected run is still training (a fragment), send the browser only
new points (ui.live_chart), keep a zoom through refreshes and unrelated control changes, and draw
each run in its own colour (ui.charts.run_color).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.config import epoch_steps
from core.runs.records import Run
from core.runs.series import X_AXES, is_per_epoch, is_smoothable, metric_series, metrics_frame, smooth_ema
from core.runs.store import RunStore
from ui.charts import LEGEND, Curve, add_branches, add_lineage, add_shades, curves_figure, run_styles
from ui.common import store_at
from ui.continuing import lineage_marks
from ui.live_chart import live_chart
from ui.seed_groups import group_controls, group_curves
from ui.text import markdown_text, plotly_text

METRICS = {("train", "loss"): "train loss (per batch)", ("train", "accuracy"): "train accuracy (per batch)",
           ("train", "epoch_loss"): "train loss (epoch mean)",
           ("train", "epoch_accuracy"): "train accuracy (epoch mean)",
           ("val", "loss"): "validation loss", ("val", "accuracy"): "validation accuracy",
           ("train", "lr"): "learning rate", ("train", "samples_per_s"): "samples per second",
           ("train", "epoch_seconds"): "seconds per epoch"}
X_LABELS = {"step": "step", "epoch": "epoch", "wall_time": "wall time (s)"}
VIEWS = {"one": "One metric", "grid": "All metrics"}
REFRESH_S = 2.0  # while a selected run trains


@dataclass(frozen=True)
class CurveSettings:
    x: str = "step"
    weight: float = 0.6
    raw: bool = True
    log_y: bool = False
    grouped: bool = False  # seed groups as mean lines with bands, instead of runs
    band: str = "min-max"


@st.cache_data(max_entries=64, show_spinner=False)
def _ended_frame(root: str, run_id: str, ended_at: float | None) -> pd.DataFrame:
    return metrics_frame(store_at(root).read_metric_rows(run_id)[0])


def run_frame(store: RunStore, run: Run) -> pd.DataFrame:
    """All of a run's metrics: an ended run's never change (cached); an active one's are read from a
    cursor kept in the session, so a refresh reads only the rows written since the last."""
    if not run.is_active:
        return _ended_frame(str(store.root), run.id, run.ended_at)
    live = st.session_state.setdefault("runs_live", {}).setdefault(run.id, {"cursor": 0, "frame": metrics_frame([])})
    new, live["cursor"] = store.read_metric_rows(run.id, after=live["cursor"])
    if new:
        live["frame"] = pd.concat([live["frame"], metrics_frame(new)], ignore_index=True)
    return live["frame"]


def run_curves(frame: pd.DataFrame, run: Run, name: str, style: tuple[str, str], metric: tuple[str, str],
               settings: CurveSettings) -> list[Curve]:
    """One run's curve for a metric: per-batch noise smoothed over every point (the chart downsamples
    afterwards), raw behind it and its last raw value marked; anything else drawn as it is."""
    xs, ys = metric_series(frame, *metric, x=settings.x, start_time=run.started_at, epoch_steps=epoch_steps(run.config))
    colour, dash = style
    if not is_smoothable(*metric) or settings.weight == 0:
        return [Curve(name, xs, ys, colour, markers=is_per_epoch(*metric), dash=dash, group=run.id)]
    finite = ys[np.isfinite(ys)]
    raw = [Curve(f"{name} (raw)", xs, ys, colour, faint=True, dash=dash, group=run.id)] if settings.raw else []
    return raw + [Curve(name, xs, smooth_ema(ys, settings.weight), colour, dash=dash, group=run.id,
                        last_raw=float(finite[-1]) if len(finite) else None)]


def metrics_present(frames: Sequence[pd.DataFrame]) -> list[tuple[str, str]]:
    # the distinct pairs first: iterating over every row of 20 long runs takes seconds
    present = {key for frame in frames
               for key in frame[["split", "name"]].drop_duplicates().itertuples(index=False, name=None)}
    return [key for key in METRICS if key in present]


def controls(frames: Sequence[pd.DataFrame]) -> tuple[str, tuple[str, str], CurveSettings]:
    """View, metric, x axis, smoothing and toggles, in a row that wraps on a narrow window."""
    with st.container(horizontal=True, gap="medium", vertical_alignment="bottom", key="runs_controls"):
        view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, key="runs_view",
                                    default="one", required=True)
        options = metrics_present(frames) or [("train", "loss")]
        metric = st.selectbox("Metric", options, format_func=METRICS.get, key="runs_metric", width=250,
                              disabled=view == "grid")
        x = st.segmented_control("x axis", X_AXES, format_func=X_LABELS.get, key="runs_x", default="step",
                                 required=True)
        weight = st.slider("Smoothing", 0.0, 0.99, 0.6, step=0.01, key="runs_smoothing", width=220,
                           help="Debiased exponential moving average, as in TensorBoard; only per-batch values "
                                "are smoothed, never per-epoch values, test values or the learning rate")
        with st.container(width="content", gap="small"):
            raw = st.toggle("Show raw", True, key="runs_raw")
            log_y = st.toggle("Log y", False, key="runs_log_y")
    grouped, band = group_controls() if view == "one" else (False, "min-max")
    if grouped and x == "wall_time":
        st.caption("Seed groups line up their runs by step or epoch: drawn by step.")
        x = "step"
    return view, metric, CurveSettings(x, weight, raw, log_y, grouped, band)


def metric_chart(runs: Sequence[Run], names: Sequence[str], frames: Sequence[pd.DataFrame],
                 metric: tuple[str, str], settings: CurveSettings, key: str, height: int,
                 legend: bool = True, store: RunStore | None = None) -> None:
    """One metric of every run on one chart (or of their seed groups, as bands); a run without points for
    it is left out, and a chart with none says so instead of drawing empty axes. Given the store, a fork
    is drawn from its branch point, with its parent's run dashed up to there when the parent is not shown."""
    if settings.grouped:
        by_id = dict(zip([run.id for run in runs], frames))
        curves, shades = group_curves(runs, lambda run: by_id[run.id], metric, settings.x,
                                      settings.weight if is_smoothable(*metric) else 0.0, settings.band)
    else:
        curves, shades = each_runs_curves(runs, names, frames, metric, settings), []
    title = METRICS.get(metric, metric[1])
    if not curves:
        st.caption(f"{title}: no points yet.")
        return
    figure = curves_figure(curves, title, X_LABELS[settings.x], log_y=settings.log_y, height=height,
                           metric=metric[1], legend=legend, x_in_title=True)
    add_shades(figure, shades)
    if store is not None:
        add_lineage_of(figure, store, runs, frames, metric, settings)
    # the zoom goes with what the axes mean; the rest (smoothing, raw, the runs) only redraws the lines
    revision = f"{[run.id for run in runs]}:{[run.status for run in runs]}:{metric}:{settings}"
    live_chart(figure, key=key, revision=revision, zoom_key=f"{metric}:{settings.x}:{settings.log_y}")
    if legend and metric[0] == "train" and "loss" in metric[1]:  # the grid says it once, under its key
        smoothing_note(runs, names)


def smoothing_note(runs: Sequence[Run], names: Sequence[str]) -> None:
    """Which runs' training loss includes label smoothing: it sits above a loss without it, as validation's."""
    smoothed = [name for run, name in zip(runs, names) if run.config.label_smoothing]
    if smoothed:
        st.caption(markdown_text(f"The training loss of {', '.join(smoothed)} includes label smoothing, so it sits "
                                 "above a loss without it; validation and test losses never include it."))


def each_runs_curves(runs: Sequence[Run], names: Sequence[str], frames: Sequence[pd.DataFrame],
                     metric: tuple[str, str], settings: CurveSettings) -> list[Curve]:
    """Each run's curves of the metric, the oldest run's first: a fork, newer than its parent, is drawn on top
    of it (it lay hidden under it)."""
    styles = run_styles([run.id for run in runs])
    shown = sorted(zip(runs, names, frames, styles), key=lambda entry: entry[0].created_at)
    return [curve for run, name, frame, style in shown
            for curve in run_curves(frame, run, name, style, metric, settings) if len(curve.x)]


def add_lineage_of(figure: go.Figure, store: RunStore, runs: Sequence[Run], frames: Sequence[pd.DataFrame],
                   metric: tuple[str, str], settings: CurveSettings) -> None:
    """Forks' branch points, and their parents' runs up to there (not for seed groups' bands)."""
    loaded = dict(zip([run.id for run in runs], frames))

    def frame_of(run: Run) -> pd.DataFrame:  # a fork's parent may not be among the selected runs
        return loaded[run.id] if run.id in loaded else run_frame(store, run)

    def parent_curve(parent: Run, frame: pd.DataFrame) -> Curve | None:
        drawn = run_curves(frame, parent, parent.name, ("", "solid"), metric, settings)
        return drawn[-1] if drawn else None

    context, branches = lineage_marks(store, list(runs), frame_of, parent_curve, settings.x)
    add_branches(add_lineage(figure, [] if settings.grouped else context), branches)


def key_figure(names: Sequence[str], styles: Sequence[tuple[str, str]]) -> go.Figure:
    """A legend alone: which colour is which run, once above a grid of charts without legends."""
    fig = go.Figure([go.Scatter(x=[None], y=[None], name=plotly_text(name), mode="lines",
                                line=dict(color=colour, dash=dash, width=3))
                     for name, (colour, dash) in zip(names, styles)])
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    rows = 1 + len(names) // 4
    fig.update_layout(height=24 + 22 * rows, margin=dict(l=0, r=0, t=0, b=0), showlegend=True,  # one run too
                      legend={**LEGEND, "y": 1, "yanchor": "top"}, plot_bgcolor="rgba(0,0,0,0)")
    return fig


def grid(runs: Sequence[Run], names: Sequence[str], frames: Sequence[pd.DataFrame],
         settings: CurveSettings) -> None:
    """Every metric the runs have, each on its own small chart, in a grid that wraps on a narrow window."""
    st.plotly_chart(key_figure(names, run_styles([run.id for run in runs])), key="runs_grid_key",
                    config={"displayModeBar": False, "staticPlot": True})
    smoothing_note(runs, names)
    with st.container(horizontal=True, gap="medium", key="runs_grid"):
        for split, name in metrics_present(frames):
            with st.container(key=f"runs_grid_cell_{split}_{name}", width=360):
                metric_chart(runs, names, frames, (split, name), settings, f"runs_grid_{split}_{name}", 260,
                             legend=False)


def curves(store: RunStore, runs: Sequence[Run], names: Sequence[str]) -> None:
    """The controls and the chart (or the grid), redrawn every REFRESH_S while a selected run trains."""
    interval = REFRESH_S if any(run.is_active for run in runs) else None

    @st.fragment(run_every=interval)
    def redraw() -> None:
        fresh = [store.get_run(run.id) if run.is_active else run for run in runs]
        if any(now.status != before.status for now, before in zip(fresh, runs)):
            st.rerun(scope="app")  # a run ended: the table, its results and Manage above say so too (they stood stale)
        frames = [run_frame(store, run) for run in fresh]
        view, metric, settings = controls(frames)
        if view == "grid":
            grid(fresh, names, frames, settings)
        else:
            metric_chart(fresh, names, frames, metric, settings, "runs_curves", 420, store=store)

    redraw()
