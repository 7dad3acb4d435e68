"""Trained models for the pages that use them (Draw, Inside): which runs have one, loaded once and shared."""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from torch import nn

from core.runs.final_test import Checkpoint, last_good_checkpoint
from core.runs.records import Run
from core.runs.store import RunStore
from core.training.checkpoints import load_model
from ui.common import list_runs

IMAGE_DATASETS = ("mnist", "synthetic")  # models that take a 28x28 image


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def cached_model(path: str, mtime: float) -> nn.Module:
    """A checkpoint's model in eval mode, loaded once per file version (mtime) and shared."""
    return load_model(path)[0]


def checkpoint_model(checkpoint: Checkpoint) -> nn.Module:
    """A checkpoint's model (CheckpointError or OSError if it cannot be loaded)."""
    return cached_model(str(checkpoint.path), checkpoint.path.stat().st_mtime)


def runs_with_checkpoints(store: RunStore) -> dict[str, tuple[Run, Checkpoint]]:
    """Runs on 28x28 images with weights to predict with (the best epoch's, or those a stopped run ended
    with), newest first: one choice for Draw and Inside (Inside took best checkpoints alone, and dropped a
    model Draw had shown when it was followed there)."""
    found = {run.id: (run, last_good_checkpoint(store, run.id)) for run in list_runs(store)
             if run.config.csv is None and run.config.dataset in IMAGE_DATASETS}
    return {run_id: (run, checkpoint) for run_id, (run, checkpoint) in found.items() if checkpoint is not None}


def distinct_names(runs: Sequence[Run]) -> dict[str, str]:
    """Each run's name by id, with its model and id's tail where two of the runs share a name: 'ctrlc (mlp,
    3f2a1b)' (the Draw picker showed 'ctrlc' twice, and hid one while the other was picked). Runs, Draw and
    Inside name runs so."""
    names = [run.name for run in runs]
    return {run.id: f"{run.name} ({run.config.model}, {run.id[-6:]})" if names.count(run.name) > 1 else run.name
            for run in runs}


def model_labels(runs: Sequence[Run]) -> dict[str, str]:
    """Each model's label by run id, for the Draw and Inside pickers and answers: its distinct name, and a note
    for a model that never saw a digit."""
    return {run_id: name + digit_note(run) for (run_id, name), run in zip(distinct_names(runs).items(), runs)}


def digit_note(run: Run) -> str:
    """' (bars, not digits)' after the name of a model that never saw a digit, else nothing."""
    return " (bars, not digits)" if run.config.dataset == "synthetic" else ""
