"""Pictures of a model's inside for the Inside page: grids of maps, evidence maps, weights as images.

Images go to st.image as small PNGs, scaled up by whole pixels so each cell stays a crisp square.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.insight.attribution import METHOD_HELP
from core.insight.inside import InsideView
from core.insight.layers import LayerOutput, tile, unit_grid, units_as_maps
from core.training.data import load_test_images, load_test_labels

DISPLAY_PX = 300  # about how wide a grid is drawn
POSITIVE, NEGATIVE = np.array([1.0, 0.25, 0.1]), np.array([0.15, 0.45, 1.0])
BLANK = np.array([0.75, 0.85, 1.0])  # a grid's cells past the last unit: pale blue, set apart from the greys


@st.cache_resource(show_spinner="Loading the test images...")
def test_images(dataset: str) -> np.ndarray:
    """A dataset's uint8 test images (N, 28, 28), shared read-only by every session."""
    return load_test_images(dataset).numpy()


@st.cache_resource(show_spinner=False)
def test_labels(dataset: str) -> np.ndarray:
    """A dataset's test labels (N,): the true digit of each of test_images'."""
    return load_test_labels(dataset).numpy()


def grey_with_blanks(grid: np.ndarray) -> np.ndarray:
    """A grey grid in [0, 1] as RGB, its NaN cells (no unit there) in BLANK, a colour no grey can be."""
    rgb = np.repeat(np.nan_to_num(grid)[..., None], 3, axis=2)
    rgb[np.isnan(grid)] = BLANK
    return rgb


def blank_note(units: int) -> str:
    """What a caption adds where a grid of units has cells after the last unit."""
    rows, columns = unit_grid(units)
    return "; the pale blue cells after the last unit are none" if rows * columns > units else ""


def crisp(image: np.ndarray, width_px: int = DISPLAY_PX) -> np.ndarray:
    """Scale up by a whole factor (nearest) to about width_px, so pixels stay sharp in the browser."""
    factor = max(1, width_px // image.shape[1])
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def evidence_rgb(evidence: np.ndarray, digit: np.ndarray) -> np.ndarray:
    """Signed evidence over a dimmed digit: red for the class, blue against it, by its largest magnitude."""
    peak = float(np.abs(evidence).max()) or 1.0
    strength = np.clip(evidence / peak, -1.0, 1.0)[..., None]
    base = 0.35 * np.clip(digit, 0.0, 1.0)[..., None].repeat(3, axis=2)
    colour = np.where(strength > 0, POSITIVE, NEGATIVE)
    return np.clip(base * (1 - np.abs(strength)) + colour * np.abs(strength), 0.0, 1.0)


def layer_caption(layer: LayerOutput) -> str:
    if layer.is_maps:
        count, height, width = layer.values.shape
        return f"{layer.name} ({layer.kind}): {count} maps of {height}x{width}"
    return f"{layer.name} ({layer.kind}): {len(layer.values)} units{blank_note(len(layer.values))}"


def layer_image(layer: LayerOutput) -> np.ndarray:
    """A layer's maps as one grid, or its units as one map of cells."""
    return grey_with_blanks(tile(layer.values if layer.is_maps else units_as_maps(layer.values)))


def show_evidence(view: InsideView, digit: np.ndarray, width_px: int) -> None:
    """The three methods' evidence for the view's target class."""
    for column, (method, evidence) in zip(st.columns(len(view.evidence)), view.evidence.items()):
        column.image(crisp(evidence_rgb(evidence, digit), width_px // 2), caption=method, clamp=True,
                     output_format="PNG", width="stretch")


def evidence_legend() -> None:
    st.caption("Red speaks for the class, blue against it. " + " ".join(
        f"**{method}**: {text}." for method, text in METHOD_HELP.items()))


def show_layers(view: InsideView, width_px: int) -> None:
    """Every layer's output, in the order the layers ran."""
    for layer in view.layers:
        st.image(crisp(layer_image(layer), width_px), caption=layer_caption(layer), clamp=True, output_format="PNG")


def show_first_layer(view: InsideView, width_px: int) -> None:
    """A CNN's first filters; an MLP's hidden activations and its most active units' input weights."""
    if view.hidden is None:
        count, size, _ = view.filters.shape
        st.image(crisp(tile(view.filters), width_px), clamp=True, output_format="PNG",
                 caption=f"The first layer's {count} filters ({size}x{size}): light weights add, dark subtract")
        return
    hidden = view.hidden
    units = len(hidden.activations)
    st.image(crisp(grey_with_blanks(tile(units_as_maps(hidden.activations))), width_px), clamp=True,
             output_format="PNG",
             caption=f"The {units} hidden units' activations (after ReLU), row by row{blank_note(units)}")
    st.image(crisp(tile(hidden.weights, columns=4), width_px), clamp=True, output_format="PNG",
             caption="Input weights of the most active units: " + ", ".join(
                 f"unit {unit} ({hidden.activations[unit]:.2f})" for unit in hidden.top))
