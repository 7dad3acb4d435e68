"""Sweeps: define a search space with widgets, launch its driver process, watch the trials live."""
from __future__ import annotations

import os
import time

import pandas as pd
import streamlit as st

from core.config import IMAGE_DATASETS, MODELS, OPTIMIZERS
from core.names import MAX_NAME_CHARS
from core.runs.progress import format_seconds
from core.runs.store import RunStore
from core.status import RunStatus
from core.sweeps.driver import check_drivers, launch_sweep, resume_sweep
from core.sweeps.executors import RayUnreachable, check_reachable
from core.sweeps.records import EXECUTORS, STRATEGIES, Sweep, SweepPlan, SweepSettingError
from core.sweeps.results import (
    BEST,
    TrialRow,
    activity,
    best_row,
    describe_best,
    shown_value,
    trial_rows,
    trials_started,
)
from core.sweeps.space import SpaceError, parse_space
from core.sweeps.store import SweepStore
from ui.common import (
    STATUS_COLORS,
    format_time,
    get_store,
    percent_column,
    percent_value,
    route_through_app,
    store_guard,
)
from ui.sweep_charts import best_so_far_figure, importance_figure, parallel_figure, scatter_figure
from ui.text import markdown_text

LR_CHOICES = sorted({float(f"{m}e{e}") for e in range(-5, 0) for m in (1, 2, 3, 5)} | {1.0})
BATCH_CHOICES = [16, 32, 64, 128, 256, 512, 1024]
VAL_SIZE = {"mnist": 5000, "synthetic": 100}
STRATEGY_LABELS = {"grid": "Grid", "random": "Random", "tpe": "TPE (Bayesian)"}
# the form's words for the settings an error names (the space file's and the CLI's are the field names)
FORM_LABELS = {"model": "Models", "optimizer": "Optimizers", "batch_size": "Batch sizes",
               "lr": "Learning rate range", "epochs": "Epochs per trial", "dataset": "Dataset", "trials": "Trials",
               "parallel": "At once", "name": "Sweep name", "strategy": "Strategy", "executor": "Executor"}
NOTHING_SEARCHED = ("nothing to search: pick two or more Models, Optimizers or Batch sizes, or a Learning rate "
                    "range with two different ends")
STOP_MESSAGES = {"requested": "Stop requested: the trials in flight stop and keep their checkpoints.",
                 "not active": "Nothing to stop: the sweep had already ended."}


def space_from_widgets() -> dict:
    """The space the form describes, as a space file would say it; one value is a fixed setting."""
    state = st.session_state
    space: dict = {"dataset": state.sweeps_dataset, "epochs": state.sweeps_epochs,
                   "val_size": VAL_SIZE[state.sweeps_dataset]}
    for field, key in (("model", "sweeps_models"), ("optimizer", "sweeps_optimizers"),
                       ("batch_size", "sweeps_batch_sizes")):
        values = list(state[key])
        space[field] = values[0] if len(values) == 1 else values
    low, high = state.sweeps_lr
    if low == high:
        space["lr"] = low
    elif state.sweeps_strategy == "grid":  # a grid visits the listed rates between the two ends
        space["lr"] = [lr for lr in LR_CHOICES if low <= lr <= high]
    else:
        space["lr"] = {"low": low, "high": high, "log": True}
    return space


def plan_from_widgets() -> SweepPlan:
    """The form's plan; raises SpaceError or SweepSettingError naming what is wrong."""
    state = st.session_state
    if not state.sweeps_models or not state.sweeps_optimizers or not state.sweeps_batch_sizes:
        empty = next(f for f, k in (("model", "sweeps_models"), ("optimizer", "sweeps_optimizers"),
                                    ("batch_size", "sweeps_batch_sizes")) if not state[k])
        raise SpaceError(empty, "pick at least one value")
    return SweepPlan(space=parse_space(space_from_widgets()), strategy=state.sweeps_strategy,
                     trials=int(state.sweeps_trials), parallel=int(state.sweeps_parallel),
                     pruner="median" if state.sweeps_prune else "", executor=state.sweeps_executor,
                     ray_address=state.sweeps_ray_address.strip(), name=state.sweeps_name.strip())


def space_widgets() -> None:
    """What to search: several values of a setting are searched, one value is fixed."""
    left, right = st.columns(2)
    left.multiselect("Models", MODELS, default=["mlp"], key="sweeps_models", persist_state="session")
    right.multiselect("Optimizers", OPTIMIZERS, default=["adam"], key="sweeps_optimizers", persist_state="session")
    left.multiselect("Batch sizes", BATCH_CHOICES, default=[64, 128], key="sweeps_batch_sizes",
                     persist_state="session")
    right.selectbox("Dataset", IMAGE_DATASETS, key="sweeps_dataset", persist_state="session",
                    help="synthetic: 600 tiny bar images, a stand-in that trains in a second")
    st.select_slider("Learning rate range (log scale)", LR_CHOICES, value=(1e-4, 1e-2), key="sweeps_lr",
                     format_func=lambda v: f"{v:g}", persist_state="session")
    st.slider("Epochs per trial", 1, 20, 1, key="sweeps_epochs", persist_state="session")


def search_widgets() -> None:
    """How to search, how much, and where the trials run."""
    left, right = st.columns(2)
    left.radio("Strategy", STRATEGIES, index=2, format_func=STRATEGY_LABELS.get, key="sweeps_strategy",
               horizontal=True, persist_state="session")
    right.toggle("Prune poor trials (median)", key="sweeps_prune", persist_state="session",
                 help="Stop a trial whose validation accuracy trails the median of earlier trials at the same epoch")
    left.number_input("Trials", 1, 1000, 8, key="sweeps_trials", persist_state="session")
    cores = os.cpu_count() or 1
    right.number_input("At once", 1, 16, 1, key="sweeps_parallel", persist_state="session",
                       help=f"Trials running in parallel on this machine, which has {cores} core"
                            f"{'s' * (cores > 1)}: more than {cores} at once only slows each down (a Ray cluster "
                            "takes as many as its machines have cores)")
    left.radio("Executor", EXECUTORS, key="sweeps_executor", horizontal=True, persist_state="session",
               format_func={"local": "This machine", "ray": "Ray cluster"}.get)
    right.text_input("Ray address", key="sweeps_ray_address", placeholder="host:6379, empty for Ray on this machine",
                     disabled=st.session_state.get("sweeps_executor") != "ray", persist_state="session")
    st.text_input("Sweep name", key="sweeps_name", placeholder="optional", persist_state="session",
                  max_chars=MAX_NAME_CHARS)


def form_error(err: Exception) -> str:
    """An error as the form puts it: the setting by its label ('Batch sizes: pick at least one value')."""
    field, _, reason = str(err).partition(": ")
    if field == "space" and reason.startswith("searches nothing"):
        return NOTHING_SEARCHED
    return f"{FORM_LABELS.get(field, field)}: {reason}" if reason else field


def launch() -> None:
    """Validate the form, store the sweep, start its driver process; a bad setting starts nothing."""
    try:
        plan = plan_from_widgets()
        if plan.executor == "ray" and plan.ray_address:
            check_reachable(plan.ray_address)
    except (SpaceError, SweepSettingError, RayUnreachable) as err:
        st.error(f"Not started: {markdown_text(form_error(err))}", icon=":material/error:")
        return
    sweep_id = launch_sweep(get_store(), plan)
    st.session_state["sweeps_shown"] = sweep_id
    name = SweepStore(get_store()).get(sweep_id).name
    st.session_state["sweeps_flash"] = (sweep_id, f"Started sweep {markdown_text(name)}.")
    st.rerun()  # the page lists the sweeps before the form: draw it again with the new one


def new_sweep(expanded: bool) -> None:
    with st.expander("New sweep", expanded=expanded, icon=":material/add:"):
        space_widgets()
        search_widgets()
        if st.button("Launch sweep", type="primary", icon=":material/rocket_launch:", key="sweeps_launch"):
            launch()


def sweep_label(sweep: Sweep) -> str:
    """The picker's label: its status is shown (live) below it, not here, where it would go stale."""
    return f"{sweep.name} ({format_time(sweep.created_at)}, {sweep.plan.trials} trials)"


def trials_table(sweep: Sweep, rows: list[TrialRow], best: TrialRow | None) -> pd.DataFrame:
    """One row per trial: its status, objective, the best-so-far mark and its settings."""
    records = []
    for row in rows:
        # the best yet of a trial running, or stopped by hand (no result for the search, but it reached one)
        unscored = row.run.is_active or row.run.status == RunStatus.STOPPED
        so_far = row.run.summary.best_val_accuracy if unscored else None
        record = {"trial": row.number, "status": row.run.status.label,
                  "val acc": percent_value(row.objective if row.objective is not None else so_far),
                  "best": "best" if best is not None and row.number == best.number else "",
                  "test acc": percent_value(row.run.summary.test_accuracy), "epochs": row.run.summary.epochs_completed,
                  "time": format_seconds(row.run.duration), "attempts": row.attempts}
        records.append(record | {name: shown_value(value) for name, value in row.params.items()})
    columns = ["trial", "status", "val acc", "best", *sweep.plan.space.search, "test acc", "epochs", "time",
               "attempts"]
    return pd.DataFrame(records, columns=columns)


def picked_trial(sweep: Sweep, rows: list[TrialRow], best: TrialRow | None) -> TrialRow | None:
    """The trials table; the row picked in it (or the best trial) is the one the links open."""
    event = st.dataframe(trials_table(sweep, rows, best), key=f"sweeps_table_{sweep.id}", on_select="rerun",
                         selection_mode="single-row", hide_index=True, width="stretch", placeholder="-",
                         column_config={
                             "val acc": percent_column("Val acc"),
                             "test acc": percent_column("Test acc")})
    picked = [rows[i] for i in event.selection.rows if i < len(rows)]
    return picked[0] if picked else best


def trial_links(row: TrialRow | None) -> None:
    """Open the picked (or best) trial on the Runs and Draw pages."""
    if row is None:
        return
    st.caption(f"Trial #{row.number}: {markdown_text(row.run.name)} - pick a row in the table to choose another")
    links = st.container(horizontal=True)
    links.page_link("pages/runs.py", label="Compare in Runs", icon=":material/table_chart:",
                   query_params={"run": row.run.id})
    if row.run.status in (RunStatus.FINISHED, RunStatus.EARLY_STOPPED, RunStatus.PRUNED, RunStatus.STOPPED):
        links.page_link("pages/draw.py", label="Try it in Draw", icon=":material/draw:",
                        query_params={"run": row.run.id})


def controls(sweeps: SweepStore, store: RunStore, sweep: Sweep) -> None:
    """Stop a running sweep; resume a stopped or interrupted one."""
    if sweep.is_active and st.button("Stop sweep", key="sweeps_stop", icon=":material/stop_circle:"):
        st.session_state["sweeps_stop_result"] = (sweep.id, sweeps.request_stop(sweep.id), time.time())
    resumable = sweep.status in (RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.FAILED)
    if resumable and st.button("Resume sweep", key="sweeps_resume", icon=":material/play_arrow:"):
        resume_sweep(store, sweep.id)
        st.session_state["sweeps_stop_result"] = (sweep.id, "resumed", time.time())
    result = st.session_state.get("sweeps_stop_result")
    # said until the sweep ends after the click: "the rest run now" stood beside a finished sweep
    if result and result[0] == sweep.id and (sweep.ended_at is None or sweep.ended_at < result[2]):
        st.info(STOP_MESSAGES.get(result[1], "Resumed: finished trials are kept, the rest run now."),
                icon=":material/info:")


def header(sweeps: SweepStore, store: RunStore, sweep: Sweep, rows: list[TrialRow], best: TrialRow | None) -> None:
    title, buttons = st.columns([4, 1], vertical_alignment="center")
    with title:
        st.subheader(markdown_text(sweep.name))
        st.badge(sweep.status.label, color=STATUS_COLORS.get(sweep.status, "gray"))
    with buttons:
        controls(sweeps, store, sweep)
    plan = sweep.plan
    started = trials_started([row.run for row in rows])
    deleted = f" ({started - len(rows)} deleted since)" if started > len(rows) else ""
    st.caption(f"{STRATEGY_LABELS[plan.strategy]}{', pruning' if plan.pruner else ''} - {started} of "
               f"{plan.trials} trials started{deleted}, {activity(rows)} - {plan.parallel} at once on "
               f"{'Ray' if plan.executor == 'ray' else 'this machine'} - {format_seconds(sweep.duration)}")
    message = current_message(sweep, best)
    if message:
        (st.error if sweep.status == RunStatus.FAILED else st.caption)(markdown_text(message))


def current_message(sweep: Sweep, best: TrialRow | None) -> str:
    """The sweep's message, its best trial as the trials stored now show it (one deleted on Runs was still
    named best here, beside a table that marked another)."""
    if best is not None and sweep.message.startswith(BEST):
        return describe_best(best.number, best.objective)
    return sweep.message


def charts(sweep: Sweep, rows: list[TrialRow]) -> None:
    if not any(row.objective is not None for row in rows):
        st.caption("The charts appear once a trial has a result.")
        return
    left, right = st.columns(2)
    left.plotly_chart(best_so_far_figure(rows), key="sweeps_best")
    if sweep.importance:
        right.plotly_chart(importance_figure(sweep.importance), key="sweeps_importance")
    else:
        right.caption("Parameter importance appears once two trials differ in their results.")
    st.markdown("**Settings against the objective**")
    st.plotly_chart(parallel_figure(sweep, rows), key="sweeps_parallel_coordinates")
    st.plotly_chart(scatter_figure(sweep, rows), key="sweeps_scatter")
    st.caption("Above, a line's colour is its validation accuracy; below, a dot's colour is its trial's, as on the "
               "Runs page.")


@st.fragment(run_every=2.0)
def live_sweep(sweep_id: str) -> None:
    """Reruns every two seconds: the sweep's status, its trials and the charts, from the store."""
    with store_guard("sweeps_live"):
        show_sweep(sweep_id)


def started_message(sweep: Sweep) -> None:
    """"Started sweep ..." over the sweep just launched, while it runs: it stood, stale, beside its end."""
    flash = st.session_state.get("sweeps_flash")
    if flash is None or flash[0] != sweep.id:
        return
    if sweep.is_active:
        st.success(flash[1], icon=":material/check_circle:")
    else:
        del st.session_state["sweeps_flash"]


def show_sweep(sweep_id: str) -> None:
    store = get_store()
    sweeps = SweepStore(store)
    check_drivers(sweeps)
    sweep = sweeps.get(sweep_id)
    rows = trial_rows(sweep, store.sweep_runs(sweep_id))
    best = best_row(rows)  # one for the header's best line and the table's mark
    started_message(sweep)
    header(sweeps, store, sweep, rows, best)
    if not rows:
        st.caption("No trials yet: the driver is starting.")
        return
    trial_links(picked_trial(sweep, rows, best))
    charts(sweep, rows)


route_through_app()
st.header("Sweeps", divider="gray")
with store_guard("sweeps"):
    all_sweeps = SweepStore(get_store()).list()
new_sweep(expanded=not all_sweeps)
if not all_sweeps:
    st.info("No sweeps yet: define a search space above and launch one.", icon=":material/info:")
    st.stop()
by_id = {sweep.id: sweep for sweep in all_sweeps}
if st.session_state.get("sweeps_shown") not in by_id:
    st.session_state["sweeps_shown"] = all_sweeps[0].id
shown = st.selectbox("Sweep", list(by_id), format_func=lambda i: sweep_label(by_id[i]), key="sweeps_shown")
live_sweep(shown)
