"""Issue 16, case 3, in Chromium: Markdown, KaTeX, colour and icon directives, HTML and links to a
127.0.0.1 port nobody serves, put in a run's name, tag and note, are shown as the characters typed
on every page that shows them (Streamlit text and Plotly legends and titles): no element is made of
them, and the browser never asks that port for anything."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from core.config import RunConfig
from core.runs.store import RunStore
from tests.app_server import free_port
from tests.browser.streamlit_ui import (
    MARKER_X_PX,
    ROW_PX,
    chart,
    choose,
    grid_rows,
    open_page,
    runs_table,
    type_into,
    wait_for_idle,
)
from ui.charts import CONFUSION_TITLE_CHARS
from ui.text import shortened

pytestmark = pytest.mark.browser
SLOW_MS = 60_000  # a chart or a rerun on a busy 2-core machine: well past expect's 5 s
WORD_JOINER = "\u2060"  # ui.text puts these, invisible, where GFM would make a link


def hostile(port: int) -> str:
    url = f"http://127.0.0.1:{port}"
    return (f"**bold** _it_ `code` $x^2$ $$\\frac{{1}}{{2}}$$ :red[red] :material/home: :rocket: <b>html</b> "
            f"<img src='{url}/html.png'> <a href='{url}/a'>a</a> [link]({url}/link) ![img]({url}/img.png) {url}/auto")


def hostile_name(port: int) -> str:
    """As much of the markup as a name's 100 characters take: bold, KaTeX, HTML, an image, a link and a bare
    www. name (GFM links it by itself; ui.text breaks only that dot, and leaves the others as typed)."""
    url = f"http://127.0.0.1:{port}"
    return f"**bold** $x^2$ <b>html</b> ![i]({url}/i.png) [a]({url}/a) www.x.io"


def hostile_tags(port: int) -> list[str]:
    """The markup as tags of at most 40 characters each."""
    url = f"http://127.0.0.1:{port}"
    return ["tag **bold** _it_", "`code` $x^2$ :red[red]", "<b>html</b> :rocket:", f"[l]({url}/t)", f"{url}/auto"]


@pytest.fixture(scope="module")
def marked(train_run, runs_dir) -> tuple[str, str, int]:
    """A trained run whose name, tags and note are all markup; the port its links point at serves nothing."""
    port = free_port()
    name = hostile_name(port)
    run_id = train_run(RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=2, device="cpu"), name)
    store = RunStore(runs_dir)
    store.set_tags(run_id, hostile_tags(port))
    store.set_notes(run_id, f"note {hostile(port)}")
    return run_id, name, port


def text_only(element: Locator) -> str:
    """The element's text as a reader sees it, asserting it holds nothing but text."""
    children, text = element.evaluate("e => [e.childElementCount, e.textContent]")
    assert children == 0, element.evaluate("e => e.innerHTML")
    return text.replace(WORD_JOINER, "")


def assert_no_markup_made(page: Page, port: int) -> None:
    made = page.evaluate(f"""() => ({{
        katex: document.querySelectorAll('.katex').length,
        images: document.querySelectorAll('img[src*=":{port}"], image[href*=":{port}"]').length,
        links: document.querySelectorAll('a[href*=":{port}"], a[href*="x.io"]').length,
        bold: [...document.querySelectorAll('strong, b, em, code, del')]
            .filter(e => /^(bold|html|it|code)$/.test(e.textContent)).length,
    }})""")
    assert made == {"katex": 0, "images": 0, "links": 0, "bold": 0}


def select_only_row(page: Page, run_id: str) -> None:
    """Search the Runs table for the run and tick its row (the only one left), as a user clicks it."""
    type_into(page, "Search", run_id)
    expect(page.get_by_text(re.compile(r"^1 of \d+ runs - select rows"))).to_be_visible(timeout=SLOW_MS)
    table = runs_table(page)
    expect(grid_rows(table)).to_have_count(1, timeout=SLOW_MS)  # the filtered table, not the one before
    box = table.locator('[data-testid="stDataFrameResizable"]').bounding_box()
    page.mouse.click(box["x"] + MARKER_X_PX, box["y"] + 1 + ROW_PX * 1.5)
    expect(page.get_by_text("Manage a run", exact=True)).to_be_visible(timeout=SLOW_MS)
    wait_for_idle(page)


def stroke(page: Page) -> None:
    box = page.locator('[class*="st-key-draw_canvas_"] canvas.upper-canvas').bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 45)
    page.mouse.down()
    for i in range(1, 20):
        page.mouse.move(box["x"] + 140, box["y"] + 45 + 10 * i, steps=3)
    page.mouse.up()


def test_markup_in_a_name_tag_and_note_is_shown_as_text(page, app_url, marked, screenshot):
    run_id, name, port = marked
    asked = []
    page.on("request", lambda request: asked.append(request.url))

    open_page(page, app_url, "", "Train")
    heading = page.locator("[data-heading-text]").filter(has_text="bold")
    if heading.count() == 0:  # the newest run is shown unless the queue is busy: pick it then
        choose(page, "Show", f"{name} ({run_id[-6:]})")  # the picker names a run by its id, not its status
    expect(heading).to_have_count(1, timeout=SLOW_MS)
    assert text_only(heading) == name
    assert_no_markup_made(page, port)
    screenshot(page, "train")

    open_page(page, app_url, "runs", "Runs")
    select_only_row(page, run_id)
    legend = chart(page, "runs_curves").locator(".legendtext")
    expect(legend).to_have_count(1, timeout=SLOW_MS)
    assert text_only(legend) == name
    page.get_by_text("All metrics", exact=True).click()
    key = chart(page, "runs_grid_key").locator(".legendtext")  # the grid's one legend: it made the name a link
    expect(key).to_have_count(1, timeout=SLOW_MS)
    assert text_only(key) == name
    page.get_by_text("One metric", exact=True).click()
    expect(chart(page, "runs_curves")).to_have_count(1, timeout=SLOW_MS)
    page.get_by_role("tab", name="Results").click()
    # as typed, cut to the matrix's width with an ellipsis
    title = chart(page, f"runs_confusion_{run_id}").locator(".gtitle tspan tspan")
    assert text_only(title) == shortened(name, CONFUSION_TITLE_CHARS)
    page.get_by_role("tab", name="Misclassified").click()
    header = page.get_by_role("tabpanel").filter(visible=True).locator("strong").first
    assert text_only(header) == name
    page.get_by_text("Manage a run", exact=True).click()
    expect(page.get_by_label("Notes")).to_have_value(f"note {hostile(port)}", timeout=SLOW_MS)
    page.get_by_role("button", name="Save").click()
    saved = page.locator('[data-testid="stAlertContentSuccess"] p')
    expect(saved).to_have_count(1, timeout=SLOW_MS)
    assert text_only(saved) == f"Saved {name!r}."
    assert_no_markup_made(page, port)
    screenshot(page, "runs")

    open_page(page, app_url, "draw", "Draw")
    models = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Models")
    if name not in models.inner_text().replace(WORD_JOINER, ""):
        models.locator("input").click()
        page.get_by_role("option", name=f"{name} (bars, not digits)", exact=True).click()  # a synthetic run
        page.keyboard.press("Escape")
        wait_for_idle(page)
    stroke(page)
    label = page.locator('[data-testid="stMetricLabel"] p').filter(has_text="bold")
    expect(label).to_have_count(1, timeout=SLOW_MS)
    assert text_only(label) == name
    assert_no_markup_made(page, port)
    screenshot(page, "draw")

    open_page(page, app_url, "runs", "Runs")
    select_only_row(page, run_id)
    page.get_by_text("Manage a run", exact=True).click()
    page.get_by_text("Yes, delete this run").click()
    page.get_by_role("button", name="Delete run").click()
    deleted = page.locator('[data-testid="stAlertContentSuccess"] p')
    expect(deleted).to_have_count(1, timeout=SLOW_MS)
    assert text_only(deleted) == f"Deleted {name!r}."
    assert_no_markup_made(page, port)

    assert [url for url in asked if re.search(f":{port}\\b", url)] == []
