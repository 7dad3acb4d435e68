"""Shared fixtures: a run store in a temporary folder and the tiny synthetic dataset."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import RunConfig  # noqa: E402
from core.data import build_datasets, synthetic_uint8  # noqa: E402
from core.store import RunStore  # noqa: E402


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture(scope="session")
def synthetic_arrays() -> dict[str, torch.Tensor]:
    return synthetic_uint8()


@pytest.fixture
def tiny_config() -> RunConfig:
    return RunConfig(model="mlp", dataset="synthetic", epochs=2, batch_size=32, val_size=100)


@pytest.fixture
def tiny_data(synthetic_arrays, tiny_config):
    return build_datasets(synthetic_arrays, tiny_config.val_size, tiny_config.seed)
