"""The Train page in a real browser: pick settings with the widgets, watch runs live, refresh, stop."""
from __future__ import annotations

import math
import re

import pytest
from playwright.sync_api import expect
from streamlit_ui import (
    as_typed,
    badge,
    chart,
    choose,
    last_x,
    open_page,
    progress_step,
    progress_text,
    slider,
    traces,
    type_into,
    wait_for_idle,
    wait_until,
)

from core.config import MAX_EPOCHS
from core.runs.store import RunStore
from core.training.checkpoints import load_model

pytestmark = pytest.mark.browser

PAGES = {"Train": "", "Runs": "runs", "Sweeps": "sweeps", "Draw": "draw", "Inside": "inside",
         "Losses & optimizers": "losses"}
# a worker imports torch and loads its data before the first step; the machine may be busy
WORKER_START_S = 120


def nav_labels(page) -> list[str]:
    """The navigation's link labels (in the bar along the top), without the icon names in front of them."""
    return [text.split("\n")[-1].strip()
            for text in page.locator('[data-testid="stTopNavLink"]').all_inner_texts()]


def start_run(page, store: RunStore, name: str) -> str:
    """Press Start, see the live panel follow the queue to the run, and find the run in the store by its name."""
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name=as_typed(name))).to_be_visible(timeout=60_000)
    [run] = [run for run in store.list_runs() if run.name == name]
    return run.id


def metric_value(page, label: str):
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return metric.locator('[data-testid="stMetricValue"]')


def stored_step(store: RunStore, run_id: str) -> int:
    """The last step the worker has written to the store."""
    return max((m.step for m in store.read_metrics(run_id)[0]), default=0)


def test_navigation_shows_the_pages(page, app_url, screenshot):
    open_page(page, app_url, "", "Train")
    assert nav_labels(page) == list(PAGES)
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_visible()
    # the browser fetches each kind of widget's code on first use: grey placeholders until then
    expect(page.get_by_role("combobox", name="Model", exact=True)).to_be_visible()
    expect(slider(page, "Learning rate (log scale)")).to_be_visible()
    for preset in ("Seed lab", "Quick MLP", "Fast 99%", "Best accuracy"):
        expect(page.get_by_role("button", name=preset, exact=True)).to_be_visible()
    screenshot(page, "train")
    for title, path in PAGES.items():
        page.locator('[data-testid="stTopNavLink"]').filter(has_text=title).click()
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)
        assert page.url.rstrip("/") == f"{app_url}/{path}".rstrip("/")


def test_small_synthetic_run_finishes_with_its_curves(page, app_url, runs_dir, screenshot):
    open_page(page, app_url, "", "Train")
    choose(page, "Model", "mlp")
    page.get_by_text("Advanced", exact=True).click()
    wait_for_idle(page)  # opening it is a rerun
    expect(page.get_by_role("combobox", name="Dataset", exact=True)).to_be_visible()
    choose(page, "Dataset", "synthetic")
    # out of the box: the synthetic set's 600 images get a validation split that fits them
    expect(page.get_by_label("Validation images", exact=True).and_(page.locator("input"))).to_have_value("100")
    type_into(page, "Run name", "quick-synthetic")
    epochs = slider(page, "Epochs")
    epochs.focus()
    for _ in range(3):
        epochs.press("ArrowRight")
    expect(epochs).to_have_value("8")

    run_id = start_run(page, RunStore(runs_dir), "quick-synthetic")
    expect(page.get_by_role("heading", name="quick-synthetic")).to_be_visible()
    expect(badge(page, "finished")).to_be_visible(timeout=WORKER_START_S * 1000)
    steps = 8 * math.ceil((600 - 100) / 64)  # epochs x batches of 64 in the 500 training images
    progress = page.locator('[data-testid="stProgress"]')
    expect(progress).to_contain_text(re.compile(rf"finished after .* - {steps} steps"))
    expect(metric_value(page, "Validation accuracy")).to_have_text(re.compile(r"^\d+\.\d\d%$"))
    expect(metric_value(page, "Test accuracy")).to_have_text(re.compile(r"^\d+\.\d\d%$"))
    wait_until(lambda: last_x(page, "train_chart_loss"), lambda x: x == steps, 180, "last step in the loss chart")
    drawn = {trace["name"]: trace for trace in traces(chart(page, "train_chart_loss"))}
    assert drawn["train (per batch)"]["points"] == steps
    assert drawn["validation"]["points"] == 8 and drawn["train (epoch mean)"]["points"] == 8
    # the accuracy chart gets its last points in its own refresh
    wait_until(lambda: traces(chart(page, "train_chart_accuracy"))[0]["points"], lambda n: n == steps, 180,
               "every step in the accuracy chart")
    screenshot(page, "finished")

    run = RunStore(runs_dir).get_run(run_id)
    assert (run.status, run.name) == ("finished", "quick-synthetic")
    assert {key: getattr(run.config, key) for key in ("model", "dataset", "val_size", "epochs")} == \
        {"model": "mlp", "dataset": "synthetic", "val_size": 100, "epochs": 8}


def test_long_run_is_live_survives_a_refresh_and_stops(page, app, app_url, runs_dir, screenshot):
    store = RunStore(runs_dir)
    open_page(page, app_url, "", "Train")
    # the labs' CNN for 100 epochs: far longer than this test on any machine, so it is still running
    # when Stop is pressed; what it has reached by then is never asserted
    choose(page, "Model", "cnn")
    type_into(page, "Run name", "long-cnn")
    epochs = slider(page, "Epochs")
    epochs.focus()
    epochs.press("End")
    expect(epochs).to_have_value(str(MAX_EPOCHS))
    run_id = start_run(page, store, "long-cnn")

    # live: the chart and the progress line move on while the run trains
    expect(badge(page, "running")).to_be_visible(timeout=WORKER_START_S * 1000)
    first = wait_until(lambda: last_x(page, "train_chart_loss"), lambda x: x > 0, WORKER_START_S,
                       "first step in the loss chart")
    wait_until(lambda: last_x(page, "train_chart_loss"), lambda x: x > first, 180, "loss chart growing")
    shown = wait_until(lambda: progress_step(page), lambda step: step > 0, 180, "step in the progress line")
    wait_until(lambda: progress_step(page), lambda step: step > shown, 180, "step in the progress line")
    steps = MAX_EPOCHS * math.ceil(55_000 / 64)
    expect(page.locator('[data-testid="stProgress"]')).to_contain_text(
        re.compile(rf"epoch \d+/{MAX_EPOCHS} - step [\d,]+/{steps:,} - "))
    screenshot(page, "running")

    # a refresh is a new session: the run goes on in its worker and the chart comes back whole
    before = stored_step(store, run_id)
    page.reload()
    expect(page.get_by_role("heading", name="long-cnn")).to_be_visible(timeout=60_000)
    expect(badge(page, "running")).to_be_visible()
    wait_until(lambda: last_x(page, "train_chart_loss"), lambda x: x >= before, 180, "loss chart after refresh")
    wait_until(lambda: stored_step(store, run_id), lambda step: step > before, 180, "stored step after refresh")
    shown = wait_until(lambda: progress_step(page), lambda step: step >= before, 180, "progress after refresh")
    wait_until(lambda: progress_step(page), lambda step: step > shown, 180, "progress after refresh")
    assert store.get_run(run_id).status == "running"

    logged = len(app.log.read_text())
    page.get_by_role("button", name="Stop", exact=True).click()
    # said at the top of the panel (and in a toast, which goes by)
    expect(page.get_by_test_id("stAlertContentInfo").get_by_text(as_typed(
        "Stop requested for 'long-cnn': it ends at its next flush and keeps its checkpoints."))).to_be_visible()
    # by the panel itself: an element shown from the button's callback in a fragment gets Streamlit's warning
    assert "Warning" not in app.log.read_text()[logged:], app.log.read_text()[logged:]
    expect(badge(page, "stopped")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("stopped on request")).to_be_visible()
    final = stored_step(store, run_id)
    progress = page.locator('[data-testid="stProgress"]')
    expect(progress).to_contain_text(re.compile(rf"^stopped after .* - {final:,} steps"))
    expect(page.get_by_role("button", name="Stop", exact=True)).to_have_count(0)
    screenshot(page, "stopped")

    run = store.get_run(run_id)
    assert run.status == "stopped" and run.summary.end_reason == "stopped"
    last = store.checkpoint_path(run_id, "last")
    assert last.exists() or store.epoch_checkpoints(run_id), "a stopped run keeps a checkpoint"
    if last.exists():
        model, config, _ = load_model(last)
        assert config == run.config
        assert sum(p.numel() for p in model.parameters()) == run.environment.parameters
    assert final > before and progress_text(page).startswith("stopped")
