"""Run inside a network namespace with no network (see test_offline.py): the CLI, then the app in Chromium.

Prints one JSON report on its last line: what the CLI returned, every URL the browser asked for,
the requests that failed, the browser's console errors, and what each page showed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "browser")]

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from streamlit_ui import badge, open_page  # noqa: E402

from tests.app_server import free_port, wait_until_healthy  # noqa: E402

PAGES = {"Train": "", "Runs": "runs", "Sweeps": "sweeps", "Draw": "draw", "Inside": "inside",
         "Losses & optimizers": "losses"}


def train_from_the_cli(runs: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "core", "train", "--dataset", "synthetic", "--model", "mlp", "--epochs", "1",
         "--val-size", "100", "--runs", str(runs), "--name", "offline"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    return {"code": result.returncode, "stdout": result.stdout[-2000:], "stderr": result.stderr[-2000:]}


def visit_pages(url: str) -> dict:
    requests, failed, console = [], [], []
    shown = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
        page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
        for title, path in PAGES.items():
            open_page(page, url, path, title)
            shown[title] = True
        open_page(page, url, "", "Train")  # the stored run appears in the live panel
        expect(page.get_by_role("heading", name="offline")).to_be_visible(timeout=60_000)
        expect(badge(page, "finished")).to_be_visible()
        shown["run"] = True
        browser.close()
    return {"requests": requests, "failed": failed, "console_errors": console, "shown": shown}


def main() -> None:
    runs = Path(tempfile.mkdtemp(prefix="offline-runs-"))
    port = free_port()
    log = open(runs.parent / f"{runs.name}-streamlit.log", "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=REPO, env={**os.environ, "MNIST_RUNS_DIR": str(runs)}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    report: dict = {"cli": {"code": None, "stdout": "", "stderr": "the CLI did not run to its end"}}
    try:
        report["cli"] = train_from_the_cli(runs)  # while the server starts
        wait_until_healthy(url, server)
        report.update(visit_pages(url), url=url)
    except Exception as err:  # reported, so the test shows what went wrong inside the namespace
        report["error"] = f"{type(err).__name__}: {err}"
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    report["server_log"] = Path(log.name).read_text()[-5000:]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
