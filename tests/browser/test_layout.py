"""Every page at 1400 and 800 px wide: the canvas and the charts fully inside the window, no label cut
off or broken inside a word, Start and the live panel in view together on a 900 px high screen."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from streamlit_ui import (
    assert_fully_in_view,
    chart,
    choose,
    cut_text,
    grid_rows,
    open_page,
    runs_table,
    select_row,
    type_into,
    wait_for_idle,
    wait_until,
)
from test_draw import drawing_canvas, one, stroke

from core.config import RunConfig

pytestmark = pytest.mark.browser

WIDTHS = [1400, 800]
HEIGHT = 900
RUNS = ("layout-a", "layout-b")
# a page's first chart waits for plotly.js (4.8 MB from this app) and a script run: slow on a busy machine
CHART_WAIT_MS = 120_000


@pytest.fixture(scope="module")
def layout_runs(train_run) -> dict[str, str]:
    """Two small synthetic runs to show, compare and draw with: name -> id."""
    return {name: train_run(RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=2, lr=lr,
                                      device="cpu"), name) for name, lr in zip(RUNS, (1e-3, 3e-3))}


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def window(request, page):
    page.set_viewport_size({"width": request.param, "height": HEIGHT})
    return page


def assert_nothing_cut(page, where: str) -> None:
    assert cut_text(page) == [], f"text cut off or broken inside a word on {where}"


def assert_charts_in_view(page, keys: list[str]) -> None:
    for key in keys:
        plot = chart(page, key)
        expect(plot).to_have_count(1, timeout=CHART_WAIT_MS)
        assert_fully_in_view(page, plot, f"chart {key}")


def test_train(window, app_url, layout_runs, screenshot):
    page = window
    open_page(page, app_url, "", "Train")
    choose(page, "Show", f"{RUNS[1]} ({layout_runs[RUNS[1]][-6:]})")
    expect(page.get_by_role("heading", name=RUNS[1])).to_be_visible()
    expect(chart(page, "train_chart_loss")).to_have_count(1, timeout=CHART_WAIT_MS)
    # Start and the live panel (the shown run's name and status) in view together, without scrolling
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    for element, what in ((page.get_by_role("button", name="Start", exact=True), "Start"),
                          (page.get_by_role("heading", name=RUNS[1]), "the live panel's run")):
        box = element.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, f"{what} is not in view: {box}"
    screenshot(page, "run")
    assert_charts_in_view(page, ["train_chart_loss", "train_chart_accuracy"])
    assert_nothing_cut(page, "Train")
    page.get_by_text("Advanced", exact=True).click()
    wait_for_idle(page)  # opening it is a rerun
    choose(page, "Optimizer", "sgd")  # momentum and Nesterov join the form
    expect(page.get_by_role("combobox", name="Dataset", exact=True)).to_be_visible()
    assert_nothing_cut(page, "Train with every setting shown")
    screenshot(page, "all-settings")


def test_runs(window, app_url, layout_runs, screenshot):
    page = window
    open_page(page, app_url, "runs", "Runs")
    type_into(page, "Search", "layout-")
    table = runs_table(page)
    expect(grid_rows(table)).to_have_count(len(RUNS), timeout=30_000)  # the filtered table, not the one before
    for name in RUNS:
        select_row(page, table, name)
        wait_for_idle(page)
    assert_charts_in_view(page, ["runs_curves"])
    assert_nothing_cut(page, "Runs, one metric")
    screenshot(page, "curves")

    page.get_by_text("All metrics", exact=True).click()
    wait_for_idle(page)
    grid = ["runs_grid_train_loss", "runs_grid_train_accuracy", "runs_grid_val_loss", "runs_grid_val_accuracy",
            "runs_grid_train_lr"]
    assert_charts_in_view(page, grid)
    assert_nothing_cut(page, "Runs, all metrics")
    screenshot(page, "grid")

    page.get_by_role("tab", name="Results").click()
    wait_for_idle(page)
    assert_charts_in_view(page, ["runs_per_class_0", *(f"runs_confusion_{run_id}" for run_id in layout_runs.values())])
    # the confusion matrix's counts are readable (Plotly shrinks them to fit a narrow chart: 7 px was seen)
    confusion = chart(page, f"runs_confusion_{layout_runs[RUNS[0]]}")
    sizes = wait_until(lambda: confusion.evaluate("gd => Array.from(gd.querySelectorAll('.heatmap-label text'))"
                                                  ".map(t => parseFloat(getComputedStyle(t).fontSize))"),
                       bool, 60, "the confusion matrix's counts drawn")  # the chart may still be drawing
    assert min(sizes) >= 11
    assert_nothing_cut(page, "Runs, results")
    screenshot(page, "results")

    page.get_by_text("Manage a run", exact=True).click()
    wait_for_idle(page)
    assert_nothing_cut(page, "Runs, manage")
    screenshot(page, "manage")


def choose_models(page, names: list[str]) -> None:
    """Clear the Models picker, then pick these runs (synthetic ones: labelled as not trained on digits)."""
    models = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Models")
    models.get_by_role("button", name="Clear all").click()
    wait_for_idle(page)
    for name in names:
        models.get_by_role("combobox").click()
        page.get_by_role("option", name=f"{name} (bars, not digits)", exact=True).click()
        wait_for_idle(page)
    page.keyboard.press("Escape")


def test_draw(window, app_url, layout_runs, screenshot):
    page = window
    open_page(page, app_url, "draw", "Draw")
    canvas = drawing_canvas(page)
    expect(canvas).to_have_count(1)
    assert_fully_in_view(page, canvas, "the canvas")
    choose_models(page, list(RUNS))
    assert_nothing_cut(page, "Draw with two models chosen")
    screenshot(page, "empty")

    stroke(page, one())
    probabilities = [f"draw_probs_{layout_runs[name]}" for name in RUNS]
    for key in probabilities:
        expect(chart(page, key)).to_have_count(1, timeout=CHART_WAIT_MS)
    assert_fully_in_view(page, canvas, "the canvas")
    assert_charts_in_view(page, ["draw_seen", *probabilities])
    # every digit under the probability bars, not every other one
    ticks = chart(page, probabilities[0]).evaluate(
        "gd => Array.from(gd.querySelectorAll('.xtick text')).map(t => t.textContent)")
    assert ticks == [str(digit) for digit in range(10)]
    assert_nothing_cut(page, "Draw")
    screenshot(page, "predicted")
