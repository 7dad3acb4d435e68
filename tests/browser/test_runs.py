"""The Runs page in a real browser: tick two runs in the table, compare them, download a run's metrics."""
from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import expect
from streamlit_ui import (
    chart,
    choose,
    grid_rows,
    open_page,
    row_index,
    runs_table,
    select_row,
    traces,
    type_into,
    wait_for_idle,
)

from core.config import RunConfig
from core.runs.store import RunStore

pytestmark = pytest.mark.browser

RUNS = {"compare-lr-1e-3": 1e-3, "compare-lr-1e-2": 1e-2}
# from now on, count each time Plotly sets the path of a line on the Runs page's curves chart
COUNT_LINE_DRAWS = """() => { window.__lineDraws = 0; new MutationObserver(records => {
    window.__lineDraws += records.filter(r => r.target.matches('.st-key-runs_curves path.js-line')).length;
}).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['d']}); }"""


@pytest.fixture(scope="module")
def compared(train_run) -> dict[str, str]:
    """Two small synthetic runs that differ only in their learning rate: name -> id."""
    return {name: train_run(RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=3, batch_size=64,
                                      lr=lr, device="cpu"), name) for name, lr in RUNS.items()}


def test_two_runs_side_by_side_and_their_metrics_as_csv(page, app_url, runs_dir, compared, screenshot,
                                                        tmp_path):
    store = RunStore(runs_dir)
    open_page(page, app_url, "runs", "Runs")
    type_into(page, "Search", "compare-lr")
    expect(page.get_by_text(re.compile(r"^2 of \d+ runs - select rows"))).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)
    # the runs table by its key: once rows are selected, the comparison adds tables below it
    table = runs_table(page)
    expect(grid_rows(table)).to_have_count(2)
    first, second = RUNS
    page.evaluate(COUNT_LINE_DRAWS)
    select_row(page, table, first)
    wait_for_idle(page)
    plot = chart(page, "runs_curves")
    # the chart's first figure, drawn to its end; the page's first chart waits for plotly.js (4.8 MB from
    # this app) and a script run, which took over 30 s on a busy machine
    expect(plot).to_have_attribute("data-seq", re.compile(r"\d"), timeout=120_000)
    # each line drawn once: margins that Plotly had to widen after drawing would draw them all again
    assert 0 < page.evaluate("() => window.__lineDraws") <= plot.locator("path.js-line").count()
    drawn_first = plot.get_attribute("data-seq")
    select_row(page, table, second)
    wait_for_idle(page)
    expect(plot).not_to_have_attribute("data-seq", drawn_first)  # the two runs' figure, drawn
    assert [row.get_attribute("aria-selected") for row in grid_rows(table).all()] == ["true", "true"]

    # Curves: both runs overlaid, each with its smoothed curve in the legend and its raw points behind
    drawn = {trace["name"]: trace for trace in traces(plot)}
    steps = 3 * 8  # 3 epochs of 8 batches of 64 in the 500 training images
    for name in RUNS:
        assert drawn[name]["points"] == steps and drawn[name]["last_x"] == steps
        assert drawn[f"{name} (raw)"]["points"] == steps
    expect(plot).to_contain_text("train loss (per batch)")
    screenshot(page, "curves")

    # Settings: only what differs between the two, the learning rate
    page.get_by_role("tab", name="Settings").click()
    settings = page.get_by_role("tabpanel").filter(visible=True).locator('[data-testid="stDataFrame"]')
    expect(grid_rows(settings)).to_have_count(1)
    lr_row = grid_rows(settings).nth(row_index(settings, "lr", column=1))
    run_columns = settings.locator("table thead th").all_inner_texts()[1:]  # the first heads the index
    assert sorted(run_columns) == sorted(RUNS)
    expect(lr_row.locator("td")).to_have_text(["lr", *(str(RUNS[name]) for name in run_columns)])
    screenshot(page, "settings")

    # Manage: download one run's metrics, every row the store holds for it
    page.get_by_text("Manage a run", exact=True).click()
    choose(page, "Run", "compare-lr-1e-2 (finished)")
    with page.expect_download() as download:
        page.get_by_role("button", name="Metrics (CSV)").click()
    assert download.value.suggested_filename == "compare-lr-1e-2-metrics.csv"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    with saved.open(newline="") as file:
        rows = list(csv.DictReader(file))
    stored = store.read_metrics(compared["compare-lr-1e-2"])[0]
    assert list(rows[0]) == ["step", "epoch", "split", "name", "value", "wall_time"]
    assert len(rows) == len(stored)
    kinds = {(row["split"], row["name"]) for row in rows}
    assert {("train", "loss"), ("train", "accuracy"), ("val", "loss"), ("test", "accuracy")} <= kinds
    losses = [row for row in rows if (row["split"], row["name"]) == ("train", "loss")]
    assert [int(row["step"]) for row in losses] == list(range(1, steps + 1))
    assert [float(row["value"]) for row in losses] == pytest.approx(
        [m.value for m in stored if (m.split, m.name) == ("train", "loss")])

