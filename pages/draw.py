"""Draw: a digit on a canvas, preprocessed like MNIST, and what the chosen models make of it."""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.insight.inference import LOW_CONFIDENCE, Prediction, predict
from core.insight.picks import rank_for_drawing
from core.insight.preprocess import DrawingTooSmall, EmptyDrawing, mnist_image, to_tensor
from core.insight.typical import unlike_a_digit
from core.runs.final_test import Checkpoint, lost_checkpoints
from core.runs.records import Run
from core.runs.store import RunNotFound
from core.training.checkpoints import CheckpointError
from ui.charts import image_figure, probability_figure, run_color
from ui.common import get_store, route_through_app, store_guard
from ui.layout import split
from ui.models import checkpoint_model, distinct_names, model_labels, runs_with_checkpoints
from ui.text import markdown_text

CANVAS_PX = 280
STROKE_PX = 20
MAX_SHOWN = 4
SEEN_KEY, CHOSEN_KEY = "draw_seen_image", "draw_chosen_runs"  # what the Inside page looks inside with


def clear_canvas() -> None:
    """A new key gives a new, empty canvas."""
    st.session_state["draw_canvas_version"] = st.session_state.get("draw_canvas_version", 0) + 1


def drawing() -> np.ndarray | None:
    """The canvas, and its RGBA pixels (280, 280, 4) once something was drawn."""
    version = st.session_state.get("draw_canvas_version", 0)
    st.space("small")  # room for the canvas's toolbar, which floats above it
    result = st_canvas(stroke_width=STROKE_PX, stroke_color="#ffffff", background_color="#000000",
                       height=CANVAS_PX, width=CANVAS_PX, drawing_mode="freedraw", return_image_data=True,
                       key=f"draw_canvas_{version}")
    st.button("Clear", on_click=clear_canvas, icon=":material/ink_eraser:", key="draw_clear")
    st.caption("Draw one digit, large, in white on black; the models see it as MNIST would.")
    return result.image_data


def seen_image(pixels: np.ndarray | None) -> np.ndarray | None:
    """The drawing as the 28x28 image a model sees, or None while there is nothing to read."""
    try:
        return None if pixels is None else mnist_image(pixels)
    except DrawingTooSmall as err:
        st.warning(str(err).capitalize(), icon=":material/zoom_in:")
    except EmptyDrawing:
        pass
    return None


def unshown_reason(run_id: str) -> str:
    """Why a linked run is not among the models to draw for."""
    try:
        run = get_store().get_run(run_id)
    except RunNotFound:
        return "is not in the run store (deleted, or a link from another one)"
    if run.config.csv is not None:
        return f"{run.name!r} was trained on a table, not on images: predict a row of it on the Runs page"
    lost = lost_checkpoints(get_store(), run)
    return f"{run.name!r} has no weights to predict with ({lost or 'it diverged or stopped before a checkpoint'})"


def choose_runs(runs: list[Run], labels: dict[str, str]) -> list[Run]:
    """Pick up to MAX_SHOWN runs; the linked ones, or the one best suited to drawn digits, to start with."""
    by_id = {run.id: run for run in runs}
    ranked = rank_for_drawing(runs)
    # a link may name the runs to start with (?run=ID, from the Sweeps page, say)
    asked = st.query_params.get_all("run")
    linked = [run_id for run_id in asked if run_id in by_id][:MAX_SHOWN]
    if asked and not linked:  # the link's runs cannot draw here: say why, not show another silently
        st.info(markdown_text(f"The linked run {unshown_reason(asked[0])}; showing another model instead."),
                icon=":material/info:")
    chosen = st.multiselect("Models", list(by_id), default=linked or [ranked[0].id], max_selections=MAX_SHOWN,
                            format_func=labels.__getitem__, key="draw_runs")
    return [by_id[i] for i in chosen]


def prediction_of(run: Run, checkpoint: Checkpoint, image: np.ndarray) -> Prediction | str:
    """One model's answer for the image, or why its checkpoint cannot give one."""
    try:
        model = checkpoint_model(checkpoint)
    except (CheckpointError, OSError, ValueError) as err:
        return f"Cannot load {run.name!r}: {err}"
    return predict(model, to_tensor(image))


def show_prediction(run: Run, name: str, checkpoint: Checkpoint, prediction: Prediction | str,
                    image: np.ndarray) -> None:
    """One model's answer: top class, confidence, probability bars in the run's colour, and saliency."""
    if isinstance(prediction, str):
        st.error(markdown_text(prediction), icon=":material/error:")
        return
    st.metric(markdown_text(name), prediction.label,
              f"{prediction.confidence:.1%} confident", delta_color="off", delta_arrow="off")
    if checkpoint.which != "best" or run.config.dataset == "synthetic":
        trained = "trained on synthetic bars, not digits" if run.config.dataset == "synthetic" else ""
        st.caption(markdown_text("; ".join(part for part in (
            checkpoint.describe(run) if checkpoint.which != "best" else "", trained) if part).capitalize()))
    st.plotly_chart(probability_figure(prediction.probabilities, run_color(run.id)), key=f"draw_probs_{run.id}")
    st.plotly_chart(image_figure(image, np.asarray(prediction.saliency), "Saliency (top class)"),
                    key=f"draw_saliency_{run.id}")


def doubts(image: np.ndarray, answers: list[tuple[Run, Prediction | str]]) -> str | None:
    """One warning for the drawing, the same whichever models are shown: the drawing is unlike a
    digit, or some model is unsure of its answer."""
    reasons = []
    if (unlike := unlike_a_digit(image)) is not None:
        reasons.append(f"this may not be read as a digit: {unlike}")
    unsure = [run.name for run, answer in answers if isinstance(answer, Prediction) and answer.low_confidence]
    if unsure:
        reasons.append(f"{', '.join(repr(name) for name in unsure)} {'is' if len(unsure) == 1 else 'are'} "
                       f"unsure (below {LOW_CONFIDENCE:.0%})")
    text = "; ".join(reasons)
    return text[:1].upper() + text[1:] + "." if reasons else None  # capitalize() would lower 'MNIST'


def show_predictions(candidates: dict[str, tuple[Run, Checkpoint]], names: dict[str, str], image: np.ndarray,
                     runs: list[Run]) -> None:
    """The chosen models' answers for a 28x28 image in [0, 1], side by side, under one warning if any."""
    answers = [(run, prediction_of(run, candidates[run.id][1], image)) for run in runs]
    if (warning := doubts(image, answers)) is not None:
        st.warning(markdown_text(warning), icon=":material/help:")
    with st.container(horizontal=True, gap="medium", key="draw_answers"):
        for run, answer in answers:
            with st.container(key=f"draw_answer_{run.id}", width=300):
                show_prediction(run, names[run.id], candidates[run.id][1], answer, image)


def draw_page() -> None:
    """The canvas beside the chosen models' answers; the drawing and the models kept for the Inside page."""
    candidates = runs_with_checkpoints(get_store())
    pad, results = split("draw")
    with pad:
        seen = seen_image(drawing())
        st.session_state[SEEN_KEY] = seen
        if seen is not None:
            st.plotly_chart(image_figure(seen, title="What the model sees (28x28)", height=240), key="draw_seen")
    with results:
        runs = [run for run, _ in candidates.values()]
        labels = model_labels(runs)
        if not candidates:
            st.info("No trained model yet: train an image model on the Train page first.", icon=":material/info:")
        elif seen is None:
            choose_runs(runs, labels)
            st.info("Draw a digit on the canvas to see what the models predict.", icon=":material/draw:")
        else:
            chosen = choose_runs(runs, labels)
            st.session_state[CHOSEN_KEY] = [run.id for run in chosen]
            if not chosen:
                st.info("Pick one or more models above to see what they predict.", icon=":material/info:")
                return
            show_predictions(candidates, distinct_names(runs), seen, chosen)  # the caption says "bars"
            st.page_link("pages/inside.py", label="Look inside these models", icon=":material/neurology:")


route_through_app()
st.header("Draw", divider="gray")
st.caption("Models trained on images only. A model trained on a CSV predicts a row on the Runs page "
           "(select the run, then the 'Predict a row' tab).")
with store_guard("draw"):
    draw_page()
