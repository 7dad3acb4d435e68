"""Small helpers shared by the reliability tests."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.runs.records import Metric

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], timeout: float = 300.0, interval: float = 0.05,
             what: str = "a condition"):
    """Poll until predicate() is truthy and return its value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def cli_command(*args: str) -> list[str]:
    """The argv of `python -m core ...`, run from the repository root."""
    return [sys.executable, "-m", "core", *args]


def process_state(pid: int) -> str | None:
    """The state letter from /proc (R, S, T, Z...), or None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def freeze_between_writes(pid: int, db_path: Path, timeout: float = 120.0) -> None:
    """SIGSTOP a worker at a moment it holds no write lock on the store.

    Frozen inside a flush's or a heartbeat's transaction (a few ms of every second), it would hold up
    every other writer until the busy timeout, and the test's own writes would fail: then it is let go
    until the lock is free, and frozen again.
    """
    deadline = time.monotonic() + timeout
    while True:
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: process_state(pid) == "T", timeout=60, what=f"worker {pid} to freeze")
        if not write_locked(db_path):
            return
        assert time.monotonic() < deadline, f"worker {pid} held the store's write lock at every freeze"
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: not write_locked(db_path), timeout=60, what=f"worker {pid} to end its write")


def write_locked(db_path: Path) -> bool:
    """Whether another connection holds the database's write lock now (asked without waiting)."""
    db = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as err:
        if "locked" not in str(err):
            raise
        return True
    finally:
        db.close()


def wait_until_dead(pid: int, timeout: float = 60.0) -> None:
    """Until the process is gone or a zombie: it can no longer write anything."""
    wait_for(lambda: process_state(pid) in (None, "Z"), timeout, what=f"process {pid} to end")


def train_loss_steps(metrics: Iterable[Metric]) -> list[int]:
    """The steps of the per-batch training loss rows, in the order stored."""
    return [m.step for m in metrics if m.split == "train" and m.name == "loss"]


def files_under(root: Path) -> set[Path]:
    """Every file and folder below root, as paths relative to it."""
    return {path.relative_to(root) for path in root.rglob("*")}


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or folder read-only for this process: immutable (chattr +i) for root, whom file
    modes do not stop, or without write permission for anyone else; restored afterwards."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    try:
        yield
    finally:
        path.chmod(mode)


def one_error_line(err: str) -> str:
    """The single line a CLI error prints, asserting there is exactly one and no traceback."""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()
