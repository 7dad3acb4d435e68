"""A Plotly chart that keeps the user's zoom and sends the browser only the points it has not got.

st.plotly_chart sends the whole figure on every rerun and draws it afresh, which loses a zoom on
each live refresh (benchmarks/live_chart_zoom.py shows both). This is a small component on
Streamlit's components v2 API: the first time (or whenever the figure's `revision` changes) it
sends the figure, long lines downsampled; after that only each trace's new points, which the
browser appends with plotly.js's extendTraces. plotly.js is the copy inside the plotly Python
package, served by this app, so nothing is fetched from elsewhere.
"""
from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import plotly.graph_objects as go
import plotly.io.json as plotly_json
import streamlit as st
from streamlit import config
from streamlit.components import v1 as components_v1

from core.runs.series import MAX_POINTS, downsample_minmax

PLOTLY_JS_DIR = Path(plotly.__file__).resolve().parent / "package_data"
JS = (Path(__file__).resolve().parent / "static" / "live_chart.js").read_text()
# traces marked so are sent whole each time (a marker on a line's last value): they move, not grow
REPLACE = "replace"
# more new points than this at once (a run read afresh, say): send the figure again, downsampled
MAX_EXTEND = MAX_POINTS
# a figure sent whole holds about this many points in all: drawing 40 lines of 2,000 points (20 runs,
# raw and smoothed) took Chromium 2-3x as long as 40 of 500 (benchmarks.dashboard_scale); 500 min-max
# points still draw a line's envelope at a few pixels a bucket across a wide chart
CHART_POINTS = 20_000
MIN_POINTS = 500
# each update repeats the points of this many updates before it: the browser may miss some
OVERLAP = 3
# the toolbar keeps what a user reaches for (box zoom, pan, reset, a PNG): the full row covered a small chart's title
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}

_component = st.components.v2.component("mnist_lab.live_chart", js=JS, isolate_styles=False)


@dataclass
class _Sent:
    """What this session has sent one chart: its figure, and each trace's length after recent updates."""
    revision: str
    base: str  # names the full figure the updates build on, unique (a new session starts its seq at 0)
    seq: int
    recent: list[list[int]]  # points per trace in the whole series after each of the last OVERLAP sends
    replaced: str = ""  # the replaced traces as last sent
    data: dict[str, Any] = field(default_factory=dict)  # the last payload: sent again as is when nothing changed


def plotly_js_url() -> str:
    """Where this app serves plotly.js: Streamlit's route for the files of a (v1) component."""
    # registered in each script run that draws a chart (registration needs one); never mounted
    declared = components_v1.declare_component("plotly_js", path=str(PLOTLY_JS_DIR))
    prefix = config.get_option("server.baseUrlPath").strip("/")
    return "/" + "/".join(part for part in (prefix, "component", declared.name, "plotly.min.js") if part)


def _points(trace: go.BaseTraceType) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(trace.x if trace.x is not None else [], dtype=float)
    y = np.asarray(trace.y if trace.y is not None else [], dtype=float)
    return x, y


def _moves(trace: go.BaseTraceType) -> bool:
    return trace.meta == REPLACE


def _lengths(figure: go.Figure) -> list[int]:
    return [len(_points(trace)[0]) for trace in figure.data]


def trace_points(figure: go.Figure) -> int:
    """How many points each long line keeps when the figure is sent whole: MAX_POINTS, fewer when
    many lines share the chart, so that it holds about CHART_POINTS in all, never below MIN_POINTS."""
    lines = sum(1 for trace in figure.data if not _moves(trace) and len(_points(trace)[0]) > MIN_POINTS)
    return max(MIN_POINTS, min(MAX_POINTS, CHART_POINTS // max(lines, 1)))


def _full(figure: go.Figure, revision: str, zoom_key: str, base: str, seq: int) -> dict[str, Any]:
    """The whole figure, long lines downsampled, with each trace's length in the whole series."""
    spec = go.Figure(figure).update_layout(uirevision=zoom_key).to_plotly_json()
    keep = trace_points(figure)
    for trace, data in zip(figure.data, spec["data"]):
        x, y = _points(trace)
        if len(x) > keep and not _moves(trace):
            x, y = downsample_minmax(x, y, keep)
        # plain lists, never Plotly's base64 arrays: extendTraces needs an array to extend, even an empty one
        data["x"], data["y"] = x.tolist(), y.tolist()
    return {"revision": revision, "base": base, "seq": seq, "lengths": _lengths(figure),
            "figure": {"data": spec["data"], "layout": spec["layout"], "config": PLOT_CONFIG}}


def _growth(figure: go.Figure, since: list[int]) -> dict[str, Any] | None:
    """Each growing trace's points from where it was `since`, or None if the figure must go again."""
    if len(figure.data) != len(since):
        return None
    grow: dict[str, list] = {"indices": [], "start": [], "x": [], "y": []}
    for index, (trace, start) in enumerate(zip(figure.data, since)):
        x, y = _points(trace)
        if _moves(trace) or len(x) == start:
            continue
        if len(x) < start or len(x) - start > MAX_EXTEND:
            return None
        for name, value in (("indices", index), ("start", start), ("x", x[start:]), ("y", y[start:])):
            grow[name].append(value)
    return grow


def _replaced(figure: go.Figure) -> dict[str, Any]:
    indices = [i for i, trace in enumerate(figure.data) if _moves(trace)]
    traces = [figure.data[i] for i in indices]
    return {"indices": indices, "x": [_points(t)[0] for t in traces], "y": [_points(t)[1] for t in traces],
            "text": [list(t.text or []) for t in traces],
            "textposition": [t.textposition for t in traces]}  # a label moves below a close neighbour's


def _payload(figure: go.Figure, revision: str, zoom_key: str, sent: _Sent | None) -> tuple[dict[str, Any], _Sent]:
    """What to send this time, and what to remember of it."""
    growth = _growth(figure, sent.recent[0]) if sent is not None and sent.revision == revision else None
    if growth is None:
        base, seq = secrets.token_hex(4), sent.seq + 1 if sent is not None else 0
        data = _full(figure, revision, zoom_key, base, seq)
        return data, _Sent(revision, base, seq, [_lengths(figure)], data=data)
    replaced = plotly_json.to_json_plotly(_replaced(figure))
    lengths = _lengths(figure)
    if lengths == sent.recent[-1] and replaced == sent.replaced:
        return sent.data, sent  # nothing new: the same payload, which the browser skips
    seq = sent.seq + 1
    data = {"revision": revision, "base": sent.base, "seq": seq, "extend": growth, "replace": _replaced(figure)}
    return data, _Sent(revision, sent.base, seq, (sent.recent + [lengths])[-OVERLAP:], replaced, data)


def _forget(state_key: str) -> None:
    """The browser missed more updates than the overlap covers, or mounted the chart afresh."""
    st.session_state.pop(state_key, None)


def live_chart(figure: go.Figure, key: str, revision: str, zoom_key: str | None = None) -> None:
    """Draw a figure whose traces only grow while `revision` stays the same; keep the user's zoom.

    revision: changes whenever points already drawn change (another metric, run or smoothing), so
    the figure is sent again. zoom_key: a zoom survives as long as it stays the same (by default
    the revision); give the metric and x axis, say, to keep a zoom across smoothing changes.
    Traces with meta="replace" are sent whole each time (a marker on a line's last value).
    """
    state_key = f"live_chart_sent_{key}"
    data, sent = _payload(figure, revision, zoom_key or revision, st.session_state.get(state_key))
    st.session_state[state_key] = sent
    _component(key=key, data={"plotly_url": plotly_js_url(), "payload": plotly_json.to_json_plotly(data)},
               on_resync_change=functools.partial(_forget, state_key))


