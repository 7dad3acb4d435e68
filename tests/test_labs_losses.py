"""The loss and optimizer explorer's numbers, against values worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from core.labs.losses import (
    bce_point,
    bce_with_logits_point,
    classification_curves,
    cross_entropy_point,
    regression_curve,
    regression_point,
)
from core.labs.optimizer_paths import SURFACES, OptimizerSetup, left_plot_at, optimize, surface_grid, update_rows

# --- losses: value and d loss / d prediction ------------------------------------------------------------

@pytest.mark.parametrize("name, prediction, target, beta, value, gradient", [
    ("mse", 2.0, 0.5, 1.0, 2.25, 3.0),  # (2 - 0.5)^2; 2 (2 - 0.5)
    ("mse", -1.0, 1.0, 1.0, 4.0, -4.0),
    ("l1", 2.0, 0.5, 1.0, 1.5, 1.0),  # |e|; sign(e)
    ("l1", 0.0, 3.0, 1.0, 3.0, -1.0),
    ("huber", 2.0, 0.5, 1.0, 1.0, 1.0),  # |e| = 1.5 > delta 1: delta (|e| - delta / 2); delta sign(e)
    ("huber", 1.0, 0.5, 1.0, 0.125, 0.5),  # |e| = 0.5 <= 1: e^2 / 2; e
    ("huber", 3.0, 0.0, 2.0, 4.0, 2.0),  # 2 (3 - 1) = 4; 2
    ("smooth_l1", 3.0, 0.0, 2.0, 2.0, 1.0),  # beta 2, |e| 3: |e| - beta / 2 = 2; sign(e)
    ("smooth_l1", 1.0, 0.0, 2.0, 0.25, 0.5),  # |e| 1 < 2: e^2 / (2 beta) = 0.25; e / beta
])
def test_regression_losses_match_hand_worked_values(name, prediction, target, beta, value, gradient):
    point = regression_point(name, prediction, target, beta)
    assert point.value == pytest.approx(value) and point.gradient == pytest.approx((gradient,))


def test_regression_curves_are_the_losses_over_predictions():
    xs = torch.tensor([-2.0, 0.0, 0.5, 3.0])
    assert regression_curve("mse", 0.5, xs).tolist() == pytest.approx([6.25, 0.25, 0.0, 6.25])
    assert regression_curve("l1", 0.5, xs).tolist() == pytest.approx([2.5, 0.5, 0.0, 2.5])
    assert regression_curve("huber", 0.5, xs).tolist() == pytest.approx([2.0, 0.125, 0.0, 2.0])


def test_cross_entropy_value_and_gradient_by_hand():
    point = cross_entropy_point([1.0, 2.0, 3.0], 2)
    total = math.e + math.e**2 + math.e**3
    assert point.value == pytest.approx(-math.log(math.e**3 / total))  # log(1 + e^-1 + e^-2) = 0.4076
    assert point.value == pytest.approx(0.40760596)
    softmax = [math.e / total, math.e**2 / total, math.e**3 / total]
    assert point.gradient == pytest.approx((softmax[0], softmax[1], softmax[2] - 1))


def test_binary_cross_entropy_by_hand():
    assert bce_point(0.8, 1.0).value == pytest.approx(-math.log(0.8))  # 0.2231
    assert bce_point(0.8, 1.0).gradient == pytest.approx((-1 / 0.8,))
    assert bce_point(0.8, 0.0).value == pytest.approx(-math.log(0.2))
    assert bce_with_logits_point(0.0, 1.0).value == pytest.approx(math.log(2))
    assert bce_with_logits_point(0.0, 1.0).gradient == pytest.approx((-0.5,))  # sigmoid(0) - 1
    assert bce_with_logits_point(2.0, 0.0).value == pytest.approx(math.log(1 + math.e**2))
    assert bce_with_logits_point(2.0, 0.0).gradient == pytest.approx((1 / (1 + math.e**-2),))


def test_cross_entropy_on_two_logits_is_bce_with_logits_and_bce_saturates():
    z = torch.linspace(-20, 20, 81)
    for target in (0, 1):
        curves = classification_curves(z, target)
        assert torch.allclose(curves["cross_entropy"], curves["bce_with_logits"], atol=1e-9)
    curves = classification_curves(torch.tensor([0.0, 2.0, 20.0]), 0)
    assert curves["bce_with_logits"].tolist() == pytest.approx([math.log(2), math.log(1 + math.e**2), 20.0])
    # sigmoid(20) rounds to 1 in float32: BCE on the probability hits torch's clamp of log at -100
    assert curves["bce"][:2].tolist() == pytest.approx([math.log(2), math.log(1 + math.e**2)], rel=1e-5)
    assert curves["bce"][2].item() == 100.0


# --- optimizer steps ----------------------------------------------------------------------------------

BOWL = SURFACES["bowl"]  # x^2 + y^2: the gradient at (x, y) is (2x, 2y)


def test_sgd_steps_by_hand():
    path = optimize(BOWL, OptimizerSetup("sgd", lr=0.1), 2, start=(1.0, 2.0))
    # g = (2, 4); theta = (1, 2) - 0.1 g = (0.8, 1.6); then g = (1.6, 3.2), theta = (0.64, 1.28)
    assert path.points == [pytest.approx(p) for p in [(1.0, 2.0), (0.8, 1.6), (0.64, 1.28)]]
    assert path.steps[0].gradient == pytest.approx((2.0, 4.0))
    assert path.losses == pytest.approx([5.0, 3.2, 2.048])


def test_momentum_steps_by_hand():
    path = optimize(BOWL, OptimizerSetup("momentum", lr=0.1, momentum=0.9), 2, start=(1.0, 2.0))
    # b1 = g1 = (2, 4): theta1 = (0.8, 1.6); g2 = (1.6, 3.2), b2 = 0.9 b1 + g2 = (3.4, 6.8): theta2 = (0.46, 0.92)
    assert path.steps[1].state["momentum_buffer"] == pytest.approx((3.4, 6.8))
    assert path.points[2] == pytest.approx((0.46, 0.92))
    rows = {name: value for name, _, value in update_rows(path.setup, path.steps[1])}
    assert rows["b"] == pytest.approx((3.4, 6.8)) and rows["Δ"] == pytest.approx((-0.34, -0.68))


def test_adam_first_step_moves_each_coordinate_by_lr():
    setup = OptimizerSetup("adam", lr=0.1, betas=(0.9, 0.999))
    path = optimize(BOWL, setup, 2, start=(1.0, 2.0))
    first = path.steps[0]
    # m = 0.1 g = (0.2, 0.4); v = 0.001 g^2 = (0.004, 0.016); m_hat = g, v_hat = g^2: delta = -lr g / |g|
    assert first.state["exp_avg"] == pytest.approx((0.2, 0.4))
    assert first.state["exp_avg_sq"] == pytest.approx((0.004, 0.016))
    assert first.after == pytest.approx((0.9, 1.9))
    rows = {name: value for name, _, value in update_rows(setup, path.steps[1])}
    g = (1.8, 3.8)  # 2 x (0.9, 1.9)
    m = tuple(0.9 * a + 0.1 * b for a, b in zip((0.2, 0.4), g))
    v = tuple(0.999 * a + 0.001 * b * b for a, b in zip((0.004, 0.016), g))
    m_hat, v_hat = tuple(x / (1 - 0.9**2) for x in m), tuple(x / (1 - 0.999**2) for x in v)
    delta = tuple(-0.1 * a / (math.sqrt(b) + 1e-8) for a, b in zip(m_hat, v_hat))
    assert rows["m"] == pytest.approx(m) and rows["v"] == pytest.approx(v)
    assert rows["m̂"] == pytest.approx(m_hat) and rows["v̂"] == pytest.approx(v_hat)
    assert rows["Δ"] == pytest.approx(delta)
    assert path.points[2] == pytest.approx(tuple(p + d for p, d in zip((0.9, 1.9), delta)))


def test_adamw_decays_the_weights_apart_from_the_gradient():
    setup = OptimizerSetup("adamw", lr=0.1, weight_decay=0.5)
    path = optimize(BOWL, setup, 1, start=(1.0, 2.0))
    # theta (1 - lr wd) - lr sign(g) on the first step: (0.95 - 0.1, 1.9 - 0.1)
    assert path.points[1] == pytest.approx((0.85, 1.8))
    rows = {name: value for name, _, value in update_rows(setup, path.steps[0])}
    assert rows["Δ"] == pytest.approx((-0.15, -0.2))


def test_rmsprop_first_step_by_hand():
    setup = OptimizerSetup("rmsprop", lr=0.01, alpha=0.99, momentum=0.0)
    path = optimize(BOWL, setup, 1, start=(1.0, 2.0))
    # v = 0.01 g^2 = (0.04, 0.16): sqrt v = 0.1 |g|, so delta = -lr g / (0.1 |g|) = -0.1 sign(g)
    assert path.steps[0].state["square_avg"] == pytest.approx((0.04, 0.16))
    assert path.points[1] == pytest.approx((0.9, 1.9))
    rows = {name: value for name, _, value in update_rows(setup, path.steps[0])}
    assert rows["Δ"] == pytest.approx((-0.1, -0.1))


def test_every_optimizer_gets_down_the_bowl_and_the_grid_is_the_surface():
    for name in ("sgd", "momentum", "adam", "adamw", "rmsprop"):
        path = optimize(BOWL, OptimizerSetup(name, lr=0.05, momentum=0.5), 200)
        assert path.losses[-1] < 0.05 * path.losses[0], name
    xs, ys, z = surface_grid(SURFACES["rosenbrock"], size=5)
    assert xs == pytest.approx([-2, -1, 0, 1, 2]) and ys == pytest.approx([-1, 0, 1, 2, 3])
    assert z[2][3] == 0.0 and z[0][0] == pytest.approx(9 + 100 * 25)  # (1, 1) is the minimum; (-2, -1)


def test_a_diverging_path_stops_where_it_leaves_the_plot():
    path = optimize(BOWL, OptimizerSetup("sgd", lr=5.0), 100, start=(1.0, 1.0))
    assert len(path.points) < 101 and all(abs(x) < 1e12 for point in path.points for x in point)


def test_a_path_that_leaves_the_plot_is_named_at_the_step_it_left():
    surface = SURFACES["rosenbrock"]
    path = optimize(surface, OptimizerSetup("rmsprop", lr=1.0), 5)  # at (8.8, 11) after one step, not diverged
    assert len(path.steps) == 5 and left_plot_at(surface, path) == 1
    (x_low, x_high), (y_low, y_high) = surface.x_range, surface.y_range
    x, y = path.points[1]
    assert not (x_low <= x <= x_high and y_low <= y <= y_high)
    assert left_plot_at(surface, optimize(surface, OptimizerSetup("adam", lr=1e-3), 5)) is None
