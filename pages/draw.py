"""Draw: a digit on a canvas, preprocessed like MNIST, and what the chosen models make of it."""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.insight.inference import predict
from core.insight.picks import rank_for_drawing
from core.insight.preprocess import DrawingTooSmall, EmptyDrawing, mnist_image, to_tensor
from core.runs.records import Run
from core.runs.store import RunStore
from core.training.checkpoints import CheckpointError
from ui.charts import image_figure, probability_figure
from ui.common import get_store, route_through_app, run_label, store_guard
from ui.models import best_model, runs_with_checkpoints
from ui.text import markdown_text

CANVAS_PX = 280
STROKE_PX = 20
MAX_SHOWN = 4
# not widgets' keys: they outlive this page, for the Inside page
SEEN_KEY, CHOSEN_KEY = "draw_seen_image", "draw_chosen_runs"


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


def choose_runs(runs: list[Run]) -> list[Run]:
    """Pick up to MAX_SHOWN runs; the linked ones, or the one best suited to drawn digits, to start with."""
    by_id = {run.id: run for run in runs}
    ranked = rank_for_drawing(runs)
    # a link may name the runs to start with (?run=ID, from the Sweeps page, say)
    linked = [run_id for run_id in st.query_params.get_all("run") if run_id in by_id][:MAX_SHOWN]
    chosen = st.multiselect("Models", list(by_id), default=linked or [ranked[0].id], max_selections=MAX_SHOWN,
                            format_func=lambda i: run_label(by_id[i]), key="draw_runs")
    return [by_id[i] for i in chosen]


def show_prediction(store: RunStore, run: Run, image: np.ndarray) -> None:
    """One model's answer: top class, confidence, probability bars and saliency; a bad model's error
    stays in its own column."""
    try:
        model = best_model(store, run)
    except (CheckpointError, OSError, ValueError) as err:
        st.error(f"Cannot load {markdown_text(repr(run.name))}: {markdown_text(err)}", icon=":material/error:")
        return
    prediction = predict(model, to_tensor(image))
    st.metric(markdown_text(run.name), prediction.label, f"{prediction.confidence:.1%} confident", delta_color="off",
              delta_arrow="off")
    if prediction.low_confidence:
        st.warning("Low confidence: this may not look like a digit to the model.", icon=":material/help:")
    st.plotly_chart(probability_figure(prediction.probabilities), key=f"draw_probs_{run.id}")
    st.plotly_chart(image_figure(image, np.asarray(prediction.saliency), "Saliency (top class)"),
                    key=f"draw_saliency_{run.id}")


def show_predictions(store: RunStore, image: np.ndarray, runs: list[Run]) -> None:
    """The chosen models' answers for a 28x28 image in [0, 1], side by side."""
    for column, run in zip(st.columns(max(len(runs), 1)), runs):
        with column:
            show_prediction(store, run, image)


def draw_page() -> None:
    """The canvas beside the chosen models' answers."""
    store = get_store()
    candidates = runs_with_checkpoints(store)
    pad, results = st.columns([1, 2], gap="large")
    with pad:
        seen = seen_image(drawing())
        st.session_state[SEEN_KEY] = seen  # the Inside page looks inside the models with it
        if seen is not None:
            st.plotly_chart(image_figure(seen, title="What the model sees (28x28)", height=240), key="draw_seen")
    with results:
        if not candidates:
            st.info("No trained model yet: train an image model on the Train page first.", icon=":material/info:")
        elif seen is None:
            choose_runs(candidates)
            st.info("Draw a digit on the canvas to see what the models predict.", icon=":material/draw:")
        else:
            chosen = choose_runs(candidates)
            st.session_state[CHOSEN_KEY] = [run.id for run in chosen]
            show_predictions(store, seen, chosen)
            st.page_link("pages/inside.py", label="Look inside these models", icon=":material/neurology:")


route_through_app()
st.header("Draw", divider="gray")
st.caption("Models trained on images only. A model trained on a CSV predicts a row on the Runs page "
           "(select the run, then the 'Predict a row' tab).")
with store_guard("draw"):
    draw_page()
