"""What every page needs: the run store for this app's runs folder, and run labels."""
from __future__ import annotations

import os
import runpy
import time
from pathlib import Path

import streamlit as st

from core.runs import supervisor
from core.runs.records import Run
from core.runs.store import RunStore
from core.status import RunStatus

RUNS_DIR_ENV = "MNIST_RUNS_DIR"
APP_ENTRY = Path(__file__).resolve().parent.parent / "streamlit_app.py"
STATUS_COLORS = {RunStatus.QUEUED: "gray", RunStatus.RUNNING: "blue", RunStatus.FINISHED: "green",
                 RunStatus.EARLY_STOPPED: "green", RunStatus.STOPPED: "orange", RunStatus.DIVERGED: "red",
                 RunStatus.FAILED: "red", RunStatus.INTERRUPTED: "orange", RunStatus.PRUNED: "violet"}


def route_through_app() -> None:
    """Run a page through streamlit_app.py's navigation even on a server's very first visit."""
    # Streamlit takes a folder named pages/ for an old-style multipage app until the entry script
    # has run once (its st.navigation clears the flag): a fresh server whose first visit is /runs
    # would run this file alone, without the app's navigation. Run the entry script in this same
    # script run instead (a rerun would drop the click that started it), then end this one.
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        runpy.run_path(str(APP_ENTRY), run_name="__main__")
        st.stop()


def runs_root() -> Path:
    """The runs folder: $MNIST_RUNS_DIR, or ./runs."""
    return Path(os.environ.get(RUNS_DIR_ENV, "runs")).resolve()


@st.cache_resource(show_spinner=False)
def store_at(root: str) -> RunStore:
    """One RunStore per runs folder, shared by every session."""
    return RunStore(root)


def get_store() -> RunStore:
    """The store of this app's runs folder."""
    return store_at(str(runs_root()))


def list_runs(store: RunStore) -> list[Run]:
    """All runs, newest first, with dead workers noticed (at a bounded rate); without their test
    evaluations, which pages read for the runs they show with store.get_run."""
    return supervisor.list_runs(store, evaluations=False)


def run_label(run: Run) -> str:
    """A run's name with its status, for pickers."""
    return f"{run.name} ({run.status.label})"


def format_time(timestamp: float | None) -> str:
    """A local date and time, to the minute."""
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def status_badge(run: Run) -> None:
    """The run's status as a coloured badge."""
    st.badge(run.status.label, color=STATUS_COLORS.get(run.status, "gray"))
