"""Issue 6, case 9: canvas input that is empty, all white, noise, or a single dot. No crash, and an
honest answer: an empty canvas is refused as "nothing drawn" (no made-up digit); anything else gets
the model's own probabilities, finite and summing to 1, with low confidence flagged as such."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import RunConfig
from core.insight.inference import LOW_CONFIDENCE, predict
from core.insight.preprocess import DrawingTooSmall, EmptyDrawing, mnist_image, preprocess, to_tensor
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.training.checkpoints import load_model

SIZE = 280  # the Draw page's canvas: RGBA, white ink on an opaque black background


def canvas(ink: np.ndarray) -> np.ndarray:
    """An RGBA canvas as the page receives it, from a (280, 280) ink level in 0-255."""
    image = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
    image[..., :3] = ink[..., None]
    image[..., 3] = 255
    return image


def dot(row: int, col: int) -> np.ndarray:
    ink = np.zeros((SIZE, SIZE), dtype=np.uint8)
    ink[row, col] = 255
    return canvas(ink)


rng = np.random.default_rng(0)
EMPTY = {
    "empty": canvas(np.zeros((SIZE, SIZE), np.uint8)),
    "transparent": np.zeros((SIZE, SIZE, 4), np.uint8),
    "faint noise": canvas(rng.integers(0, 20, (SIZE, SIZE), dtype=np.uint8)),
}
DRAWN = {
    "all white": canvas(np.full((SIZE, SIZE), 255, np.uint8)),
    "noise": canvas(rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)),
    "sparse noise": canvas((rng.random((SIZE, SIZE)) < 0.02).astype(np.uint8) * 255),
}
DOTS = {
    "single dot": dot(140, 140),
    "single dot in a corner": dot(0, SIZE - 1),
    "one faint grey dot": canvas(np.pad(np.full((1, 1), 40, np.uint8), ((7, SIZE - 8), (9, SIZE - 10)))),
    "a stroke-wide blob": canvas(np.pad(np.full((20, 20), 255, np.uint8), ((130, 130), (130, 130)))),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> torch.nn.Module:
    store = RunStore(tmp_path_factory.mktemp("canvas") / "runs")
    run_id = store.create_run(RunConfig(model="mlp", dataset="synthetic", epochs=2, batch_size=32, val_size=100,
                                        device="cpu"))
    assert execute_run(store, run_id) == "finished"
    return load_model(store.checkpoint_path(run_id, "best"))[0]


@pytest.mark.parametrize("label", EMPTY)
def test_an_empty_canvas_is_refused_as_nothing_drawn(label):
    with pytest.raises(EmptyDrawing, match="nothing drawn"):
        preprocess(EMPTY[label])
    with pytest.raises(EmptyDrawing):
        mnist_image(EMPTY[label])  # what the Draw page calls: it then asks for a drawing


@pytest.mark.parametrize("label", DOTS)
def test_a_dot_is_not_blown_up_into_a_digit(label):
    # scaled to fill the 20x20 box, a dot would look like a white block: say so instead
    with pytest.raises(DrawingTooSmall, match="too small to read .* draw the digit larger"):
        mnist_image(DOTS[label])


@pytest.mark.parametrize("label", DRAWN)
def test_odd_drawings_get_the_models_own_finite_answer(model, label):
    seen = mnist_image(DRAWN[label])
    assert seen.shape == (28, 28) and np.isfinite(seen).all()
    assert seen.min() >= 0.0 and seen.max() <= 1.0 and seen.sum() > 0  # the ink is still there
    tensor = to_tensor(seen)
    prediction = predict(model, tensor)
    with torch.no_grad():
        direct = model(tensor).softmax(1)[0]  # the answer computed here, independently
    probabilities = np.array(prediction.probabilities)
    assert probabilities.shape == (10,) and np.isfinite(probabilities).all()
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(probabilities, direct.numpy(), atol=1e-6)
    assert prediction.label == int(direct.argmax()) and prediction.confidence == pytest.approx(float(direct.max()))
    assert prediction.low_confidence == (prediction.confidence < LOW_CONFIDENCE)
    saliency = np.array(prediction.saliency)
    assert saliency.shape == (28, 28) and np.isfinite(saliency).all()
    assert saliency.min() >= 0.0 and saliency.max() <= 1.0


def test_the_grey_and_float_forms_of_a_canvas_give_the_same_answer(model):
    ink = DRAWN["sparse noise"][..., 0]
    forms = [DRAWN["sparse noise"], ink, ink.astype(np.float32) / 255.0]
    answers = [predict(model, preprocess(form)).probabilities for form in forms]
    assert np.allclose(answers[0], answers[1]) and np.allclose(answers[0], answers[2])
