"""Where the test suite's time goes: each test's wall time and the whole machine's CPU time meanwhile.

    python -m pytest -p benchmarks.suite_cpu                 # the whole suite, then the report
    python -m pytest -p benchmarks.suite_cpu tests/browser   # part of it

A pytest plugin, loaded only when asked for. Around each test (setup, call and teardown) it reads the
machine's busy and idle CPU time from /proc/stat (Linux), so the CPU of every process a test starts
(the app server, Chromium, workers, CLI runs) counts, and so does anything else running on the
machine: run it on a quiet one. At the end it prints the test files by wall time with their CPU
seconds and idle core-seconds, and writes every test's figures to SUITE_CPU_JSON if that is set.
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

TICKS = os.sysconf("SC_CLK_TCK")
TOP_FILES = 25
_rows: list[tuple[str, float, float, float]] = []


def cpu_seconds() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot, over all cores."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / TICKS, (idle + iowait) / TICKS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    busy, idle, started = *cpu_seconds(), time.monotonic()
    result = yield
    busy_after, idle_after = cpu_seconds()
    _rows.append((item.nodeid, time.monotonic() - started, busy_after - busy, idle_after - idle))
    return result


def by_file(rows: list[tuple[str, float, float, float]]) -> dict[str, list[float]]:
    """Per test file: wall s, CPU s, idle core-s and the number of tests."""
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for nodeid, wall, busy, idle in rows:
        totals = files[nodeid.split("::")[0]]
        for i, value in enumerate((wall, busy, idle, 1)):
            totals[i] += value
    return files


def pytest_terminal_summary(terminalreporter) -> None:
    if not _rows:
        return
    wall, busy, idle = (sum(row[i] for row in _rows) for i in (1, 2, 3))
    write = terminalreporter.write_line
    write(f"suite_cpu: {len(_rows)} tests, {wall:.0f} s of test wall time, {busy:.0f} CPU s "
          f"(all processes on the machine), {idle:.0f} idle core-s on {os.cpu_count()} cores")
    write(f"{'wall s':>7} {'CPU s':>7} {'idle':>7} {'tests':>5}  file")
    files = sorted(by_file(_rows).items(), key=lambda item: -item[1][0])
    for name, (file_wall, file_busy, file_idle, count) in files[:TOP_FILES]:
        write(f"{file_wall:7.0f} {file_busy:7.0f} {file_idle:7.0f} {count:5d}  {name}")
    if os.environ.get("SUITE_CPU_JSON"):
        Path(os.environ["SUITE_CPU_JSON"]).write_text(json.dumps(_rows))
