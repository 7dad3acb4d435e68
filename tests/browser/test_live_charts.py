"""Live charts on Train and Runs while a run trains (the test plays its worker, adding batches as the
chart draws them): a zoom survives five refreshes (and, on Runs, unrelated control changes), and each
refresh sends the browser only the points it has not got, so what a refresh costs does not grow with
the run's length."""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace

import pytest
from playwright.sync_api import expect
from streamlit_ui import (
    box_zoom,
    chart,
    choose,
    grid_rows,
    live_chart_state,
    open_page,
    runs_table,
    select_row,
    slider,
    traces,
    type_into,
    wait_for_idle,
    wait_until,
)

from core.runs.recorder import batch_metrics
from core.runs.store import RunStore
from core.status import RunStatus
from core.training.events import BatchEnded
from tests.conftest import ENDLESS
from ui.live_chart import OVERLAP

pytestmark = pytest.mark.browser

NAME = "live-endless"
REFRESHES = 5
# the first chart waits for the app and plotly.js; a busy machine is slow
START_S = 180
# bytes a chart's message takes besides its points: the component's script, ids, layout of an update
MESSAGE_BYTES = 8_000
POINT_BYTES = 64  # a point as JSON text is about 30 bytes; twice that is room, the whole series is not


# A refresh that brings more than ui.live_chart.MAX_EXTEND new points sends the figure again instead of
# an update, and these tests watch updates. A real worker adds points as fast as its machine trains (a
# fast one would outrun that limit), so the test plays the run's worker: it adds FEED batches each time
# the watched chart has drawn the ones before, whatever the speed of the machine, the app or the browser.
FEED = 25


class PlayedWorker:
    """A running run whose worker is this test: a stand-in process holds its pid, and feed() stores the
    next batches' rows and beats, as a worker's flush does."""

    def __init__(self, store: RunStore, name: str):
        self.store, self.step, self.seen = store, 0, None
        self.stand_in = subprocess.Popen(["sleep", "3600"])
        self.run_id = store.create_run(replace(ENDLESS, model="cnn"), name=name)
        store.claim(self.run_id, self.stand_in.pid)

    def feed(self) -> None:
        steps = range(self.step + 1, self.step + FEED + 1)
        self.store.record_metrics(self.run_id, [row for step in steps for row in batch_metrics(
            BatchEnded(step, 1, 2.3 / step ** 0.5, min(0.1 + step / 1000, 1.0), 1e-3, 100.0), time.time())])
        self.step += FEED

    def after(self, state: dict) -> dict:
        """Feed once more if the chart has drawn something new since the last feed; return its state."""
        if state["seq"] != self.seen:
            self.seen = state["seq"]
            self.feed()
        return state

    def end(self) -> None:
        if self.stand_in.poll() is None:  # once: a test may end the run before the module does
            self.store.finish(self.run_id, RunStatus.STOPPED, "the test ended")
            self.stand_in.kill()
            self.stand_in.wait()


@pytest.fixture(scope="module")
def live_run(runs_dir):
    worker = PlayedWorker(RunStore(runs_dir), NAME)
    worker.feed()
    yield worker
    worker.end()


def chart_messages(frames: list[bytes], key: str) -> list[tuple[int, dict]]:
    """What the server sent one live chart, in order: (frame bytes, payload), a resent payload once."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    found, seen = [], set()
    for frame in frames:
        message = ForwardMsg.FromString(frame)
        if message.WhichOneof("type") != "delta" or message.delta.WhichOneof("type") != "new_element":
            continue
        element = message.delta.new_element
        if element.WhichOneof("type") != "bidi_component" or not element.bidi_component.id.endswith(f"-{key}"):
            continue
        payload = json.loads(json.loads(element.bidi_component.json)["payload"])
        if (payload["base"], payload["seq"]) not in seen:
            seen.add((payload["base"], payload["seq"]))
            found.append((len(frame), payload))
    return found


def updates_sent(messages: list[tuple[int, dict]]) -> int:
    """Each update starts no earlier than where the update OVERLAP before it ended (or where the
    figure did) and no later than where the last one ended, and its size follows the points it
    carries, not the length of the series. Later than OVERLAP back means the server sent an update
    this page never got (Streamlit keeps only the newest of two deltas queued for one element): the
    overlap is there to cover it, and the line stays whole as long as no update starts past its end.
    The same can drop a whole figure: an update on a figure this page never got makes the chart ask
    for a resync (ui/static/live_chart.js), so it is not checked against one."""
    ends: dict[str, list[list[int]]] = {}  # per figure: each trace's end after each message
    updates = 0
    for size, payload in messages:
        if "figure" in payload:
            ends[payload["base"]] = [payload["lengths"]]
            continue
        if payload["base"] not in ends:
            continue  # built on a figure this page missed: answered with a resync, not drawn
        history = ends[payload["base"]]
        grow = payload["extend"]
        expected = history[max(len(history) - OVERLAP, 0)]
        now = list(history[-1])
        for index, start, x in zip(grow["indices"], grow["start"], grow["x"]):
            assert expected[index] <= start <= now[index], (payload["seq"], index, start, expected[index], now[index])
            now[index] = start + len(x)
        history.append(now)
        carried = sum(len(x) for x in grow["x"])
        assert size <= MESSAGE_BYTES + POINT_BYTES * carried, (size, carried)
        updates += 1
    return updates


def watch_a_zoom(page, key: str, frames: list[bytes], worker: PlayedWorker) -> list[float]:
    """Zoom into the chart, then wait for five updates (new points only, not the figure sent again)
    that the chart drew, the worker adding points after each; returns the zoom."""
    zoomed = box_zoom(page, key)
    before, sent_before = live_chart_state(page, key), updates_sent(chart_messages(frames, key))

    def done(seen: tuple[dict, int]) -> bool:
        state, sent = seen
        return (state["seq"] >= before["seq"] + REFRESHES and state["points"] > before["points"]
                and sent >= sent_before + REFRESHES)

    after, _ = wait_until(lambda: (worker.after(live_chart_state(page, key)),
                                   updates_sent(chart_messages(frames, key))), done,
                          START_S, f"{REFRESHES} updates of {key} with new points")
    assert after["range"] == pytest.approx(zoomed), f"{key} lost its zoom"
    return zoomed


def capture_frames(page) -> list[bytes]:
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f) if isinstance(f, bytes)
                                          else None))
    return frames


def test_train_charts_keep_a_zoom_and_get_only_new_points(page, app_url, live_run, screenshot):
    store, run_id = live_run.store, live_run.run_id
    frames = capture_frames(page)
    open_page(page, app_url, "", "Train")
    choose(page, "Show", f"{NAME} ({run_id[-6:]})")
    expect(chart(page, "train_chart_loss")).to_have_count(1, timeout=START_S * 1000)
    wait_until(lambda: live_chart_state(page, "train_chart_loss")["points"], lambda n: n >= FEED, START_S,
               "points in the loss chart")
    watch_a_zoom(page, "train_chart_loss", frames, live_run)
    screenshot(page, "zoomed")
    assert updates_sent(chart_messages(frames, "train_chart_loss")) >= REFRESHES
    assert store.get_run(run_id).status == "running"


def test_runs_chart_refreshes_an_active_run_and_keeps_a_zoom_through_control_changes(page, app_url, live_run,
                                                                                     screenshot):
    store, run_id = live_run.store, live_run.run_id
    frames = capture_frames(page)
    open_page(page, app_url, "runs", "Runs")
    type_into(page, "Search", NAME)
    table = runs_table(page)
    expect(grid_rows(table)).to_have_count(1, timeout=30_000)  # the filtered table, not the one before
    select_row(page, table, NAME)
    wait_for_idle(page)
    expect(chart(page, "runs_curves")).to_have_count(1, timeout=START_S * 1000)
    zoomed = watch_a_zoom(page, "runs_curves", frames, live_run)  # the selected run still trains: the chart grows
    assert updates_sent(chart_messages(frames, "runs_curves")) >= REFRESHES

    # controls that change how the lines are drawn, not what the axes mean, keep the zoom
    smoothing = slider(page, "Smoothing")
    smoothing.focus()
    smoothing.press("ArrowLeft")
    wait_for_idle(page)
    expect(smoothing).to_have_value("0.59")
    page.get_by_text("Show raw", exact=True).click()
    wait_for_idle(page)
    wait_until(lambda: [trace["name"] for trace in traces(chart(page, "runs_curves"))],
               lambda names: f"{NAME} (raw)" not in names and NAME in names, 60, "the chart redrawn without raw")
    state = live_chart_state(page, "runs_curves")
    assert state["range"] == pytest.approx(zoomed), "a smoothing change or hiding raw lost the zoom"
    screenshot(page, "zoomed-after-controls")
    assert store.get_run(run_id).status == "running"

    # the run ends while the page shows it: the table above the live chart says so, unasked (it said "running")
    live_run.end()
    expect(grid_rows(runs_table(page)).first).to_contain_text("stopped", timeout=60_000)
