"""Offline for real: the CLI and the app's pages in Chromium, inside a network namespace with no network.

`unshare -n` gives the test a namespace whose only interface is the loopback, so anything that needs
the internet fails there. Every Python process logs each connect and name lookup (sitecustomize in
audit/), and the browser logs each URL it asks for; nothing may leave 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LOOPBACK = ("127.0.0.1", "::1", "localhost")

pytestmark = pytest.mark.browser


def unshare_refusal() -> str | None:
    """Why a network namespace cannot be made here, or None if it can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is not installed"
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"unshare -n was refused: {probe.stderr.strip()}"


def off_loopback(entry: dict) -> bool:
    """An audit log entry that reaches (or looks up) a host other than this machine's loopback."""
    address = entry["address"]
    if entry["event"] == "socket.connect" and not address.startswith(("(", "['", '("')):
        return False  # a Unix socket path
    return not any(host in address for host in LOOPBACK)


@pytest.fixture(scope="module")
def offline_report(tmp_path_factory) -> tuple[dict, list[dict]]:
    refusal = unshare_refusal()
    if refusal:
        pytest.skip(f"no network namespace for the offline test: {refusal}")
    audit = tmp_path_factory.mktemp("offline") / "network.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE / "audit"), str(REPO)]),
           "NETWORK_AUDIT_LOG": str(audit)}
    command = f"ip link set lo up && exec {sys.executable} {HERE / 'offline_session.py'}"
    result = subprocess.run(["unshare", "-n", "bash", "-c", command], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=500)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    entries = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
    return report, entries


def test_the_cli_trains_with_no_network(offline_report):
    report, _ = offline_report
    assert report["cli"]["code"] == 0, report["cli"]["stderr"]
    assert "status: finished" in report["cli"]["stdout"]


def test_the_pages_work_and_the_browser_asks_only_the_app(offline_report):
    report, _ = offline_report
    assert "error" not in report, report.get("error")
    pages = ["Train", "Runs", "Sweeps", "Draw", "Inside", "Losses & optimizers"]
    expected = dict.fromkeys([*pages, "run"], True)
    assert report["shown"] == expected
    assert report["requests"], "the browser asked for nothing: the check would see nothing"
    outside = [url for url in report["requests"]
               if not url.startswith((report["url"], "data:", "blob:", "about:"))]
    assert outside == [], outside
    # ERR_ABORTED is a request cancelled by the next navigation, not one that could not reach its host
    failed = [failure for failure in report["failed"] if not failure.endswith("net::ERR_ABORTED")]
    assert failed == [], failed
    network_errors = [error for error in report["console_errors"] if "net::ERR" in error and "ERR_ABORTED" not in error]
    assert network_errors == [], network_errors


def test_no_process_tried_to_reach_another_host(offline_report):
    report, entries = offline_report
    assert entries, "the audit hook logged nothing: it would miss an attempt too"
    assert [entry for entry in entries if off_loopback(entry)] == []
    assert "Traceback" not in report["server_log"], report["server_log"]
