"""Drawn-style digits: a skeleton redrawn with the canvas pen, then the Draw page's own preprocessing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.insight import drawn
from core.insight.drawn import CANVAS_PX, STROKE_PX, DrawnSet, drawn_accuracy, drawn_style, render_on_canvas
from core.insight.picks import rank_for_drawing
from core.insight.preprocess import mnist_image
from core.presets import PRESETS, preset_of
from core.runs.records import RunSummary
from core.runs.trial import DrawnStyleTested, Evaluated, run_trial
from core.training.data import read_idx
from core.training.decoded import CACHE_ENV
from tests.pages_helpers import finished_run, tiny_run_config


def thick_bar() -> np.ndarray:
    """A (28, 28) uint8 digit: a vertical bar 4 pixels wide, like a thick '1'."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255
    return digit


def test_a_stroke_is_redrawn_with_the_canvas_pen_at_its_width():
    canvas = render_on_canvas(thick_bar())
    assert canvas.shape == (CANVAS_PX, CANVAS_PX)
    (cols,) = np.nonzero(canvas[140] > 0)  # across the bar's middle: one pen width, whatever the MNIST width
    assert STROKE_PX - 2 <= len(cols) <= STROKE_PX + 2
    rows, _ = np.nonzero(canvas > 0)
    assert rows.min() >= 4 * 10 - STROKE_PX and rows.max() <= 24 * 10 + STROKE_PX  # round ends, not beyond


def test_drawn_style_is_the_draw_pages_preprocessing_of_the_rendering():
    digit = thick_bar()
    np.testing.assert_array_equal(drawn_style(digit), mnist_image(render_on_canvas(digit)))


def test_the_drawn_test_set_is_rendered_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    calls = []

    def fake_render(digits: torch.Tensor) -> torch.Tensor:
        calls.append(len(digits))
        return torch.rand(len(digits), 28, 28)

    monkeypatch.setattr(drawn, "render_all", fake_render)
    first = drawn.drawn_test_set()
    second = drawn.drawn_test_set()
    assert calls == [10_000] and len(list(tmp_path.glob("drawn-test-*.pt"))) == 1
    torch.testing.assert_close(first.images, second.images)
    assert first.labels.tolist()[:3] == [7, 2, 1]
    next(tmp_path.glob("drawn-test-*.pt")).write_bytes(b"damaged")
    drawn.drawn_test_set()
    assert calls == [10_000, 10_000]  # a damaged cache is rendered again


def test_the_first_test_digits_look_like_strokes_of_one_width():
    digits = read_idx(drawn.DEFAULT_DATA_DIR / "t10k-images-idx3-ubyte.gz")[:5]
    images = drawn.render_all(digits)
    assert images.shape == (5, 28, 28) and float(images.min()) >= 0 and float(images.max()) <= 1
    assert all(float(image.sum()) > 20 for image in images)  # every digit still has its ink


def test_drawn_accuracy_is_the_share_read_correctly():
    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.tensor([0.0, 5.0] + [0.0] * 8))

        def forward(self, x):
            return self.bias.expand(len(x), 10)

    labels = torch.tensor([1, 1, 1, 0])
    assert drawn_accuracy(Constant(), DrawnSet(torch.zeros(4, 28, 28), labels)) == pytest.approx(0.75)


def test_a_trial_on_other_data_has_no_drawn_style_accuracy():
    items = list(run_trial(tiny_run_config(epochs=1)))
    assert any(isinstance(item, Evaluated) for item in items)
    assert not any(isinstance(item, DrawnStyleTested) for item in items)


def test_the_drawn_preset_run_is_picked_first_for_drawn_digits(store):
    def summary(run_id: str, **values) -> None:
        store.set_summary(run_id, RunSummary(**values))

    synthetic = finished_run(store, "synthetic")
    assert preset_of(PRESETS["drawn"].config) == "drawn" and preset_of(tiny_run_config()) is None
    mnist = store.create_run(PRESETS["best"].config, name="best")
    preset = store.create_run(PRESETS["drawn"].config.__class__(**{**PRESETS["drawn"].config.to_dict(), "seed": 3}),
                              name="drawn seed 3")
    for run_id in (mnist, preset):
        store.finish(run_id, "finished")
    summary(mnist, test_accuracy=0.995, drawn_accuracy=0.99)
    summary(preset, test_accuracy=0.993, drawn_accuracy=0.98)
    ranked = [run.name for run in rank_for_drawing(store.list_runs())]
    assert ranked == ["drawn seed 3", "best", "synthetic"]
    assert store.get_run(synthetic).summary.drawn_accuracy is None
