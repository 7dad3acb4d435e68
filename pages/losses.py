"""Losses & optimizers: the labs' loss functions with their gradients, and optimizers walking 2-D surfaces.

Every number comes from torch, through core.labs; this page only draws it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from core.labs.losses import (
    REGRESSION,
    bce_point,
    bce_with_logits_point,
    classification_curves,
    cross_entropy_point,
    regression_curve,
    regression_point,
)
from core.labs.optimizer_paths import (
    DIVERGED,
    OPTIMIZERS,
    SURFACES,
    OptimizerSetup,
    Surface,
    left_plot_at,
    optimize,
    surface_grid,
    update_rows,
)
from ui.charts import Curve, color, curves_figure
from ui.common import route_through_app

LR_CHOICES = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
# per surface, learning rates that reach the minimum in about 100 steps without leaving the plot
DEFAULT_LR = {"bowl": {"sgd": 0.1, "momentum": 0.05, "adam": 0.1, "adamw": 0.1, "rmsprop": 0.01},
              "valley": {"sgd": 0.05, "momentum": 0.02, "adam": 0.1, "adamw": 0.1, "rmsprop": 0.01},
              "rosenbrock": {"sgd": 0.002, "momentum": 0.001, "adam": 0.2, "adamw": 0.2, "rmsprop": 0.05}}
CLASSES = 3


def regression_panel() -> None:
    """One prediction against one target under each regression loss, and the losses as curves."""
    st.subheader("Regression: MSE, L1, Smooth L1, Huber")
    left, middle, right = st.columns(3)
    prediction = left.slider("Prediction", -4.0, 4.0, 2.0, 0.1, key="losses_prediction")
    target = middle.slider("Target", -3.0, 3.0, 0.5, 0.1, key="losses_target")
    beta = right.slider("Huber delta / Smooth L1 beta", 0.1, 3.0, 1.0, 0.1, key="losses_beta")
    points = {name: regression_point(name, prediction, target, beta) for name in REGRESSION}
    st.dataframe(pd.DataFrame([{"loss": REGRESSION[name], "value": p.value, "d loss / d prediction": p.gradient[0]}
                               for name, p in points.items()]), hide_index=True, width="stretch",
                 key="losses_regression_table", column_config={
                     "value": st.column_config.NumberColumn(format="%.4f"),
                     "d loss / d prediction": st.column_config.NumberColumn(format="%.4f")})
    xs = torch.linspace(-4, 4, 161)
    curves = [Curve(REGRESSION[name], xs.numpy(), regression_curve(name, target, xs, beta).numpy(), color(i))
              for i, name in enumerate(REGRESSION)]
    figure = curves_figure(curves, f"Loss against the prediction, target {target:g}", "prediction", "loss")
    figure.add_vline(x=prediction, line_dash="dot", line_color="gray")
    st.plotly_chart(figure, key="losses_regression_chart")


def cross_entropy_panel() -> None:
    """Logits for three classes and the true class: the loss, the softmax and the gradient."""
    st.subheader("Cross-entropy on logits")
    columns = st.columns(CLASSES + 1)
    logits = [columns[i].slider(f"Logit {i}", -5.0, 5.0, float(i), 0.1, key=f"losses_logit_{i}")
              for i in range(CLASSES)]
    label = columns[-1].selectbox("True class", list(range(CLASSES)), index=CLASSES - 1, key="losses_class")
    point = cross_entropy_point(logits, label)
    softmax = torch.tensor(logits).softmax(0).tolist()
    st.metric("Cross-entropy", f"{point.value:.4f}", help="-log softmax(logits)[true class]")
    st.dataframe(pd.DataFrame({"class": range(CLASSES), "logit": logits, "softmax": softmax,
                               "gradient (softmax - one-hot)": point.gradient}), hide_index=True,
                 width="stretch", key="losses_ce_table", column_config={
                     name: st.column_config.NumberColumn(format="%.4f")
                     for name in ("logit", "softmax", "gradient (softmax - one-hot)")})


def binary_panel() -> None:
    """One logit and a 0/1 target: cross-entropy on two classes, BCE with logits, and BCE on sigmoid."""
    st.subheader("Cross-entropy against BCE on the same logit")
    left, right = st.columns(2)
    z = left.slider("Logit z", -20.0, 20.0, 2.0, 0.5, key="losses_binary_logit")
    target = right.selectbox("Target", [0, 1], index=0, key="losses_binary_target")
    probability = float(torch.sigmoid(torch.tensor(z, dtype=torch.float32)))
    rows = [("cross-entropy on logits (0, z)", cross_entropy_point([0.0, z], target).value, "z"),
            ("BCE with logits", bce_with_logits_point(z, float(target)).value, "z"),
            ("BCE on sigmoid(z) in float32", bce_point(min(max(probability, 0.0), 1.0), float(target)).value,
             f"p = {probability:.6g}")]
    st.dataframe(pd.DataFrame(rows, columns=["loss", "value", "input"]), hide_index=True, width="stretch",
                 key="losses_binary_table",  # %g: at z = -20 the three differ in their ninth decimal, which %f hid
                 column_config={"value": st.column_config.NumberColumn(format="%.6g")})
    xs = torch.linspace(-20, 20, 161)
    names = {"cross_entropy": "cross-entropy (0, z)", "bce_with_logits": "BCE with logits", "bce": "BCE on sigmoid"}
    curves = [Curve(names[key], xs.numpy(), values.numpy(), color(i))
              for i, (key, values) in enumerate(classification_curves(xs, target).items())]
    st.plotly_chart(curves_figure(curves, f"Loss against the logit, target {target}", "logit z", "loss"),
                    key="losses_binary_chart")
    st.caption("The first two are the same function. BCE on a probability parts from them once sigmoid(z) rounds "
               "to exactly 0 or 1: torch clamps its log at -100, so the loss stops at 100 and the gradient "
               "vanishes. That is why a network's last layer feeds logits to BCEWithLogitsLoss.")


def optimizer_setups(surface: str, names: list[str]) -> list[OptimizerSetup]:
    """Each picked optimizer's learning rate (per surface), and the shared momentum, betas and weight decay."""
    columns = st.columns(max(len(names), 1))
    lrs = {name: column.select_slider(f"{OPTIMIZERS[name]} lr", LR_CHOICES, value=DEFAULT_LR[surface][name],
                                      key=f"losses_lr_{surface}_{name}", format_func=lambda v: f"{v:g}")
           for column, name in zip(columns, names)}
    left, middle, right, last = st.columns(4)
    momentum = left.slider("Momentum", 0.0, 0.99, 0.9, 0.01, key="losses_momentum")
    beta1 = middle.slider("β1", 0.0, 0.99, 0.9, 0.01, key="losses_beta1")
    beta2 = right.select_slider("β2", [0.9, 0.99, 0.999, 0.9999], value=0.999, key="losses_beta2")
    decay = last.select_slider("AdamW weight decay", [0.0, 0.001, 0.01, 0.1, 0.5], value=0.01, key="losses_decay")
    return [OptimizerSetup(name, lrs[name], momentum=momentum, betas=(beta1, beta2),
                           weight_decay=decay if name == "adamw" else 0.0) for name in names]


@st.cache_data(max_entries=16, show_spinner=False)
def contour(surface_name: str) -> go.Contour:
    xs, ys, z = surface_grid(SURFACES[surface_name])
    return go.Contour(x=xs, y=ys, z=np.log1p(np.asarray(z)), colorscale="Blues", showscale=False, ncontours=30,
                      hovertemplate="x %{x:.2f}, y %{y:.2f}<extra></extra>", line=dict(width=0.5))


def paths_figure(surface_name: str, paths: list, step: int) -> go.Figure:
    """The surface as contours (of log(1 + loss)) and each optimizer's path up to the step."""
    surface = SURFACES[surface_name]
    figure = go.Figure(contour(surface_name))
    for i, path in enumerate(paths):
        shown = path.points[:step + 1]
        figure.add_trace(go.Scatter(x=[p[0] for p in shown], y=[p[1] for p in shown], mode="lines+markers",
                                    name=OPTIMIZERS[path.setup.name], marker=dict(size=4, color=color(i)),
                                    line=dict(color=color(i), width=2)))
    figure.add_trace(go.Scatter(x=[surface.minimum[0]], y=[surface.minimum[1]], mode="markers", name="minimum",
                                marker=dict(symbol="star", size=14, color="gold", line=dict(color="black", width=1))))
    figure.update_xaxes(range=surface.x_range, title="x", constrain="domain")
    # one unit as long on both axes: the bowl's circles are circles, the valley as narrow as it is
    figure.update_yaxes(range=surface.y_range, title="y", scaleanchor="x", scaleratio=1, constrain="domain")
    # the legend in its own strip at the bottom: above the plot, on a narrow window, it ran into the title
    figure.update_layout(title=surface.title, height=560, margin=dict(l=10, r=10, t=40, b=10),
                         legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", xanchor="left", x=0))
    return figure


def update_table(path, step: int) -> None:
    """One update's numbers, as the lab writes them out."""
    if step < 1:
        st.caption("Step 0 is the start, before any update: move 'Show up to step' to 1 or more.")
        return
    if step > len(path.steps):
        st.caption(f"The path ended before this step: it diverged at step {len(path.steps) + 1}.")
        return
    rows = update_rows(path.setup, path.steps[step - 1])
    st.dataframe(pd.DataFrame([{"quantity": q, "formula": f, "x": v[0], "y": v[1]} for q, f, v in rows]),
                 hide_index=True, width="stretch", key="losses_update_table", column_config={
                     "x": st.column_config.NumberColumn(format="%.6g"),
                     "y": st.column_config.NumberColumn(format="%.6g")})


def path_row(surface: Surface, path, step: int) -> dict:
    """An optimizer's loss at the start and at the shown step; where it diverged, or left the plot, by then."""
    ended, outside = len(path.steps) < step, left_plot_at(surface, path)
    note = (f"diverged at step {len(path.steps) + 1} (a coordinate past {DIVERGED:.0e})" if ended else
            f"left the plot at step {outside}" if outside is not None and outside <= step else "")
    return {"optimizer": OPTIMIZERS[path.setup.name], "lr": path.setup.lr, "loss at start": path.losses[0],
            f"loss at step {step}": None if ended else path.losses[step], "note": note}


def optimizers_panel() -> None:
    """Pick a surface and optimizers; step through their paths and read one update's numbers."""
    left, right = st.columns([1, 2])
    surface = left.selectbox("Surface", list(SURFACES), format_func=lambda s: SURFACES[s].title,
                             key="losses_surface")
    names = right.multiselect("Optimizers", list(OPTIMIZERS), default=["momentum", "adam"],
                              format_func=OPTIMIZERS.get, key="losses_optimizers")
    if not names:
        st.info("Pick at least one optimizer.")
        return
    setups = optimizer_setups(surface, names)
    left, right = st.columns(2)
    steps = left.slider("Steps to run", 1, 300, 100, key="losses_steps")
    step = right.slider("Show up to step", 0, steps, steps, key="losses_step",
                        help="Move it to draw the paths step by step")
    paths = [optimize(SURFACES[surface], setup, steps) for setup in setups]
    st.plotly_chart(paths_figure(surface, paths, step), key="losses_paths")
    st.dataframe(pd.DataFrame([path_row(SURFACES[surface], path, step) for path in paths]), hide_index=True,
                 width="stretch",
                 key="losses_path_table")
    st.markdown("**One update step**")
    shown = st.selectbox("Optimizer", names, format_func=OPTIMIZERS.get, key="losses_update_optimizer")
    update_table(paths[names.index(shown)], step)


route_through_app()
st.header("Losses & optimizers", divider="gray")
losses_tab, optimizers_tab = st.tabs(["Losses", "Optimizers"])
with losses_tab:
    regression_panel()
    left, right = st.columns(2, gap="large")
    with left:
        cross_entropy_panel()
    with right:
        binary_panel()
with optimizers_tab:
    optimizers_panel()
