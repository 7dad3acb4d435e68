"""The Runs page's Robustness tab: one chart per perturbation with a line per run, and their computation.

The curves are computed by a process of its own (core.insight.robustness_jobs), never in the script
thread; while it works, a fragment polls its progress file every second.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core.insight import robustness_jobs
from core.insight.robustness import PERTURBATIONS, Robustness
from core.runs.records import Run
from core.runs.store import RunStore
from ui.charts import run_styles
from ui.run_charts import key_figure
from ui.text import markdown_text, plotly_text

TITLES = {"rotation": "Rotation", "shift": "Shift", "scale": "Scale", "noise": "Gaussian noise",
          "thickness": "Stroke thickness", "fgsm": "FGSM attack"}


def robustness_figure(name: str, unit: str, lines: list[tuple[str, tuple[str, str], Robustness]],
                      height: int = 300) -> go.Figure:
    """Accuracy against one perturbation's level, a line per run in its (colour, dash) (ui.charts.run_styles);
    no legend: a key stands above the grid."""
    fig = go.Figure()
    for label, (colour, dash), result in lines:
        curve = result.curve(name)
        # a run's name as typed: escaped, and not in the template, where "%{x}" in it would be filled in
        fig.add_trace(go.Scatter(x=curve.levels, y=curve.accuracy, name=plotly_text(label), mode="lines+markers",
                                 line=dict(color=colour, dash=dash, width=2),
                                 hovertemplate="%{fullData.name}<br>%{x:g}: %{y:.1%}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title="accuracy")
    fig.update_xaxes(title=unit)
    fig.update_layout(title=TITLES.get(name, name), height=height, margin=dict(l=10, r=10, t=40, b=10),
                      showlegend=False)  # the key above the grid says which line is which run
    return fig


@st.fragment(run_every=1.0)
def job_progress(store: RunStore, runs: list[Run], names: list[str]) -> None:
    """Progress bars of the computations under way; the whole page reruns when the last one ends."""
    working = False
    for run, name in zip(runs, names):
        job = robustness_jobs.progress(store, run.id)
        if job is not None and job.alive:
            working = True
            st.text(f"Measuring {name}: {job.done} of {job.total} perturbation levels")
            st.progress(job.done / max(job.total, 1))
    if not working:
        st.rerun(scope="app")


def compute_button(store: RunStore, runs: list[Run], names: list[str]) -> None:
    """Offer to compute the curves the runs lack, in a background process."""
    label = "Compute robustness curves" + (f" for {len(runs)} runs" if len(runs) > 1 else "")
    st.text(f"Not measured yet: {', '.join(names)}. Each takes up to a minute on a CPU, in the background.")
    if st.button(label, key="runs_robustness_compute", icon=":material/query_stats:"):
        robustness_jobs.launch(store, [run.id for run in runs])
        st.rerun()


def robustness_section(store: RunStore, runs: list[Run], names: list[str]) -> None:
    """The selected runs' robustness curves, and what it takes to get the missing ones."""
    # each run as on the curves above: its own colour, and a dash where two selected runs share one
    styles = dict(zip([run.id for run in runs], run_styles([run.id for run in runs])))
    reasons = {run.id: robustness_jobs.unmeasurable(store, run) for run in runs}
    left_out = [f"{name} ({reasons[run.id]})" for run, name in zip(runs, names) if reasons[run.id]]
    if left_out:
        st.caption(markdown_text(f"Not measured: {'; '.join(left_out)}."))
    ready = [(run, name) for run, name in zip(runs, names) if reasons[run.id] is None]
    if not ready:
        st.info("Robustness is measured on a finished image run's best checkpoint; none of the selected runs has "
                "one.")
        return
    results = {run.id: robustness_jobs.stored_curves(store, run.id) for run, _ in ready}
    jobs = {run.id: robustness_jobs.progress(store, run.id) for run, _ in ready}
    busy = [(run, name) for run, name in ready if jobs[run.id] is not None and jobs[run.id].alive]
    missing = [(run, name) for run, name in ready if results[run.id] is None and (run, name) not in busy]
    for run, name in missing:
        error = robustness_jobs.stored_error(store, run.id)
        if error is not None:
            st.error(markdown_text(f"Measuring {name} failed: {error}"), icon=":material/error:")
    if busy:
        job_progress(store, *map(list, zip(*busy)))
    elif missing:
        compute_button(store, *map(list, zip(*missing)))
    lines = [(name, styles[run.id], results[run.id]) for run, name in ready if results[run.id] is not None]
    if not lines:
        return
    first = lines[0][2]
    st.caption(f"Accuracy on a fixed subset of the test set, {first.subset}, measured on each run's best "
               f"checkpoint. FGSM moves every pixel by epsilon in the direction that raises the loss most.")
    curves_grid(lines)


def curves_grid(lines: list[tuple[str, tuple[str, str], Robustness]]) -> None:
    """One key, then a chart per perturbation in a grid that wraps on a narrow window, as the Curves tab's
    (three columns with a legend each cramped an 800 px window: legends over titles, axis titles cut)."""
    st.plotly_chart(key_figure([name for name, _, _ in lines], [style for _, style, _ in lines]),
                    key="runs_robustness_key", config={"displayModeBar": False, "staticPlot": True})
    with st.container(horizontal=True, gap="medium", key="runs_robustness_grid"):
        for perturbation in PERTURBATIONS:
            with st.container(key=f"runs_robustness_cell_{perturbation.name}", width=360):
                st.plotly_chart(robustness_figure(perturbation.name, perturbation.unit, lines),
                                key=f"runs_robustness_{perturbation.name}")
