"""A direct visit to any page finds everything it asks for (plotly.js for the live charts, the icon),
and closing a tab while its live panel refreshes leaves no traceback in the server's log.

Streamlit's own frontend, opened at /runs, first asks /runs/_stcore/health and /runs/_stcore/host-config
(in case 'runs' is a base URL path) and gets 404s before it asks /_stcore/...: that probe is in
Streamlit's frontend and cannot be answered under `streamlit run` (only an st.App with routes of its
own could), so it is the one miss allowed here.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from streamlit_ui import open_page

pytestmark = pytest.mark.browser

PAGES = {"runs": "Runs", "draw": "Draw", "": "Train"}
SETTLE_S = 5.0  # for the server to notice the closed tabs and drop their sessions
BASE_PATH_PROBE = re.compile(r"^404 http://[^/]+/(runs|draw)/_stcore/(health|host-config)$")


def test_direct_visits_get_no_errors_and_closed_tabs_log_nothing(browser, app):
    logged = len(app.log.read_text())
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
    time.sleep(SETTLE_S)
    tail = app.log.read_text()[logged:]
    assert "Traceback" not in tail and "Error" not in tail, tail[-3000:]
