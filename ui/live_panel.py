"""The Train page's live panel: the queue, the run it follows (or one picked), its progress and charts."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from core.config import epoch_steps
from core.runs.final_test import describe_test
from core.runs.progress import format_seconds, status_line
from core.runs.queue import current_run, queue_order
from core.runs.records import Run
from core.runs.series import frame_progress, last_value, metric_series, metrics_frame
from core.runs.store import RunStore
from core.runs.supervisor import HEARTBEAT_TIMEOUT_S, STOP_OUTCOMES, not_responding, status_label, stop_run
from core.status import RunStatus
from ui.charts import NEUTRAL, Curve, curves_figure, run_color
from ui.common import format_time, get_store, list_runs, status_badge, store_guard
from ui.live_chart import live_chart
from ui.text import markdown_text

RECENT_RUNS = 20
CURRENT = "current"
# a Stop or Cancel says what it did at the top of the panel for this long, whichever run is shown
NOTICE_S = 15.0


def run_choice(runs: list[Run]) -> Run | None:
    """The run the panel shows: the one the queue is on (see core.runs.queue.current_run), or one picked."""
    by_id = {run.id: run for run in runs[:RECENT_RUNS]}
    picked = st.session_state.get("train_view")
    if picked not in (CURRENT, *by_id) and picked in {run.id for run in runs}:
        by_id[picked] = next(run for run in runs if run.id == picked)  # an older run stays picked
    # labels without the status: a label that changed under the picker would reset it
    choice = st.selectbox("Show", [CURRENT, *by_id], key="train_view",
                          format_func=lambda o: "Current run (follows the queue)" if o == CURRENT
                          else f"{by_id[o].name} ({by_id[o].id[-6:]})")
    return by_id[choice] if choice in by_id else current_run(runs)


def show_queue(runs: list[Run]) -> None:
    """The queued and running runs, in the order they run."""
    # one element whether or not the queue is empty, so that what follows keeps its place in the
    # fragment: a shift leaves the previous run's elements on screen for a moment, shown twice
    box = st.container()
    active = queue_order(runs)
    if not active:
        return
    rows = [{"name": run.name, "status": status_label(run), "model": run.config.model,
             "epochs": run.config.epochs, "queued at": format_time(run.created_at)} for run in active]
    box.markdown(f"**Queue** ({len(active)} active)")
    box.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def live_frame(store: RunStore, run: Run) -> pd.DataFrame:
    """The run's metrics so far, reading only rows written since the last call."""
    live = st.session_state.get("train_live", {}).get(run.id)
    if live is None or live["started_at"] != run.started_at:  # new, or resumed: its rows after the resume
        live = {"cursor": 0, "frame": metrics_frame([]), "complete": False,  # point were dropped and come again
                "started_at": run.started_at}
    if not live["complete"]:
        new, live["cursor"] = store.read_metric_rows(run.id, after=live["cursor"])
        if new:
            live["frame"] = pd.concat([live["frame"], metrics_frame(new)], ignore_index=True)
        # the status was read before these rows: a final one means no more rows will come
        live["complete"] = not run.is_active
    st.session_state["train_live"] = {run.id: live}  # only the shown run's points are kept
    return live["frame"]


def stop(store: RunStore, run: Run) -> None:
    """Stop or Cancel callback: ask, then have the panel say what happened, in a toast and at its top."""
    text = STOP_OUTCOMES[stop_run(store, run.id)].format(name=repr(run.name))
    # said by the panel's rerun, not here: an element shown in a fragment's callback lands at the app's top
    st.session_state["train_notice"] = (text, time.time())
    st.session_state["train_toast"] = text


def show_notice() -> None:
    toast = st.session_state.pop("train_toast", None)
    if toast:
        st.toast(markdown_text(toast), icon=":material/stop_circle:")
    text, at = st.session_state.get("train_notice", ("", 0.0))
    if text and time.time() - at < NOTICE_S:
        st.info(markdown_text(text), icon=":material/info:")


def stop_button(store: RunStore, run: Run) -> None:
    """Stop a running run or cancel a queued one; what happened is said above, and in a toast."""
    if not run.is_active:
        return
    label = "Cancel" if run.status == RunStatus.QUEUED else "Stop"
    st.button(label, key="train_stop", icon=":material/stop_circle:", on_click=stop, args=(store, run))


def headline(run: Run, frame: pd.DataFrame) -> None:
    """Validation and test accuracy and time; the test figure says whose weights it is of."""
    best_val, test = run.summary.best_val_accuracy, run.summary.test_accuracy
    val = best_val if best_val is not None else last_value(frame, "val", "accuracy")
    columns = st.columns(3)
    columns[0].metric("Validation accuracy", "-" if val is None else f"{val:.2%}")
    columns[1].metric("Test accuracy", "-" if test is None else f"{test:.2%}", help=describe_test(run))
    columns[2].metric("Time", format_seconds(run.duration) or "-")
    st.caption(f"Test: {describe_test(run)}")


def run_header(store: RunStore, run: Run, frame: pd.DataFrame) -> None:
    """Name, status, message, progress and the headline numbers."""
    title, stop = st.columns([4, 1], vertical_alignment="center")
    with title:
        st.subheader(markdown_text(run.name), anchor=False)
        status_badge(run)
    with stop:
        stop_button(store, run)
    message = st.empty()  # present with or without a message: nothing below shifts
    if not_responding(run):
        message.warning(f"Its worker (pid {run.pid}) has not reported for "
                        f"{format_seconds(time.time() - run.heartbeat_at)}: it may be frozen (suspended) or the "
                        f"machine may be swapping. Queued runs no longer wait for it after "
                        f"{HEARTBEAT_TIMEOUT_S:.0f} s; Stop ends its process.", icon=":material/hourglass_disabled:")
    elif run.message and run.status in (RunStatus.FAILED, RunStatus.DIVERGED):
        message.error(markdown_text(run.message))
    elif run.message:
        message.caption(markdown_text(run.message))
    shown = frame_progress(run, frame)
    st.progress(shown.fraction, text=status_line(run, shown))
    headline(run, frame)


def live_curves(run: Run, frame: pd.DataFrame, name: str) -> list[Curve]:
    """Per-batch training values in the run's colour, epoch means over them, validation and test points."""
    colour = run_color(run.id)
    series = {key: metric_series(frame, split, metric, epoch_steps=epoch_steps(run.config))
              for key, (split, metric) in {"batch": ("train", name), "epoch": ("train", f"epoch_{name}"),
                                           "val": ("val", name), "test": ("test", name)}.items()}
    # a smoothed training loss sits above validation's, which has none: the legend says why
    smoothing = run.config.label_smoothing if name == "loss" else 0.0
    with_it = f", label smoothing {smoothing:g}" if smoothing else ""
    return [Curve(f"train (per batch{with_it})", *series["batch"], colour),
            Curve(f"train (epoch mean{with_it})", *series["epoch"], colour, markers=True, dash="dot"),
            Curve("validation", *series["val"], NEUTRAL, markers=True),
            Curve("test", *series["test"], "#111111", markers=True)]


def live_charts(run: Run, frame: pd.DataFrame) -> None:
    """Loss and accuracy by step, one above the other; new points only, and a zoom survives."""
    for name in ("loss", "accuracy"):
        curves = live_curves(run, frame, name)
        figure = curves_figure(curves, name.capitalize(), "step", metric=name, height=300, x_in_title=True)
        # the status: a run that ends may gain an off-scale marker and a clipped axis
        live_chart(figure, key=f"train_chart_{name}", revision=f"{run.id}:{name}:{run.status}",
                   zoom_key=f"{run.id}:{name}")


@st.fragment(run_every=1.0)
def live_panel() -> None:
    """Reruns every second: the queue and the shown run, reading only new metric rows."""
    with store_guard("train_live"):
        show_live()


def show_live() -> None:
    """The notice of a Stop, the queue, then the shown run's header and charts."""
    store = get_store()
    runs = list_runs(store)
    show_notice()
    show_queue(runs)
    run = run_choice(runs)
    if run is None:
        st.info("No runs yet: choose settings or a preset and press Start.", icon=":material/info:")
        return
    frame = live_frame(store, run)
    run_header(store, run, frame)
    if frame.empty:
        st.caption("No metrics yet.")
        return
    live_charts(run, frame)
