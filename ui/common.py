"""What every page needs: the run store for this app's runs folder (or what is wrong with it), and run labels."""
from __future__ import annotations

import os
import runpy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from core.runs import supervisor
from core.runs.rebuild import rebuild_index
from core.runs.records import Run
from core.runs.run_file import run_folders
from core.runs.store import RunStore, default_runs_dir
from core.runs.store_errors import StoreError
from core.status import RunStatus
from core.training.data import DEFAULT_DATA_DIR
from ui.text import markdown_text

DATA_DIR_ENV = "MNIST_DATA_DIR"
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
    return Path(default_runs_dir()).resolve()


def data_dir() -> Path:
    """The MNIST files' folder: $MNIST_DATA_DIR, or the shipped data/mnist."""
    return Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)).resolve()


@st.cache_resource(show_spinner=False)
def store_at(root: str) -> RunStore:
    """One RunStore per runs folder, shared by every session."""
    return RunStore(root)


def get_store() -> RunStore:
    """The store of this app's runs folder, checked (a StoreError if it broke since it was opened)."""
    store = store_at(str(runs_root()))
    store.check()  # two pragmas: a runs.db deleted or changed under the app is said at once
    return store


@contextmanager
def store_guard(key: str) -> Iterator[None]:
    """Around a page's (or fragment's) use of the store: a broken store shows what is wrong and what
    to do (with a button to rebuild the index where that mends it) instead of a traceback."""
    report = st.session_state.pop("store_rebuilt", None)
    if report:
        st.success(markdown_text(report), icon=":material/build:")
    try:
        yield
    except StoreError as err:
        show_store_problem(err, key)
        st.stop()


def show_store_problem(err: StoreError, key: str) -> None:
    """What is wrong with the store and what to do; the rebuild button where it would help."""
    st.error(f"The run store cannot be used: {markdown_text(err)}", icon=":material/database:")
    if not err.can_rebuild:
        return
    folders = run_folders(runs_root())
    st.caption(f"{len(folders)} run folder(s) in {markdown_text(runs_root())} keep their settings and "
               f"checkpoints; rebuilding puts them back in a new index, and a damaged runs.db is kept beside it.")
    rebuild_button(f"{key}_rebuild")


def rebuild_button(key: str, label: str = "Rebuild the index") -> None:
    """Rebuild runs.db from the run folders, then show the app again with the report."""
    if not st.button(label, key=key, type="primary", icon=":material/build:"):
        return
    try:
        report = rebuild_index(runs_root())
    except StoreError as err:
        st.error(f"Could not rebuild the index: {markdown_text(err)}")
        return
    store_at.clear()
    st.session_state["store_rebuilt"] = report.describe()
    st.rerun()


def list_runs(store: RunStore) -> list[Run]:
    """All runs, newest first, with dead workers noticed (at a bounded rate); without their test
    evaluations, which pages read for the runs they show with store.get_run."""
    return supervisor.list_runs(store, evaluations=False)


def run_label(run: Run) -> str:
    """A run's name with its status, for pickers (whose options are plain text)."""
    return f"{run.name} ({supervisor.status_label(run)})"


def format_time(timestamp: float | None) -> str:
    """A local date and time, to the minute."""
    return "" if timestamp is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def status_badge(run: Run) -> None:
    """The run's status as a coloured badge: 'not responding' in red for a silent running worker."""
    label = supervisor.status_label(run)
    st.badge(label, color="red" if label == supervisor.NOT_RESPONDING else STATUS_COLORS.get(run.status, "gray"))


def percent_column(label: str | None = None, **options) -> st.column_config.NumberColumn:
    """A 0-1 fraction as a percent with two decimals always: 86.60% beside 86.12%, not 86.6%. Its values
    go through percent_value."""
    # Streamlit's "percent" format trims zeros unless the column's step fixes the decimals
    return st.column_config.NumberColumn(label, format="percent", step=0.0001, **options)


def percent_value(fraction: float | None) -> float | None:
    """A fraction rounded to a percent column's step: the column cuts off the digits past it, so 0.90149998
    read 90.14% there and 90.15% elsewhere."""
    return None if fraction is None else round(fraction, 4)
