"""Shared by the page tests: a temporary runs folder, tiny synthetic runs, the app under AppTest."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.config import RunConfig
from core.runs.store import RunStore
from core.runs.store_errors import StoreError
from core.runs.supervisor import execute_run, worker_alive
from core.status import ACTIVE

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"


def tiny_run_config(**overrides) -> RunConfig:
    """An MLP on the 600 synthetic images: trains in well under a second."""
    values = dict(model="mlp", dataset="synthetic", val_size=100, epochs=2, batch_size=64, device="cpu")
    return RunConfig(**{**values, **overrides})


def finished_run(store: RunStore, name: str, **overrides) -> str:
    """A run trained to its end in this process."""
    run_id = store.create_run(tiny_run_config(**overrides), name=name)
    assert execute_run(store, run_id) == "finished"
    return run_id


def open_page(page: str) -> AppTest:
    """The whole app, run once, switched to a page and run again."""
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    if page != "pages/train.py":
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def wait_until_ended(store: RunStore, run_id: str, timeout: float = 300.0) -> str:
    """Poll the store until the run leaves queued/running; returns its status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = store.get_run(run_id).status
        if status not in ACTIVE:
            return status
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {status} after {timeout}s")


@pytest.fixture
def app_store(tmp_path, monkeypatch) -> RunStore:
    """A store in a temporary runs folder, which the app reads through MNIST_RUNS_DIR."""
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    store = RunStore(tmp_path / "runs")
    yield store
    # a failed test must not leave a worker behind: end the ones this store started, by pid
    runs = []
    with contextlib.suppress(StoreError):  # a test that broke the store on purpose
        runs = store.list_runs()
    for run in runs:
        if run.status in ACTIVE and worker_alive(run) and run.pid != os.getpid():
            os.kill(run.pid, signal.SIGTERM)


def live_charts(at: AppTest) -> dict[str, dict]:
    """The ui.live_chart charts on the page, by key: what each sent the browser this time."""
    charts = {}
    for element in at.get("bidi_component"):
        if element.proto.component_name == "mnist_lab.live_chart":
            key = element.proto.id.rsplit("-", 1)[-1]
            charts[key] = json.loads(json.loads(element.proto.json)["payload"])
    return charts


def plotly_array(value) -> list:
    """An array as Plotly's JSON holds it: a list, or {"bdata": base64, "dtype": ...} for a numpy array."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def chart_traces(payload: dict) -> dict[str, dict]:
    """A full live-chart payload's traces by name, with x and y as plain lists."""
    return {trace.get("name"): {**trace, "x": plotly_array(trace.get("x", [])), "y": plotly_array(trace.get("y", []))}
            for trace in payload["figure"]["data"]}
def as_shown(markdown: str) -> str:
    """The text an element shows for Markdown written with ui.text.markdown_text: escapes and
    invisible word joiners taken out, as a reader sees it."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")
