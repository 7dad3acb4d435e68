"""One app server for the whole test session: `streamlit run streamlit_app.py` as the README starts it
(address and XSRF from .streamlit/config.toml), on a free port, with its own runs folder."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.runs.store import RunStore

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class AppServer:
    url: str
    port: int
    process: subprocess.Popen
    runs_dir: Path
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer at {url} within {timeout:.0f}s")


def stop_workers(runs: Path) -> None:
    """Workers run in their own sessions, so they outlive the server: end them here."""
    if not (runs / "runs.db").exists():
        return
    for run in RunStore(runs).active_runs():
        if run.pid and run.pid != os.getpid():
            try:
                os.kill(run.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start(runs_dir: Path) -> AppServer:
    port = free_port()
    log = runs_dir.parent / "streamlit.log"
    env = {**os.environ, "MNIST_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
             "--server.headless", "true"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = AppServer(f"http://127.0.0.1:{port}", port, process, runs_dir, log)
    try:
        wait_until_healthy(server.url, process)
    except RuntimeError as err:
        stop(server)
        raise RuntimeError(f"{err}\n{log.read_text()}") from None
    return server


def stop(server: AppServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)
    stop_workers(server.runs_dir)
