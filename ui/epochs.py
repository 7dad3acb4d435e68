"""Runs page: each epoch's validation confusion matrix on a slider, and the digits whose prediction flipped.

Only the epochs shown are read from the store: a run keeps 5,000 bytes of predictions per epoch.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.comparison.flips import KINDS, Flip, Side, count_kinds, flips
from core.config import CsvData, class_names
from core.runs.records import EpochValidation, Run
from core.runs.store import RunStore
from core.training.data import DataError, load_validation_images
from core.training.tabular import load_table, validation_rows
from ui.charts import confusion_figure
from ui.table_runs import table_stamp
from ui.text import markdown_text

GALLERY_SIZE = 30
MODES = {"epochs": "two epochs of this run", "runs": "this run and another"}


@st.cache_resource(show_spinner="Loading the validation images...", max_entries=8)
def validation_images(dataset: str, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's validation images (N, 28, 28) uint8, labels and training-image indices, shared read-only."""
    images, labels, indices = load_validation_images(dataset, val_size, seed)
    return images.numpy(), labels.numpy(), indices.numpy()


def validation_table(tables_dir: str, csv_data: CsvData, val_size: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """A CSV run's validation rows: indices in its table, labels, and the file's rows."""
    return _validation_table(tables_dir, csv_data, val_size, seed, table_stamp(tables_dir, csv_data))


@st.cache_data(max_entries=8, show_spinner="Reading the run's table...")
def _validation_table(tables_dir: str, csv_data: CsvData, val_size: int, seed: int,
                      stamp: int | None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    frame, table = load_table(csv_data, Path(tables_dir))
    indices, labels, rows = validation_rows(frame, table, csv_data, val_size, seed)
    return indices.numpy(), labels.numpy(), rows


def examples(store: RunStore, run: Run) -> tuple[np.ndarray, np.ndarray]:
    """A run's validation examples as (indices in the dataset, labels): images' or a table's rows."""
    config = run.config
    if config.csv is not None:
        return validation_table(str(store.tables_dir), config.csv, config.val_size, config.seed)[:2]
    _, labels, indices = validation_images(config.dataset, config.val_size, config.seed)
    return indices, labels


def side(store: RunStore, run: Run, epoch: int) -> Side:
    """One run at one epoch, for comparing predictions."""
    indices, labels = examples(store, run)
    (validation,) = store.validations(run.id, [epoch])
    return Side(indices, labels, validation.predictions)


def same_data(run: Run, other: Run) -> bool:
    """Whether two runs' examples are numbered alike: the same image set, or the same table file."""
    if run.config.csv is None or other.config.csv is None:
        return run.config.dataset == other.config.dataset
    return run.config.csv.sha256 == other.config.csv.sha256


def epoch_slider(label: str, epochs: list[int], key: str) -> int:
    """An epoch picked on a slider, the last by default; no slider for a single epoch."""
    return epochs[0] if len(epochs) == 1 else st.select_slider(label, epochs, value=epochs[-1], key=key)


def confusion_at(run: Run, shown: EpochValidation) -> None:
    correct = sum(row[i] for i, row in enumerate(shown.confusion))
    total = sum(map(sum, shown.confusion))
    st.plotly_chart(confusion_figure(shown.confusion, f"Validation, epoch {shown.epoch}: {correct:,} of {total:,} "
                                     "right", classes=class_names(run.config)), key="runs_epoch_confusion")


def flip_sides(store: RunStore, run: Run, epoch: int, epochs: dict[str, list[int]],
               runs: Sequence[Run]) -> tuple[Side, Side, str] | None:
    """The two sides to compare, as the user picks them, and words saying which they are."""
    mode = st.segmented_control("Flipped digits between", list(MODES), format_func=MODES.get,
                                key="runs_flip_mode", default="epochs", required=True)
    if mode == "epochs":
        mine = epochs[run.id]
        if len(mine) < 2:
            st.caption("This run has one epoch of validation results: nothing to compare yet.")
            return None
        first, second = st.select_slider("Epochs", mine, value=(mine[0], mine[-1]), key=f"runs_flips_{run.id}")
        return side(store, run, first), side(store, run, second), f"epoch {first} to epoch {second}"
    others = {other.id: other for other in runs if other.id != run.id and same_data(run, other)}
    if not others:
        st.caption("Select another run with validation results on the same data to compare with.")
        return None
    other_id = st.selectbox("Other run", list(others), format_func=lambda i: others[i].name, key="runs_flip_other")
    theirs = epoch_slider("Its epoch", epochs[other_id], f"runs_flip_other_epoch_{other_id}")
    return (side(store, run, epoch), side(store, others[other_id], theirs),
            f"this run at epoch {epoch} to the other at epoch {theirs}")


def flips_gallery(store: RunStore, run: Run, before: Side, after: Side, what: str) -> None:
    """How many examples changed and how, and the changed examples themselves."""
    changed, shared = flips(before, after)
    counts = count_kinds(changed)
    st.caption(f"{len(changed):,} of {shared:,} validation examples changed their prediction from {what}: "
               f"{counts['fixed']} fixed, {counts['broken']} broken, {counts['still wrong']} still wrong.")
    if not changed:
        return
    kind = st.segmented_control("Show", ["all", *KINDS], key="runs_flip_kind", default="all", required=True)
    picked = [flip for flip in changed if kind == "all" or flip.kind == kind]
    if run.config.csv is not None:
        flipped_rows(store, run, picked)
        return
    # every flipped digit is in both validation splits, so in this run's (the earlier side's)
    images, _, indices = validation_images(run.config.dataset, run.config.val_size, run.config.seed)
    position = {int(image): i for i, image in enumerate(indices)}
    shown = picked[:GALLERY_SIZE]
    st.image([images[position[flip.image]] for flip in shown], width=84,
             caption=[f"true {flip.label}: {flip.before} -> {flip.after}" for flip in shown])


def flipped_rows(store: RunStore, run: Run, picked: list[Flip]) -> None:
    """A CSV run's flipped validation rows: the file's values, the true class and both predictions."""
    config = run.config
    indices, _, rows = validation_table(str(store.tables_dir), config.csv, config.val_size, config.seed)
    position = {int(index): i for i, index in enumerate(indices)}
    classes = config.csv.classes
    table = rows.iloc[[position[flip.image] for flip in picked]].copy()
    table.insert(0, "after", [classes[flip.after] for flip in picked])
    table.insert(0, "before", [classes[flip.before] for flip in picked])
    table.insert(0, "true", [classes[flip.label] for flip in picked])
    st.dataframe(table, width="stretch", key=f"runs_flipped_rows_{run.id}")


def epochs_section(store: RunStore, runs: Sequence[Run]) -> None:
    """The validation confusion matrix per epoch, and the flipped digits, for one of the selected runs."""
    epochs = {run.id: store.validated_epochs(run.id) for run in runs}
    validated = [run for run in runs if epochs[run.id]]
    if not validated:
        st.info("None of the selected runs has per-epoch validation results: they come with runs trained by "
                "this version that have a validation set.", icon=":material/info:")
        return
    names = {run.id: run.name for run in validated}
    run_id = st.selectbox("Run", list(names), format_func=names.get, key="runs_epochs_run") \
        if len(validated) > 1 else validated[0].id
    run = next(r for r in validated if r.id == run_id)
    epoch = epoch_slider("Epoch", epochs[run.id], f"runs_epoch_{run.id}")
    confusion_at(run, store.validations(run.id, [epoch])[0])
    try:
        sides = flip_sides(store, run, epoch, epochs, validated)
        if sides:
            flips_gallery(store, run, *sides)
    except DataError as err:
        what = "rows" if run.config.csv is not None else "digits"
        st.error(f"Cannot show the validation {what}: {markdown_text(err)}", icon=":material/broken_image:")
