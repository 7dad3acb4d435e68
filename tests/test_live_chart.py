"""The live chart's updates: the whole figure once, then only the points the browser has not got."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.runs.series import MAX_POINTS
from ui.live_chart import CHART_POINTS, MIN_POINTS, OVERLAP, _payload, trace_points


def figure(n: int, epochs: int = 0, last: float | None = None) -> go.Figure:
    """A growing per-batch line, a per-epoch line, and a one-point marker that moves."""
    x = np.arange(1.0, n + 1)
    fig = go.Figure([go.Scatter(x=x, y=np.sin(x)), go.Scatter(x=np.arange(1.0, epochs + 1), y=np.ones(epochs))])
    fig.add_trace(go.Scatter(x=[n], y=[last if last is not None else 0.0], text=["t"], meta="replace"))
    return fig


def test_the_first_payload_is_the_figure_with_long_lines_downsampled():
    data, sent = _payload(figure(10_000, 2), "r", "zoom", None)
    assert data["lengths"] == [10_000, 2, 1] and data["figure"]["layout"]["uirevision"] == "zoom"
    first = data["figure"]["data"][0]
    assert len(first["x"]) <= MAX_POINTS and first["x"][0] == 1.0 and first["x"][-1] == 10_000.0
    assert sent.recent == [[10_000, 2, 1]]


def test_many_long_lines_share_a_budget_of_points_and_keep_their_ends_and_extremes():
    rng = np.random.default_rng(0)
    x = np.arange(1.0, 10_001)
    lines = [rng.normal(size=x.size) for _ in range(40)]
    fig = go.Figure([go.Scatter(x=x, y=y) for y in lines] + [go.Scatter(x=[1.0], y=[0.0], meta="replace")])
    assert trace_points(fig) == max(MIN_POINTS, CHART_POINTS // 40) < MAX_POINTS
    data, _ = _payload(fig, "r", "zoom", None)
    sent = data["figure"]["data"]
    assert sum(len(trace["x"]) for trace in sent) <= CHART_POINTS + 1
    for trace, y in zip(sent, lines):
        assert trace["x"][0] == 1.0 and trace["x"][-1] == 10_000.0
        assert min(trace["y"]) == y.min() and max(trace["y"]) == y.max()
    assert data["lengths"][:40] == [10_000] * 40  # the browser still knows where each whole series ends
    few = go.Figure([go.Scatter(x=x, y=y) for y in lines[:4]])
    assert trace_points(few) == MAX_POINTS  # two runs' raw and smoothed lines keep their detail


def test_updates_carry_only_new_points_over_the_last_few_updates_and_replace_what_moves():
    data, sent = _payload(figure(100), "r", "zoom", None)
    ends = [100]
    for n in range(110, 200, 10):
        data, sent = _payload(figure(n, epochs=n // 50, last=float(n)), "r", "zoom", sent)
        assert "figure" not in data and data["base"] == sent.base
        grow = data["extend"]
        start = ends[-OVERLAP] if len(ends) >= OVERLAP else ends[0]
        assert grow["indices"][0] == 0 and grow["start"][0] == start  # overlaps the last OVERLAP updates
        assert grow["x"][0].tolist() == list(np.arange(start + 1.0, n + 1))
        assert data["replace"]["indices"] == [2] and data["replace"]["y"][0].tolist() == [n]
        ends.append(n)
    assert len(data["extend"]["x"][0]) < 100  # never the whole series again


def test_nothing_new_sends_the_same_payload_and_a_changed_revision_or_a_shrunk_line_the_whole_figure():
    _, sent = _payload(figure(100), "r", "zoom", None)
    data, sent = _payload(figure(120), "r", "zoom", sent)
    again, same = _payload(figure(120), "r", "zoom", sent)
    assert again is data and same is sent
    assert "figure" in _payload(figure(120), "other", "zoom", sent)[0]
    assert "figure" in _payload(figure(50), "r", "zoom", sent)[0]
    assert "figure" in _payload(figure(120 + MAX_POINTS * 2), "r", "zoom", sent)[0]  # too much at once
    refigured, after = _payload(figure(130), "other", "zoom", sent)
    assert after.base != sent.base and refigured["seq"] == sent.seq + 1  # a new base: old updates never fit it
