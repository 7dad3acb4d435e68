"""Sweep tests' fixtures: a run store whose trial workers are ended after each test, one real local Ray."""
from __future__ import annotations

import os
import signal

import pytest

from core.runs.store import RunStore
from core.runs.supervisor import worker_alive
from core.status import ACTIVE


@pytest.fixture
def sweep_store(tmp_path):
    store = RunStore(tmp_path / "runs")
    yield store
    # a failed test must not leave trial workers behind
    for run in store.list_runs():
        if run.status in ACTIVE and worker_alive(run) and run.pid != os.getpid():
            os.kill(run.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def ray_session():
    """One real local Ray instance for the whole test session (never local_mode, which Ray removed)."""
    import ray

    ray.init(address="local", num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    yield ray
    ray.shutdown()
