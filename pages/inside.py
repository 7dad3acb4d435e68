"""Inside: what the chosen models compute for one input, side by side: class evidence by three methods,
every layer's output, the first layer's weights (for an MLP: its hidden units)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.insight.inside import InsideView, look_inside
from core.insight.picks import rank_for_drawing
from core.insight.preprocess import to_tensor
from core.runs.final_test import Checkpoint
from core.runs.records import Run
from core.runs.store import RunStore
from core.training.checkpoints import CheckpointError
from ui.charts import probability_figure
from ui.common import get_store, route_through_app, store_guard
from ui.insight import crisp, evidence_legend, show_evidence, show_first_layer, show_layers, test_images, test_labels
from ui.models import checkpoint_model, model_labels, runs_with_checkpoints
from ui.text import markdown_text

MAX_SHOWN = 3
SOURCES = ("Drawn digit", "Test image", "Misclassified")
# set by the Draw page
SEEN_KEY, CHOSEN_KEY = "draw_seen_image", "draw_chosen_runs"


def choose_runs(runs: list[Run], labels: dict[str, str]) -> list[Run]:
    """Up to MAX_SHOWN models; those chosen on the Draw page, or the best for drawn digits, to start with."""
    by_id = {run.id: run for run in runs}
    default = [i for i in st.session_state.get(CHOSEN_KEY, []) if i in by_id][:MAX_SHOWN]
    chosen = st.multiselect("Models", list(by_id), default=default or [rank_for_drawing(runs)[0].id],
                            max_selections=MAX_SHOWN, key="inside_runs",
                            format_func=labels.__getitem__)
    return [by_id[i] for i in chosen]


def drawn_input() -> tuple[np.ndarray, str] | None:
    seen = st.session_state.get(SEEN_KEY)
    if seen is None:
        st.info("Nothing drawn yet: draw a digit on the Draw page, then come back.", icon=":material/draw:")
        st.page_link("pages/draw.py", label="Go to Draw", icon=":material/draw:")
        return None
    return seen, "the digit drawn on the Draw page"


def test_input() -> tuple[np.ndarray, str]:
    images = test_images("mnist")
    index = st.number_input("Test image", 0, len(images) - 1, 0, key="inside_test_index",
                            help=f"MNIST test images are numbered 0 to {len(images) - 1:,}")
    return images[index] / 255.0, f"MNIST test image #{index} (a {test_labels('mnist')[index]})"


def misclassified_input(store: RunStore, runs: list[Run]) -> tuple[np.ndarray, str] | None:
    """One of a chosen run's misclassified test images, from its gallery."""
    tested = [store.get_run(run.id) for run in runs if run.config.dataset == "mnist"]
    tested = [run for run in tested if run.evaluation and run.evaluation.misclassified]
    if not tested:
        st.info("None of the chosen models has misclassified MNIST test images on record.", icon=":material/info:")
        return None
    left, right = st.columns(2)
    by_id = {run.id: run for run in tested}
    run = by_id[left.selectbox("Misclassified by", list(by_id), format_func=lambda i: by_id[i].name,
                               key="inside_wrong_run")]
    wrong = run.evaluation.misclassified[:100]
    pick = right.selectbox("Image", range(len(wrong)), key="inside_wrong_pick", format_func=lambda i: (
        f"#{wrong[i].index}: true {wrong[i].label}, read as {wrong[i].predicted} ({wrong[i].confidence:.0%})"))
    chosen = wrong[min(pick, len(wrong) - 1)]
    return test_images("mnist")[chosen.index] / 255.0, f"MNIST test image #{chosen.index} (a {chosen.label})"


def choose_input(store: RunStore, runs: list[Run]) -> tuple[np.ndarray, str] | None:
    """The 28x28 image in [0, 1] to look at, and what it is."""
    source = st.segmented_control("Input", SOURCES, default=SOURCES[0], required=True, key="inside_source")
    if source == "Drawn digit":
        return drawn_input()
    if source == "Test image":
        return test_input()
    return misclassified_input(store, runs)


def views(checkpoints: dict[str, tuple[Run, Checkpoint]], runs: list[Run], image: np.ndarray,
          target: int | None) -> list[InsideView | str]:
    """Each model's view of the image; where its checkpoint cannot be loaded, why (said in its column)."""
    result: list[InsideView | str] = []
    for run in runs:
        try:
            result.append(look_inside(checkpoint_model(checkpoints[run.id][1]), to_tensor(image), target))
        except (CheckpointError, OSError) as err:
            result.append(f"Cannot load {markdown_text(repr(run.name))}: {markdown_text(err)}")
    return result


def side_by_side(runs: list[Run], labels: dict[str, str], shown: list[InsideView | str], render) -> None:
    """One column per model, each with its name over what `render(view, width)` draws, or why it cannot."""
    width = {1: 420, 2: 360}.get(len(runs), 300)
    for column, run, view in zip(st.columns(len(runs)), runs, shown):
        with column:
            # st.text: a run's name is the user's text, shown as typed, never as markup
            name = labels[run.id]  # a model that never saw a digit reads digits all the same
            if isinstance(view, str):
                st.text(name)
                st.error(view, icon=":material/error:")
            else:
                st.text(f"{name}: reads {view.label} ({view.probabilities[view.label]:.1%})")
                render(view, width)


route_through_app()
st.header("Inside", divider="gray")
with store_guard("inside"):
    store = get_store()
    candidates = runs_with_checkpoints(store)
if not candidates:
    st.info("No trained model yet: train one on the Train page first.", icon=":material/info:")
    st.stop()
labels = model_labels([run for run, _ in candidates.values()])
chosen = choose_runs([run for run, _ in candidates.values()], labels)
picked = choose_input(store, chosen) if chosen else None
if picked is not None:
    image, what = picked
    left, right = st.columns([1, 3])
    left.image(crisp(image, 196), caption=f"Input (28x28): {what}", clamp=True, output_format="PNG")
    target = right.selectbox("Evidence for", [None, *range(10)], key="inside_target",
                             format_func=lambda d: "each model's answer" if d is None else f"digit {d}")
    shown = views(candidates, chosen, image, target)
    with right:
        side_by_side(chosen, labels, shown, lambda view, width: st.plotly_chart(
            probability_figure(view.probabilities, height=160), key=f"inside_probs_{id(view)}"))
    evidence, layers, first = st.tabs(["Class evidence", "Every layer", "First layer"])
    with evidence:
        evidence_legend()
        side_by_side(chosen, labels, shown, lambda view, width: show_evidence(view, image, width))
    with layers:
        st.caption("Each layer's output for this input, in the order the layers run; each map is scaled to its "
                   "own range (light: high). Fully connected layers show one cell per unit.")
        side_by_side(chosen, labels, shown, show_layers)
    with first:
        side_by_side(chosen, labels, shown, show_first_layer)
