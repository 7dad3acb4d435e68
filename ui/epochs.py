"""Runs page: each epoch's validation confusion matrix on a slider, and the digits whose prediction flipped."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from core.comparison.flips import KINDS, Side, count_kinds, flips
from core.runs.records import EpochValidation, Run
from core.runs.store import RunStore
from core.training.data import DataError, load_validation_images
from ui.charts import confusion_figure
from ui.text import markdown_text

GALLERY_SIZE = 30
MODES = {"epochs": "two epochs of this run", "runs": "this run and another"}


@st.cache_resource(show_spinner="Loading the validation images...", max_entries=8)
def validation_images(dataset: str, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's validation images (N, 28, 28) uint8, labels and training-image indices, shared read-only."""
    images, labels, indices = load_validation_images(dataset, val_size, seed)
    return images.numpy(), labels.numpy(), indices.numpy()


def side(run: Run, validation: EpochValidation) -> Side:
    _, labels, indices = validation_images(run.config.dataset, run.config.val_size, run.config.seed)
    return Side(indices, labels, validation.predictions)


def confusion_slider(run: Run, validations: Sequence[EpochValidation]) -> EpochValidation:
    """A slider over the epochs and that epoch's validation confusion matrix; returns the epoch shown."""
    by_epoch = {v.epoch: v for v in validations}
    epochs = list(by_epoch)
    epoch = epochs[0] if len(epochs) == 1 else st.select_slider(
        "Epoch", epochs, value=epochs[-1], key=f"runs_epoch_{run.id}")
    shown = by_epoch[epoch]
    correct = sum(shown.confusion[d][d] for d in range(10))
    total = sum(map(sum, shown.confusion))
    st.plotly_chart(confusion_figure(shown.confusion, f"Validation, epoch {epoch}: {correct:,} of {total:,} right"),
                    key="runs_epoch_confusion")
    return shown


def flip_sides(run: Run, shown: EpochValidation, validations: dict[str, list[EpochValidation]],
               runs: Sequence[Run]) -> tuple[Side, Side, str] | None:
    """The two sides to compare, as the user picks them, and a caption saying which they are."""
    mode = st.segmented_control("Flipped digits between", list(MODES), format_func=MODES.get,
                                key="runs_flip_mode", default="epochs", required=True)
    mine = validations[run.id]
    if mode == "epochs":
        if len(mine) < 2:
            st.caption("This run has one epoch of validation results: nothing to compare yet.")
            return None
        epochs = [v.epoch for v in mine]
        first, second = st.select_slider("Epochs", epochs, value=(epochs[0], epochs[-1]), key=f"runs_flips_{run.id}")
        by_epoch = {v.epoch: v for v in mine}
        return side(run, by_epoch[first]), side(run, by_epoch[second]), f"epoch {first} to epoch {second}"
    others = [other for other in runs if other.id != run.id and validations[other.id]
              and other.config.dataset == run.config.dataset]
    if not others:
        st.caption("Select another run with validation results on the same data to compare with.")
        return None
    names = {other.id: other.name for other in others}
    other_id = st.selectbox("Other run", list(names), format_func=names.get, key="runs_flip_other")
    theirs = validations[other_id]
    other = next(o for o in others if o.id == other_id)
    epochs = [v.epoch for v in theirs]
    epoch = st.select_slider("Its epoch", epochs, value=epochs[-1], key=f"runs_flip_other_epoch_{other_id}")
    after = side(other, next(v for v in theirs if v.epoch == epoch))
    return side(run, shown), after, f"this run at epoch {shown.epoch} to the other at epoch {epoch}"


def flips_gallery(run: Run, before: Side, after: Side, what: str) -> None:
    """How many digits changed and how, and the changed digits themselves."""
    changed, shared = flips(before, after)
    counts = count_kinds(changed)
    st.caption(f"{len(changed):,} of {shared:,} validation digits changed their prediction from {what}: "
               f"{counts['fixed']} fixed, {counts['broken']} broken, {counts['still wrong']} still wrong.")
    if not changed:
        return
    kind = st.segmented_control("Show", ["all", *KINDS], key="runs_flip_kind", default="all", required=True)
    picked = [flip for flip in changed if kind == "all" or flip.kind == kind][:GALLERY_SIZE]
    # every flipped digit is in both validation splits, so in this run's (the earlier side's)
    images, _, indices = validation_images(run.config.dataset, run.config.val_size, run.config.seed)
    position = {int(image): i for i, image in enumerate(indices)}
    st.image([images[position[flip.image]] for flip in picked], width=84,
             caption=[f"true {flip.label}: {flip.before} -> {flip.after}" for flip in picked])


def epochs_section(store: RunStore, runs: Sequence[Run]) -> None:
    """The validation confusion matrix per epoch, and the flipped digits, for one of the selected runs."""
    validations = {run.id: store.validations(run.id) for run in runs}
    validated = [run for run in runs if validations[run.id]]
    if not validated:
        st.info("None of the selected runs has per-epoch validation results: they come with runs trained by "
                "this version that have a validation set.", icon=":material/info:")
        return
    names = {run.id: run.name for run in validated}
    run_id = st.selectbox("Run", list(names), format_func=names.get, key="runs_epochs_run") \
        if len(validated) > 1 else validated[0].id
    run = next(r for r in validated if r.id == run_id)
    shown = confusion_slider(run, validations[run.id])
    try:
        sides = flip_sides(run, shown, validations, validated)
        if sides:
            flips_gallery(run, *sides)
    except DataError as err:
        st.error(f"Cannot show the validation digits: {markdown_text(err)}", icon=":material/broken_image:")
