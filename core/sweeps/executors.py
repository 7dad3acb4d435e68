"""Where a sweep's trials run: worker processes on this machine, or Ray tasks on a cluster.

Either way a trial is an ordinary run in the store. A local trial's worker records it itself; a Ray
trial is recorded by a thread of the driver (beside the store) from the items the task streams back.
The driver only starts trials, notices dead ones, and reads the store.
"""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Protocol

from core.runs import launcher
from core.runs.store import RunStore
from core.runs.supervisor import execute_run, launch_run, worker_alive
from core.runs.trial import TrialSource, run_trial
from core.status import RunStatus
from core.training.data import DEFAULT_DATA_DIR

DEFAULT_RAY_PORT = 6379
RAY_CLIENT_PORT = 10001  # where `ray start --head` serves Ray Client (ray:// addresses name it)


class RayUnreachable(RuntimeError):
    """No Ray cluster answers at the given address."""


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in one line when nothing listens at host:port, or ray://host:port for Ray Client, which has no
    default port (gRPC would dial 443); ray.init would retry for minutes."""
    if address == "auto":
        return
    host, port = host_and_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
        raise RayUnreachable(f"Ray is not reachable at {address} ({reason}): start a cluster there with "
                             "`ray start --head`, or check the address") from None


def host_and_port(address: str) -> tuple[str, int]:
    """A cluster's host:port (port DEFAULT_RAY_PORT if none), or a Ray Client's ray://host:port; an IPv6
    host in brackets."""
    client = address.startswith("ray://")
    target = address.removeprefix("ray://")
    host, colon, port = target.rpartition(":") if target.rfind(":") > target.rfind("]") else (target, "", "")
    if not colon and not client:
        port = str(DEFAULT_RAY_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        example = f"ray://127.0.0.1:{RAY_CLIENT_PORT}" if client else f"127.0.0.1:{DEFAULT_RAY_PORT}"
        raise RayUnreachable(f"Ray's address {address} does not end in a port number from 1 to 65535 (give "
                             f"{'ray://host:port' if client else 'host:port'}, for example {example})")
    return host.removeprefix("[").removesuffix("]"), int(port)


def use_token_if_present() -> None:
    """Send this machine's Ray token when joining a cluster; call it before Ray is imported.

    A head started by `ray start` (Ray 2.60) turns token authentication on by itself when it finds a
    token file, while a driver joining it does not, and is refused as unauthenticated. Ray reads the
    mode once, when it is imported. An explicit RAY_AUTH_MODE is left as the user set it.
    """
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"


class Executor(Protocol):
    def start(self, run_id: str) -> None: ...

    def adopt(self, run_id: str) -> bool:
        """Watch a run that a previous driver started; False if this executor cannot reach it."""

    def check(self) -> None:
        """Mark this executor's trials whose worker is gone as interrupted."""

    def close(self) -> None: ...


class LocalExecutor:
    """One detached worker process per trial: it survives its driver, so a killed driver loses nothing."""

    def __init__(self, runs: RunStore, data_dir: Path | str):
        self.runs, self.data_dir = runs, data_dir
        self.watched: set[str] = set()
        launcher.use_fork_server()  # a sweep starts many workers: each starts with torch imported

    def start(self, run_id: str) -> None:
        launch_run(self.runs, run_id, self.data_dir)
        self.watched.add(run_id)

    def adopt(self, run_id: str) -> bool:
        run = self.runs.get_run(run_id)
        if run.status == RunStatus.QUEUED and not worker_alive(run):
            self.start(run_id)  # the previous driver died before its worker took the run
        else:
            self.watched.add(run_id)  # watched by its pid, as every trial's worker is
        return True

    def check(self) -> None:
        for run_id in list(self.watched):
            run = self.runs.get_run(run_id)
            if worker_alive(run):
                continue
            if run.is_active:  # a worker that finished its run has set a final status first
                self.runs.mark_interrupted(run_id, "the worker process ended without finishing the run")
            self.watched.discard(run_id)

    def close(self) -> None:
        self.check()


class RayExecutor:
    """Each trial a Ray streaming-generator task; a driver thread records what it streams back."""

    def __init__(self, runs: RunStore, data_dir: Path | str | None, address: str, cpus_per_trial: float = 1.0,
                 trial: TrialSource = run_trial):
        if address:
            use_token_if_present()
        from core.sweeps import remote  # Ray is imported only by sweeps that use it

        self.remote = remote
        self.runs, self.cpus, self.trial, self.shipped = runs, cpus_per_trial, trial, bool(address)
        # a node reads the MNIST shipped with the code unless another folder was named
        self.data_dir = None if data_dir is None or Path(data_dir) == DEFAULT_DATA_DIR else data_dir
        self.started_ray = remote.connect(address)
        self.flags = remote.new_stop_flags()
        self.threads: dict[str, threading.Thread] = {}

    def start(self, run_id: str) -> None:
        source = self.remote.RaySource(self.flags, run_id, self.cpus, self.data_dir, self.shipped, self.trial)
        thread = threading.Thread(target=execute_run, args=(self.runs, run_id), daemon=True,
                                  kwargs={"source": source}, name=f"record-{run_id}")
        self.threads[run_id] = thread
        thread.start()

    def adopt(self, run_id: str) -> bool:
        run = self.runs.get_run(run_id)
        if run.status == RunStatus.QUEUED:
            self.start(run_id)
            return True
        return False  # its task died with the driver that owned it

    def check(self) -> None:
        for run_id, thread in list(self.threads.items()):
            if not thread.is_alive():
                self.threads.pop(run_id)

    def close(self) -> None:
        for thread in self.threads.values():
            thread.join(timeout=30)
        self.remote.disconnect(self.started_ray)
