"""The labs' loss functions, evaluated by torch: a value, its gradient, and curves to compare them.

Regression losses take a prediction and a target; the classification ones take logits and a class
(cross-entropy), one logit and a 0/1 target (BCE with logits), or a probability and a target (BCE).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional as F

REGRESSION = {"mse": "MSE", "l1": "L1 (MAE)", "smooth_l1": "Smooth L1", "huber": "Huber"}
CLASSIFICATION = {"cross_entropy": "Cross-entropy", "bce_with_logits": "BCE with logits", "bce": "BCE"}


@dataclass(frozen=True)
class LossPoint:
    """A loss's value and its gradient with respect to each prediction (or logit) it was given."""
    value: float
    gradient: tuple[float, ...]


def regression_loss(name: str, prediction: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Elementwise loss (no reduction); beta is Smooth L1's beta and Huber's delta."""
    if name == "mse":
        return F.mse_loss(prediction, target, reduction="none")
    if name == "l1":
        return F.l1_loss(prediction, target, reduction="none")
    if name == "smooth_l1":
        return F.smooth_l1_loss(prediction, target, reduction="none", beta=beta)
    if name == "huber":
        return F.huber_loss(prediction, target, reduction="none", delta=beta)
    raise ValueError(f"loss: {name!r} is not one of {', '.join(REGRESSION)}")


def regression_point(name: str, prediction: float, target: float, beta: float = 1.0) -> LossPoint:
    """The loss of one prediction and d loss / d prediction, by autograd."""
    x = torch.tensor(prediction, dtype=torch.float64, requires_grad=True)
    loss = regression_loss(name, x, torch.tensor(target, dtype=torch.float64), beta)
    (gradient,) = torch.autograd.grad(loss, x)
    return LossPoint(loss.item(), (gradient.item(),))


def regression_curve(name: str, target: float, predictions: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """The loss at each prediction for a fixed target: how the loss grows with the error."""
    with torch.no_grad():
        return regression_loss(name, predictions.double(), torch.full_like(predictions, target).double(), beta)


def cross_entropy_point(logits: Sequence[float], label: int) -> LossPoint:
    """Cross-entropy of logits for one class; the gradient is softmax(logits) - one_hot(label)."""
    z = torch.tensor([list(logits)], dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(z, torch.tensor([label]))
    (gradient,) = torch.autograd.grad(loss, z)
    return LossPoint(loss.item(), tuple(gradient[0].tolist()))


def bce_with_logits_point(logit: float, target: float) -> LossPoint:
    """BCE on a raw logit (the stable form); the gradient is sigmoid(logit) - target."""
    z = torch.tensor(logit, dtype=torch.float64, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, torch.tensor(target, dtype=torch.float64))
    (gradient,) = torch.autograd.grad(loss, z)
    return LossPoint(loss.item(), (gradient.item(),))


def bce_point(probability: float, target: float) -> LossPoint:
    """BCE on a probability; the gradient is with respect to that probability."""
    p = torch.tensor(probability, dtype=torch.float64, requires_grad=True)
    loss = F.binary_cross_entropy(p, torch.tensor(target, dtype=torch.float64))
    (gradient,) = torch.autograd.grad(loss, p)
    return LossPoint(loss.item(), (gradient.item(),))


def classification_curves(logits: torch.Tensor, target: int) -> dict[str, torch.Tensor]:
    """Each classification loss over the same logit z, for the positive class (target 1) or the other.

    Cross-entropy sees two classes with logits (0, z); BCE with logits sees z; BCE sees sigmoid(z) in
    float32, as a network's output would be: the first two agree everywhere, and BCE parts from them where
    the probability rounds to 0 or 1 and torch clamps its log at -100.
    """
    z = logits.double()
    two_class = torch.stack([torch.zeros_like(z), z], dim=1)
    labels = torch.full((len(z),), target, dtype=torch.long)
    targets = torch.full_like(z, float(target))
    with torch.no_grad():
        return {"cross_entropy": F.cross_entropy(two_class, labels, reduction="none"),
                "bce_with_logits": F.binary_cross_entropy_with_logits(z, targets, reduction="none"),
                "bce": F.binary_cross_entropy(torch.sigmoid(z.float()), targets.float(), reduction="none").double()}
