"""The browser fixtures are in browser_session.py, imported by tests/conftest.py for the whole session;
tests/offline's session script imports Chromium's path and flags from here."""
from tests.browser.browser_session import CHROMIUM, CHROMIUM_ARGS  # noqa: F401
