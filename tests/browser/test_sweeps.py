"""The Sweeps page in a real browser: define a small synthetic sweep, launch it, watch it to its parallel
coordinates plot, then follow its best trial to the Runs comparison."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from streamlit_ui import badge, chart, choose, grid_rows, open_page, runs_table, type_into, wait_for_idle, wait_until

from core.runs.store import RunStore
from core.sweeps.store import SweepStore

pytestmark = pytest.mark.browser

TRIALS = 3
# the driver starts a worker process per trial, each imports torch: be patient on a busy machine
SWEEP_S = 400


def parcoords(plot) -> dict:
    """What Plotly drew: the axes' labels and how many lines run through them."""
    return plot.evaluate("""gd => ({labels: gd._fullData[0].dimensions.map(d => d.label),
                                    lines: gd._fullData[0].dimensions[0].values.length})""")


def test_a_small_synthetic_sweep_from_the_form_to_its_parallel_coordinates(page, app_url, runs_dir, screenshot):
    open_page(page, app_url, "sweeps", "Sweeps")
    choose(page, "Dataset", "synthetic")
    type_into(page, "Trials", TRIALS)
    type_into(page, "Sweep name", "browser sweep")
    page.get_by_role("button", name="Launch sweep").click()
    expect(page.get_by_text(re.compile(r"^Started sweep .?browser sweep\.$"))).to_be_visible()
    store = RunStore(runs_dir)
    sweep = next(s for s in SweepStore(store).list() if s.name == "browser sweep")
    assert sweep.plan.trials == TRIALS and sweep.plan.space.fixed["dataset"] == "synthetic"
    assert set(sweep.plan.space.search) == {"lr", "batch_size"}  # the form's ranges: a log range, two sizes

    # live: trials appear in the table as they run, then the sweep finishes with every trial in it
    table = page.locator(f".st-key-sweeps_table_{sweep.id} [data-testid='stDataFrame']")
    wait_until(lambda: grid_rows(table).count(), lambda n: n >= 1, SWEEP_S, "the first trial in the table")
    expect(badge(page, "finished").first).to_be_visible(timeout=SWEEP_S * 1000)
    # drawn by the live part with the badge: it stood, stale, beside the finished sweep
    expect(page.get_by_text(re.compile(r"^Started sweep "))).to_have_count(0)
    wait_until(lambda: grid_rows(table).count(), lambda n: n == TRIALS, 180, "every trial in the table")
    plot = chart(page, "sweeps_parallel_coordinates")
    expect(plot).to_have_count(1)
    drawn = parcoords(plot)
    assert drawn["labels"] == ["batch_size", "lr (log)", "validation accuracy"]
    assert drawn["lines"] == TRIALS
    expect(chart(page, "sweeps_best")).to_have_count(1)
    expect(chart(page, "sweeps_scatter")).to_have_count(1)
    screenshot(page, "finished-1400")
    page.set_viewport_size({"width": 800, "height": 1000})
    wait_for_idle(page)
    box = plot.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 800, box  # the plot fits a narrow window
    screenshot(page, "finished-800")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # the best trial (picked by default) opens in the Runs comparison, ticked there
    best = max(store.sweep_runs(sweep.id), key=lambda run: run.summary.best_val_accuracy or 0)
    expect(page.get_by_text(re.compile(rf"^Trial #{best.trial_number}: "))).to_be_visible()
    link = page.get_by_role("link", name="Compare in Runs")
    assert link.get_attribute("href").endswith(f"runs?run={best.id}")
    link.click()
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible(timeout=60_000)
    # the page takes ?run= off once it has ticked the run: a later change of rows would tick it again
    wait_until(lambda: page.url, lambda url: url.endswith("/runs"), 60, "the link's ?run= applied and dropped")
    curves = chart(page, "runs_curves")  # drawn only for ticked runs
    expect(curves).to_have_count(1)
    expect(curves).to_contain_text(best.name)
    table = runs_table(page)
    expect(grid_rows(table).first).to_be_attached()
    selected = [row.get_attribute("aria-selected") for row in grid_rows(table).all()]
    assert selected.count("true") == 1
    screenshot(page, "runs-from-sweep")
