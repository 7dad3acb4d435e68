"""Torch's optimizers on 2-D loss surfaces: their paths step by step, and the numbers of one update."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Point = tuple[float, float]
DIVERGED = 1e12  # a coordinate this large ends a path: it has diverged


@dataclass(frozen=True)
class Surface:
    title: str
    loss: Callable[[torch.Tensor], torch.Tensor]  # (..., 2) -> (...)
    start: Point
    x_range: Point
    y_range: Point
    minimum: Point


SURFACES = {
    "bowl": Surface("Quadratic bowl: x² + y²", lambda p: p[..., 0] ** 2 + p[..., 1] ** 2,
                    (-2.5, 2.0), (-3.0, 3.0), (-3.0, 3.0), (0.0, 0.0)),
    "valley": Surface("Narrow valley: 0.1 x² + 10 y²", lambda p: 0.1 * p[..., 0] ** 2 + 10 * p[..., 1] ** 2,
                      (-4.5, 1.0), (-5.0, 5.0), (-1.5, 1.5), (0.0, 0.0)),
    "rosenbrock": Surface("Rosenbrock: (1 - x)² + 100 (y - x²)²",
                          lambda p: (1 - p[..., 0]) ** 2 + 100 * (p[..., 1] - p[..., 0] ** 2) ** 2,
                          (-1.2, 1.0), (-2.0, 2.0), (-1.0, 3.0), (1.0, 1.0)),
}
OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD with momentum", "adam": "Adam", "adamw": "AdamW",
              "rmsprop": "RMSprop"}


@dataclass(frozen=True)
class OptimizerSetup:
    name: str  # a key of OPTIMIZERS
    lr: float
    momentum: float = 0.9  # SGD with momentum, RMSprop
    betas: Point = (0.9, 0.999)  # Adam, AdamW
    alpha: float = 0.99  # RMSprop's smoothing constant
    weight_decay: float = 0.0  # AdamW's decoupled decay; L2 for the others
    eps: float = 1e-8

    def build(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        if self.name == "sgd":
            return torch.optim.SGD(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.name == "momentum":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        if self.name == "adam":
            return torch.optim.Adam(params, lr=self.lr, betas=self.betas, eps=self.eps,
                                    weight_decay=self.weight_decay)
        if self.name == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, betas=self.betas, eps=self.eps,
                                     weight_decay=self.weight_decay)
        if self.name == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.lr, alpha=self.alpha, eps=self.eps, momentum=self.momentum,
                                       weight_decay=self.weight_decay)
        raise ValueError(f"optimizer: {self.name!r} is not one of {', '.join(OPTIMIZERS)}")


@dataclass(frozen=True)
class Step:
    """One update as torch made it: where it started, the gradient, the optimizer's state after it."""
    number: int  # 1 for the first update
    before: Point
    gradient: Point
    state: dict[str, Point]  # torch's per-parameter state after the step (exp_avg, momentum_buffer, ...)
    after: Point
    loss: float  # at `before`


@dataclass(frozen=True)
class Path:
    setup: OptimizerSetup
    points: list[Point]  # the start, then one point per step
    losses: list[float]  # at each point
    steps: list[Step]


def _pair(tensor: torch.Tensor) -> Point:
    return float(tensor[0]), float(tensor[1])


def optimize(surface: Surface, setup: OptimizerSetup, steps: int, start: Point | None = None) -> Path:
    """Run the optimizer for a number of steps from the surface's start (float64 throughout)."""
    position = torch.tensor(start or surface.start, dtype=torch.float64, requires_grad=True)
    optimizer = setup.build([position])
    points, losses, records = [_pair(position.detach())], [], []
    for number in range(1, steps + 1):
        optimizer.zero_grad()
        loss = surface.loss(position)
        loss.backward()
        before, gradient = _pair(position.detach()), _pair(position.grad)
        optimizer.step()
        state = {key: _pair(value) for key, value in optimizer.state[position].items()
                 if torch.is_tensor(value) and value.numel() == 2}
        after = _pair(position.detach())
        if not all(map(_finite, after)):
            break  # diverged: the path ends before its coordinates pass DIVERGED
        points.append(after)
        losses.append(loss.item())
        records.append(Step(number, before, gradient, state, after, loss.item()))
    with torch.no_grad():
        losses.append(surface.loss(position.detach()).item())
    return Path(setup, points, losses, records)


def _finite(value: float) -> bool:
    return abs(value) < DIVERGED


def left_plot_at(surface: Surface, path: Path) -> int | None:
    """The first step that took the path outside the surface's plotted ranges, or None if it stayed inside."""
    (x_low, x_high), (y_low, y_high) = surface.x_range, surface.y_range
    inside = [x_low <= x <= x_high and y_low <= y <= y_high for x, y in path.points]
    return inside.index(False) if False in inside else None


def surface_grid(surface: Surface, size: int = 120) -> tuple[list[float], list[float], list[list[float]]]:
    """The loss on a size x size grid over the surface's ranges: xs, ys, z[y][x]."""
    xs = torch.linspace(*surface.x_range, size, dtype=torch.float64)
    ys = torch.linspace(*surface.y_range, size, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (size_y, size_x, 2)
    with torch.no_grad():
        return xs.tolist(), ys.tolist(), surface.loss(grid).tolist()


def update_rows(setup: OptimizerSetup, step: Step) -> list[tuple[str, str, Point]]:
    """The update written out as the lab does: (quantity, formula, value), ending with the new parameters.

    Bias-corrected moments and the step are computed here from torch's state, so a reader can check the
    formulas against what torch did (the last row is torch's own result).
    """
    g, lr = step.gradient, setup.lr
    rows = [("θ", "parameters before", step.before), ("g", "∇f(θ)", g)]
    if setup.name == "sgd":
        rows.append(("Δ", "-lr · g", _map(lambda gi: -lr * gi, g)))
    elif setup.name == "momentum":
        buf = step.state["momentum_buffer"]
        rows += [("b", "μ · b + g", buf), ("Δ", "-lr · b", _map(lambda bi: -lr * bi, buf))]
    elif setup.name in ("adam", "adamw"):
        rows += _adam_rows(setup, step)
    elif setup.name == "rmsprop":
        rows += _rmsprop_rows(setup, step)
    return rows + [("θ'", "θ + Δ (torch's result)", step.after)]


def _adam_rows(setup: OptimizerSetup, step: Step) -> list[tuple[str, str, Point]]:
    (b1, b2), t, lr, eps = setup.betas, step.number, setup.lr, setup.eps
    m, v = step.state["exp_avg"], step.state["exp_avg_sq"]
    m_hat = _map(lambda mi: mi / (1 - b1**t), m)
    v_hat = _map(lambda vi: vi / (1 - b2**t), v)
    delta = tuple(-lr * mh / (vh**0.5 + eps) for mh, vh in zip(m_hat, v_hat))
    rows = [("m", "β1 · m + (1 - β1) · g", m), ("v", "β2 · v + (1 - β2) · g²", v),
            ("m̂", f"m / (1 - β1^{t})", m_hat), ("v̂", f"v / (1 - β2^{t})", v_hat)]
    if setup.name == "adamw" and setup.weight_decay:
        decay = _map(lambda p: -lr * setup.weight_decay * p, step.before)
        return rows + [("Δ", "-lr · λ · θ - lr · m̂ / (√v̂ + ε)", tuple(d + e for d, e in zip(decay, delta)))]
    return rows + [("Δ", "-lr · m̂ / (√v̂ + ε)", delta)]


def _rmsprop_rows(setup: OptimizerSetup, step: Step) -> list[tuple[str, str, Point]]:
    v = step.state["square_avg"]
    scaled = tuple(gi / (vi**0.5 + setup.eps) for gi, vi in zip(step.gradient, v))
    rows = [("v", "α · v + (1 - α) · g²", v)]
    if setup.momentum:
        buf = step.state["momentum_buffer"]
        return rows + [("b", "μ · b + g / (√v + ε)", buf), ("Δ", "-lr · b", _map(lambda bi: -setup.lr * bi, buf))]
    return rows + [("Δ", "-lr · g / (√v + ε)", _map(lambda si: -setup.lr * si, scaled))]


def _map(fn: Callable[[float], float], pair: Point) -> Point:
    return fn(pair[0]), fn(pair[1])
