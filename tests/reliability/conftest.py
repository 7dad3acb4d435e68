"""Reliability fixtures: unbuffered output from the processes a test starts, and a reaper that ends
every process a test started (its own and launch()'s workers), by pid, whatever the test's outcome.
(One thread per process is set for the whole session, in tests/conftest.py.)"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest

from core.runs import launcher


@pytest.fixture(autouse=True)
def unbuffered_output(monkeypatch):
    """Workers and CLI runs write each line as it comes, so a test reads what they printed so far."""
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")


class Reaper:
    """Remembers the processes a test starts and kills what is left of them at teardown."""

    def __init__(self):
        self.popens: list[subprocess.Popen] = []
        self.pids: set[int] = set()

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        """subprocess.Popen in its own session, so its whole group can be ended."""
        process = subprocess.Popen(*args, start_new_session=True, **kwargs)
        self.popens.append(process)
        return process

    def note_pid(self, pid: int | None) -> None:
        if pid and pid != os.getpid():
            self.pids.add(pid)

    def reap(self) -> None:
        """Kill everything left, by pid."""
        for process in self.popens:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        for pid in self.pids:
            _kill_and_reap(pid)


def _is_worker(pid: int) -> bool:
    """True for a live `python -m core worker` process: a recycled pid is never killed. (One from the fork
    server shows its command as one string: its arguments joined by spaces, not NULs.)"""
    try:
        return b" -m core worker " in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False


def _kill_and_reap(pid: int) -> None:
    """SIGKILL a worker started by launch() and wait for it to be gone (reaped, if it is our child)."""
    if not _is_worker(pid):
        return
    try:
        process = psutil.Process(pid)
        process.kill()
        process.wait(10)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired):
        pass


@pytest.fixture
def reaper(monkeypatch):
    r = Reaper()
    spawn = launcher.spawn

    def noting_spawn(*args, **kwargs) -> int:
        pid = spawn(*args, **kwargs)
        r.note_pid(pid)
        return pid

    monkeypatch.setattr(launcher, "spawn", noting_spawn)
    yield r
    r.reap()
