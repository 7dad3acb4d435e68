"""Forking in a real browser: pick a run and an epoch, change the lr, Fork, and see the child drawn from
the branch point on its parent's axis."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from streamlit_ui import (
    chart,
    choose,
    grid_rows,
    open_page,
    runs_table,
    select_row,
    traces,
    type_into,
    vertical_lines,
    wait_for_idle,
    wait_until,
)

from core.config import RunConfig
from core.runs.store import RunStore

pytestmark = pytest.mark.browser

STEPS_PER_EPOCH = 8  # 500 synthetic training images in batches of 64
WORKER_S = 180  # a worker imports torch and loads its data first; the machine may be busy


@pytest.fixture(scope="module")
def parent(train_run) -> str:
    return train_run(RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=3, batch_size=64, device="cpu"),
                     "lineage-parent")


def drawn_traces(page, names: set[str]) -> dict[str, dict]:
    """The curves chart's traces by name, once it draws every one of these (it redraws after a selection)."""
    def read() -> dict[str, dict]:
        plot = chart(page, "runs_curves")
        return {trace["name"]: trace for trace in traces(plot)} if plot.count() == 1 else {}
    return wait_until(read, lambda drawn: names <= drawn.keys(), 60, f"the chart to draw {sorted(names)}")


def test_fork_a_run_and_see_the_child_drawn_from_the_branch_point(page, app_url, runs_dir, parent, screenshot):
    store = RunStore(runs_dir)
    open_page(page, app_url, "runs", "Runs")
    type_into(page, "Search", "lineage-")
    expect(grid_rows(runs_table(page))).to_have_count(1)
    select_row(page, runs_table(page), "lineage-parent")
    wait_for_idle(page)
    page.get_by_text("Manage a run", exact=True).click()
    choose(page, "From epoch", "2")
    # typed without Enter: Enter in a form's field would submit the form before the button is pressed
    page.get_by_label("Name of the fork", exact=True).fill("lineage-child")
    page.get_by_role("button", name="Fork", exact=True).click()
    expect(page.get_by_text(re.compile("^Forked at epoch 2"))).to_be_visible()
    (child,) = store.children(parent)
    assert (child.name, child.parent_epoch) == ("lineage-child", 2)
    wait_until(lambda: store.get_run(child.id).status, lambda status: status == "finished", WORKER_S,
               "the forked run to finish")

    # the child alone: it starts after the parent's epoch 2, whose run is drawn dashed up to there
    page.reload()
    open_page(page, app_url, "runs", "Runs")
    type_into(page, "Search", "lineage-child")
    expect(grid_rows(runs_table(page))).to_have_count(1)
    select_row(page, runs_table(page), "lineage-child")
    wait_for_idle(page)
    drawn = drawn_traces(page, {"lineage-child", "lineage-parent (parent, to epoch 2)"})
    branch = 2 * STEPS_PER_EPOCH
    assert drawn["lineage-child"]["first_x"] == branch + 1 and drawn["lineage-child"]["last_x"] == 3 * STEPS_PER_EPOCH
    inherited = drawn["lineage-parent (parent, to epoch 2)"]
    assert inherited["dash"] == "dash" and inherited["first_x"] == 1 and inherited["last_x"] == branch
    assert vertical_lines(chart(page, "runs_curves")) == [{"x": branch, "text": "lineage-child forks here"}]
    page.get_by_text("Manage a run", exact=True).click()
    lineage = page.locator(f'[class*="st-key-runs_lineage_{child.id}"] [data-testid="stDataFrame"]')
    lineage.scroll_into_view_if_needed()  # the grid mirrors its rows into the page once it is drawn
    expect(grid_rows(lineage)).to_have_count(1)
    expect(grid_rows(lineage).first.locator("td")).to_contain_text(["parent", "lineage-parent", "2"])
    screenshot(page, "child-1400")
    page.set_viewport_size({"width": 800, "height": 1000})
    wait_for_idle(page)
    screenshot(page, "child-800")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # both: on the parent's axis, the child goes on from the parent's step 16
    type_into(page, "Search", "lineage-")
    expect(grid_rows(runs_table(page))).to_have_count(2)
    # the child stays ticked through the change of search (a selection is remembered by run id)
    drawn_traces(page, {"lineage-child", "lineage-parent (parent, to epoch 2)"})
    select_row(page, runs_table(page), "lineage-parent")
    wait_for_idle(page)
    drawn = drawn_traces(page, {"lineage-child", "lineage-parent"})
    assert drawn["lineage-parent"]["first_x"] == 1 and drawn["lineage-parent"]["last_x"] == 3 * STEPS_PER_EPOCH
    assert drawn["lineage-child"]["first_x"] == branch + 1
    assert not any(name.endswith("(parent, to epoch 2)") for name in drawn)  # the parent is drawn itself
    screenshot(page, "both-1400")
