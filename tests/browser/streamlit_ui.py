"""Driving Streamlit 1.67's widgets from Playwright the way a user does, and reading what they show."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TypeVar

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

T = TypeVar("T")
# Streamlit's dataframe (glide-data-grid) draws rows this tall by default, its header too
ROW_PX = 35
# the row-marker (checkbox) column on the left of a dataframe with row selection
MARKER_X_PX = 18


def as_typed(text: str) -> re.Pattern:
    """Text shown through ui.text.markdown_text, which puts invisible word joiners between some characters."""
    return re.compile("\u2060?".join(map(re.escape, text)))


def open_page(page: Page, app_url: str, path: str, title: str) -> None:
    """Go to one of the app's pages and wait for its header (the first visit imports torch: be patient)."""
    page.goto(f"{app_url}/{path}")
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)
    wait_for_idle(page, timeout=60_000)  # the widgets below the header are drawn by then


def wait_until(read: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str) -> T:
    """Poll read() until done(value); fail naming what was awaited and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r} after {timeout:.0f}s")
        time.sleep(0.25)


def wait_for_idle(page: Page, timeout: float = 30_000) -> None:
    """Wait until the app is not running a script (the 'Running...' widget is gone)."""
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=timeout)


def choose(page: Page, label: str, option: str) -> None:
    """Open a selectbox and click one of its options."""
    box = page.get_by_role("combobox", name=label, exact=True)
    wanted = page.get_by_role("option", name=option, exact=True)
    for attempt in range(3):
        box.click()
        try:
            wanted.click(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            # the rerun of an earlier change redrew the box and closed its list: open it again
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
    expect(box).to_have_value(option)
    wait_for_idle(page)


def type_into(page: Page, label: str, value: object) -> None:
    """Type into a text or number input and commit it with Enter."""
    # the input itself: a dataframe's toolbar has a "Search" button with the same label
    field = page.get_by_label(label, exact=True).and_(page.locator("input"))
    field.fill(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))
    wait_for_idle(page)


def slider(page: Page, label: str) -> Locator:
    """A slider's range input, by its whole label ("Smoothing" is not "Label smoothing"): focus it and
    press keys (ArrowRight, End, ...) to move it."""
    return page.locator(f'[data-testid="stSlider"] input[type="range"][aria-label={json.dumps(label)}]')


def badge(page: Page, text: str) -> Locator:
    """An st.badge with exactly this text."""
    return page.locator(".stMarkdownBadge").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def chart(page: Page, key: str) -> Locator:
    """The shown Plotly chart of the st.plotly_chart with this key."""
    return page.locator(f".st-key-{key} .js-plotly-plot").filter(visible=True)


def traces(plot: Locator) -> list[dict]:
    """Each trace Plotly drew: its name, how many points, its first and last x, its dash and fill."""
    return plot.evaluate("""gd => (gd._fullData || []).map(t => ({
        name: t.name, points: t.x ? t.x.length : 0, last_x: t.x && t.x.length ? Math.max(...t.x) : null,
        first_x: t.x && t.x.length ? Math.min(...t.x) : null, dash: t.line ? t.line.dash : null,
        fill: t.fill}))""")


def vertical_lines(plot: Locator) -> list[dict]:
    """The vertical lines drawn across a Plotly chart (its shapes): x and the text beside them."""
    return plot.evaluate("""gd => (gd._fullLayout.shapes || []).map((s, i) => ({x: s.x0,
        text: ((gd._fullLayout.annotations || [])[i] || {}).text}))""")


def last_x(page: Page, key: str) -> float:
    """The largest x of a chart's first trace, 0 while the chart is not drawn."""
    plot = chart(page, key)
    if plot.count() != 1:
        return 0
    drawn = traces(plot)
    return (drawn[0]["last_x"] or 0) if drawn else 0


def progress_text(page: Page) -> str:
    bar = page.locator('[data-testid="stProgress"]').filter(visible=True)
    return bar.inner_text() if bar.count() == 1 else ""


def progress_step(page: Page) -> int:
    """The step a running run's progress line shows ('... step 1,234/43,000 ...'), 0 if none."""
    match = re.search(r"step ([\d,]+)/", progress_text(page))
    return int(match.group(1).replace(",", "")) if match else 0


def grid_rows(frame: Locator) -> Locator:
    """A dataframe's rows in glide-data-grid's accessibility table (it mirrors the canvas)."""
    return frame.locator('table tbody tr[role="row"]')


def row_index(frame: Locator, text: str, column: int = 1) -> int:
    """The row whose cell in this column reads exactly text."""
    cell = frame.locator(f'table td[role="gridcell"][aria-colindex="{column}"]').filter(
        has_text=re.compile(f"^{re.escape(text)}$"))
    expect(cell).to_have_count(1)
    return int(cell.get_attribute("id").rsplit("-", 1)[1])  # glide-cell-<column>-<row>


def runs_table(page: Page, timeout: float = 60_000) -> Locator:
    """The Runs page's table, once it is the only one: its key follows the rows shown, so for a moment
    after a search or a new run the old table and the new one are both in the page."""
    table = page.locator('[class*="st-key-runs_table_"] [data-testid="stDataFrame"]')
    expect(table).to_have_count(1, timeout=timeout)
    return table


def select_row(page: Page, frame: Locator, name: str) -> None:
    """Tick a row's checkbox in the canvas-drawn row-marker column, as a user clicks it."""
    expect(frame).to_have_count(1, timeout=60_000)  # not while a table with other rows is going
    index = row_index(frame, name)
    frame.scroll_into_view_if_needed()
    box = frame.locator('[data-testid="stDataFrameResizable"]').bounding_box()
    page.mouse.click(box["x"] + MARKER_X_PX, box["y"] + 1 + ROW_PX * (index + 1) + ROW_PX / 2)
    expect(grid_rows(frame).nth(index)).to_have_attribute("aria-selected", "true")


# every widget label, button label, metric, tab and chip that shows a cut-off text (an ellipsis or a
# clipped end) or a line broken inside a word ("Optimize r")
CUT_TEXT = """() => {
    const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
    const selector = ['[data-testid="stWidgetLabel"] p', '[data-testid="stMetricValue"] div',
                      '[data-testid="stMetricLabel"] p', 'button [data-testid="stMarkdownContainer"] p',
                      '[data-baseweb="tag"] span', '[data-baseweb="tab"] p', '[data-testid="stTopNavLink"] span'];
    const found = [];
    for (const e of document.querySelectorAll(selector.join(', '))) {
        if (!shown(e) || !e.textContent.trim()) continue;
        if (e.scrollWidth > e.clientWidth + 1) { found.push(`cut: ${e.textContent}`); continue; }
        const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
        const range = document.createRange();
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            let top = null, previous = " ";
            for (let i = 0; i < node.length; i++) {
                range.setStart(node, i); range.setEnd(node, i + 1);
                const rects = range.getClientRects();
                if (!rects.length) continue;
                const char = node.data[i];
                if (top !== null && Math.abs(rects[0].top - top) > 2 && /\\w/.test(char) && /\\w/.test(previous)) {
                    found.push(`broken: ${e.textContent}`);
                    break;
                }
                top = rects[0].top; previous = char;
            }
        }
    }
    return found;
}"""


def cut_text(page: Page) -> list[str]:
    """Labels, metrics, tabs and chips on the page whose text is cut off or broken inside a word."""
    return page.evaluate(CUT_TEXT)


def assert_fully_in_view(page: Page, element: Locator, what: str) -> None:
    """Scrolled to, the element lies inside the window: nothing of it clipped on any side."""
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    view = page.viewport_size
    assert box is not None, f"{what} is not shown"
    inside = (box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= view["width"] + 0.5
              and box["y"] + box["height"] <= view["height"] + 0.5)
    assert inside, f"{what} at {box} is not inside the {view['width']}x{view['height']} window"


def live_chart_state(page: Page, key: str) -> dict:
    """A live chart's state in the browser: the update it is at, its points, and its x range."""
    plot = chart(page, key)
    if plot.count() != 1:
        return {"seq": -1, "points": 0, "range": None}
    return plot.evaluate("""gd => ({seq: Number(gd.dataset.seq || -1), points: Number(gd.dataset.points || 0),
                                    range: gd._fullLayout ? gd._fullLayout.xaxis.range.slice() : null})""")


def box_zoom(page: Page, key: str) -> list[float]:
    """Drag a box over the middle of a chart's plot area, as a user zooms; returns the new x range."""
    plot = chart(page, key)
    plot.scroll_into_view_if_needed()
    before = live_chart_state(page, key)["range"]
    area = plot.locator(".nsewdrag").first.bounding_box()
    x0, y0 = area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 9):
        page.mouse.move(x0 + area["width"] * 0.3 * k / 8, y0 + area["height"] * 0.6 * k / 8)
    page.mouse.up()
    return wait_until(lambda: live_chart_state(page, key)["range"], lambda r: r is not None and r != before, 30,
                      f"{key} zoomed in")
