"""Headless Chromium driving the session's one app server (tests/conftest.py's `app`).

These fixtures are imported by tests/conftest.py, so the browser tests here and those in
tests/reliability share one Chromium as well as one server (two sync Playwrights cannot run at once).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.config import RunConfig
from core.runs.store import RunStore
from core.runs.supervisor import execute_run

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
# what the page shows comes from the server's script runs: on a loaded machine they take seconds, so
# every expect() waits up to this long for its state (a ceiling, never a pause)
expect.set_options(timeout=30_000)
SCROLL_HEIGHT = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    return Math.max(main ? main.scrollHeight : 0, document.documentElement.scrollHeight);
}"""


@pytest.fixture(scope="session")
def train_run(runs_dir: Path):
    """Train a run to its end in this process, straight into the app's runs folder; returns its id."""
    def train(config: RunConfig, name: str) -> str:
        store = RunStore(runs_dir)
        run_id = store.create_run(config, name=name)
        assert execute_run(store, run_id) == "finished", store.get_run(run_id).message  # one thread: conftest
        return run_id

    return train


@pytest.fixture(scope="session")
def app_url(app) -> str:
    return app.url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium "
                    "(apt-get install -y chromium, as scripts/test.sh does) or CHROMIUM_PATH set", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so the page fixture can tell that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, app_url, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:  # what the page showed when the test failed
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}-FAILED.png"
        opened.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failure: {path}")
    context.close()


@pytest.fixture
def screenshot(request):
    """Save a full-page screenshot under test-artifacts/screenshots and print where it went."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        # Streamlit scrolls inside its main block, not the document: full_page alone gets the
        # viewport, so grow the viewport to the content's height for the shot
        size = page.viewport_size
        height = page.evaluate(SCROLL_HEIGHT)
        page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
        try:
            page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(size)
        print(f"screenshot: {path}")
        return path

    return take
