"""Trained models for the pages that use them (Draw, Inside): which runs have one, loaded once and shared."""
from __future__ import annotations

import streamlit as st
from torch import nn

from core.runs.records import Run
from core.runs.store import RunStore
from core.training.checkpoints import load_model
from ui.common import list_runs

IMAGE_DATASETS = ("mnist", "synthetic")  # models that take a 28x28 image


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def cached_model(path: str, mtime: float) -> nn.Module:
    """A checkpoint's model in eval mode, loaded once per file version (mtime) and shared."""
    return load_model(path)[0]


def best_model(store: RunStore, run: Run) -> nn.Module:
    """The run's best checkpoint's model (CheckpointError or OSError if it cannot be loaded)."""
    path = store.checkpoint_path(run.id, "best")
    return cached_model(str(path), path.stat().st_mtime)


def runs_with_checkpoints(store: RunStore) -> list[Run]:
    """Runs on 28x28 images that have a best checkpoint to predict with, newest first."""
    return [run for run in list_runs(store)
            if run.config.dataset in IMAGE_DATASETS and store.checkpoint_path(run.id, "best").exists()]


def digit_note(run: Run) -> str:
    """' (bars, not digits)' after the name of a model that never saw a digit, else nothing."""
    return " (bars, not digits)" if run.config.dataset == "synthetic" else ""
