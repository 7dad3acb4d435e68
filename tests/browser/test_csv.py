"""Your own CSV in a real browser: upload it on Train, fix what the checks find, train, and read its
confusion matrix on Runs with the CSV's class names."""
from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect
from streamlit_ui import as_typed, badge, choose, grid_rows, open_page, runs_table, select_row, type_into, wait_for_idle
from tabular_helpers import CLASSES, csv_bytes, pets_frame

from core.runs.store import RunStore

pytestmark = pytest.mark.browser

WORKER_START_S = 120


def test_upload_a_csv_train_on_it_and_see_its_class_names(page, app_url, runs_dir, screenshot, tmp_path):
    frame = pets_frame(240)
    frame.loc[[5, 50], "legs"] = np.nan
    path = tmp_path / "pets.csv"
    path.write_bytes(csv_bytes(frame))

    open_page(page, app_url, "", "Train")
    page.get_by_text("CSV file", exact=True).click(timeout=60_000)
    wait_for_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    expect(page.get_by_text("240 rows and 4 columns", exact=False)).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"^This table cannot train yet: 2 problems"))).to_be_visible(timeout=30_000)
    one_hot = page.get_by_text("One-hot encode the text columns named above", exact=False)
    expect(one_hot).to_be_visible(timeout=60_000)  # the first checkbox on the page loads its code
    # column names and values are shown as plain text, in a list of the problems, each whole
    problems = page.locator(".st-key-train_csv_problems li")
    expect(problems).to_have_count(2, timeout=30_000)
    expect(problems.filter(has_text=as_typed("the feature 'colour' is not numeric"))).to_have_count(1)
    expect(problems.filter(has_text=as_typed("2 missing values in 2 of 240 rows - 'legs': 2 (rows 6, 51)")))\
        .to_have_count(1)
    assert not problems.first.evaluate("e => e.scrollWidth > e.clientWidth")  # nothing cut off
    screenshot(page, "problems")
    one_hot.click()
    wait_for_idle(page)
    page.get_by_text("Leave out the rows with missing values", exact=True).click()
    wait_for_idle(page)
    split = page.get_by_text(re.compile(r"^Split: \d+ training, 36 validation and 36 test rows"))
    expect(split).to_be_visible(timeout=30_000)
    expect(page.get_by_text("This table cannot train yet", exact=False)).to_have_count(0, timeout=30_000)
    type_into(page, "Run name", "pets-from-browser")
    epochs = page.locator('[data-testid="stSlider"]').filter(has_text="Epochs").locator('input[type="range"]')
    epochs.focus()
    for _ in range(5):
        epochs.press("ArrowRight")
    expect(epochs).to_have_value("10", timeout=30_000)
    page.get_by_role("button", name="Start").click()
    # the live panel follows the queue to the new run (a toast says so too, for a few seconds only)
    expect(page.get_by_role("heading", name=as_typed("pets-from-browser"))).to_be_visible(timeout=60_000)
    [run_id] = [run.id for run in RunStore(runs_dir).list_runs() if run.name == "pets-from-browser"]
    expect(badge(page, "finished")).to_be_visible(timeout=WORKER_START_S * 1000)
    screenshot(page, "trained")

    run = RunStore(runs_dir).get_run(run_id)
    assert (run.config.dataset, run.config.csv.one_hot, run.config.csv.rows) == ("csv", ("colour",), 238)

    open_page(page, app_url, "runs", "Runs")
    type_into(page, "Search", "pets-from-browser")
    table = runs_table(page)
    expect(grid_rows(table)).to_have_count(1, timeout=30_000)
    select_row(page, table, "pets-from-browser")
    wait_for_idle(page)
    page.get_by_role("tab", name="Results").click()
    confusion = page.locator(f".st-key-runs_confusion_{run_id} .js-plotly-plot")
    expect(confusion).to_have_count(1, timeout=30_000)
    expect(confusion.locator(".xtick text")).to_have_text(list(CLASSES), timeout=30_000)
    rows = confusion.locator(".ytick text").evaluate_all("els => els.map(e => e.textContent)")
    assert sorted(rows) == list(CLASSES)  # drawn top down
    counts = confusion.evaluate("gd => Array.from(gd._fullData[0].text, row => Array.from(row))"
                                ".flat().reduce((a, b) => a + Number(b), 0)")
    assert counts == run.config.csv.test_size == 36
    screenshot(page, "confusion")
    page.set_viewport_size({"width": 800, "height": 1000})
    expect(confusion.locator(".xtick text")).to_have_text(list(CLASSES), timeout=30_000)
    screenshot(page, "confusion-narrow")

    page.get_by_role("tab", name="Predict a row").click()
    answer = page.get_by_role("tabpanel").filter(visible=True).locator('[data-testid="stDataFrame"]').last
    expect(grid_rows(answer)).to_have_count(3, timeout=30_000)
    screenshot(page, "predict")


def test_losses_page_draws_curves_and_optimizer_paths(page, app_url, screenshot):
    open_page(page, app_url, "losses", "Losses & optimizers")
    expect(page.locator(".st-key-losses_regression_chart .js-plotly-plot")).to_have_count(1, timeout=60_000)
    screenshot(page, "losses")
    page.get_by_role("tab", name="Optimizers").click()
    paths = page.locator(".st-key-losses_paths .js-plotly-plot")
    expect(paths).to_have_count(1, timeout=60_000)
    names = paths.evaluate("gd => gd._fullData.map(t => t.name)")
    assert "SGD with momentum" in names and "Adam" in names
    choose(page, "Surface", "Rosenbrock: (1 - x)² + 100 (y - x²)²")
    screenshot(page, "optimizers")
    page.set_viewport_size({"width": 800, "height": 1000})
    screenshot(page, "optimizers-narrow")
