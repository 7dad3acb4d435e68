"""A direct visit to any page finds everything it asks for (plotly.js for the live charts, the icon),
and closing a tab while its live panel refreshes leaves no traceback in the server's log.

Streamlit's own frontend, opened at /runs, first asks /runs/_stcore/health and /runs/_stcore/host-config
(in case 'runs' is a base URL path) and gets 404s before it asks /_stcore/...: that probe is in
Streamlit's frontend and cannot be answered under `streamlit run` (only an st.App with routes of its
own could), so it is the one miss allowed here.
"""
from __future__ import annotations

import re

import psutil
import pytest
from playwright.sync_api import expect
from streamlit_ui import open_page, wait_until

pytestmark = pytest.mark.browser

PAGES = {"runs": "Runs", "draw": "Draw", "": "Train"}
BASE_PATH_PROBE = re.compile(r"^404 http://[^/]+/(runs|draw)/_stcore/(health|host-config)$")


def open_connections(app) -> int:
    """The TCP connections the app server holds open to browsers: a closed tab's stay until the server
    has handled its closing (and dropped its session)."""
    return sum(1 for connection in psutil.Process(app.process.pid).net_connections(kind="tcp")
               if connection.status != psutil.CONN_LISTEN and connection.laddr.port == app.port)


def test_direct_visits_get_no_errors_and_closed_tabs_log_nothing(browser, app):
    logged, connections_before = len(app.log.read_text()), open_connections(app)
    for path, title in PAGES.items():
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        failed = []
        page.on("response", lambda response, failed=failed: failed.append(f"{response.status} {response.url}")
                if response.status >= 400 else None)
        open_page(page, app.url, path, title)
        expect(page.locator('[data-testid="stTopNavLink"]').first).to_be_visible()  # the app's own frontend
        missing = [response for response in failed if not BASE_PATH_PROBE.match(response)]
        assert missing == [], f"/{path} asked for what is not there"
        context.close()  # mid-refresh on Train: its fragment reruns every second
    wait_until(lambda: open_connections(app), lambda n: n <= connections_before, 120,
               "the server to close the closed tabs' connections")
    tail = app.log.read_text()[logged:]
    assert "Traceback" not in tail and "Error" not in tail, tail[-3000:]
