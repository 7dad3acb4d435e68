"""Shared fixtures: a run store in a temporary folder and the tiny synthetic dataset."""
from __future__ import annotations

import os
from pathlib import Path

# The suite runs the app server, Chromium, workers, CLI runs and itself on a few cores. torch's OpenMP
# threads spin-wait for each other whenever another process holds a core, which once made a one-epoch
# MLP ten times slower: every process of the session trains on one thread (set before torch starts,
# and inherited by every process the tests start).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

from core.config import RunConfig
from core.runs import launcher
from core.runs.store import RunStore
from core.training.data import build_datasets, synthetic_uint8
from tests import app_server
from tests.browser.browser_session import (  # noqa: F401 - one Chromium for the session, browser and reliability tests
    app_url,
    browser,
    page,
    pytest_runtest_makereport,
    screenshot,
    train_run,
)


def pytest_sessionstart(session) -> None:
    # workers, sweep drivers and evaluations start from a fork server with torch imported, as the app's do
    launcher.use_fork_server()


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture(scope="session")
def synthetic_arrays() -> dict[str, torch.Tensor]:
    return synthetic_uint8()


# A run no machine finishes while a test watches it: 100 epochs of 5,000 MNIST images, one image per
# step (500,000 steps, a minute or more even at 0.1 ms a step). An epoch takes a few seconds here, so
# epoch checkpoints come soon. Tests that stop, kill, freeze or delete a running run use it, so the
# run is still going when they act, whatever the machine's speed.
ENDLESS = RunConfig(model="mlp", dataset="mnist", epochs=100, batch_size=1, train_samples=5000, val_size=1000,
                    device="cpu")


@pytest.fixture
def endless_config() -> RunConfig:
    return ENDLESS


@pytest.fixture
def tiny_config() -> RunConfig:
    return RunConfig(model="mlp", dataset="synthetic", epochs=2, batch_size=32, val_size=100)


@pytest.fixture
def tiny_data(synthetic_arrays, tiny_config):
    return build_datasets(synthetic_arrays, tiny_config.val_size, tiny_config.seed)


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    """The runs folder of the session's app server."""
    return tmp_path_factory.mktemp("app-runs")


@pytest.fixture(scope="session")
def app(runs_dir: Path):
    """The session's one app server, started on first use (browser and reliability tests share it)."""
    server = app_server.start(runs_dir)
    yield server
    app_server.stop(server)
