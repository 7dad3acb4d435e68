"""Robustness curves: a model's accuracy on a fixed subset of the test set under growing perturbations."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.insight import perturb
from core.training.data import Split

SUBSET_STRIDE = 5  # every 5th test image: 2,000 of MNIST's 10,000, from both halves of its writers
SUBSET_NOTE = "every 5th test image (2,000 of MNIST's 10,000)"
BATCH = 500


@dataclass(frozen=True)
class Perturbation:
    name: str
    unit: str
    levels: tuple[float, ...]  # the first is neutral: the images as they are
    apply: Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]


PERTURBATIONS = (
    Perturbation("rotation", "degrees", (0, 5, 10, 15, 20, 25, 30, 35, 40, 45),
                 lambda model, x, y, level: perturb.rotate(x, level)),
    Perturbation("shift", "pixels (right, down, left, up in turn)", (0, 1, 2, 3, 4, 5, 6),
                 lambda model, x, y, level: perturb.shift(x, int(level))),
    Perturbation("scale", "zoom factor", (1.0, 0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.3, 1.4),
                 lambda model, x, y, level: perturb.scale(x, level)),
    Perturbation("noise", "Gaussian sigma (ink 0 to 1)", (0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8),
                 lambda model, x, y, level: perturb.gaussian_noise(x, level)),
    Perturbation("thickness", "pixels per side (negative: thinner)", (0, -1, -0.5, 0.5, 1, 1.5, 2),
                 lambda model, x, y, level: perturb.thickness(x, level)),
    Perturbation("fgsm", "epsilon (ink 0 to 1)", (0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
                 lambda model, x, y, level: perturb.fgsm(model, x, y, level)),
)
STEPS = sum(len(p.levels) for p in PERTURBATIONS)


@dataclass(frozen=True)
class Curve:
    name: str
    unit: str
    levels: list[float]  # sorted
    accuracy: list[float]


@dataclass(frozen=True)
class Robustness:
    curves: list[Curve]
    images: int
    subset: str
    checkpoint: str  # which checkpoint, and its checksum: curves belong to one version of it
    seconds: float

    def curve(self, name: str) -> Curve:
        return next(curve for curve in self.curves if curve.name == name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Robustness:
        return cls(**{**data, "curves": [Curve(**curve) for curve in data["curves"]]})


def subset(split: Split, stride: int = SUBSET_STRIDE) -> Split:
    """The fixed subset the curves are measured on: every stride-th image."""
    return Split(split.images[::stride], split.labels[::stride])


def accuracy_under(model: nn.Module, data: Split, perturbation: Perturbation, level: float) -> float:
    """Accuracy on the perturbed images, batch by batch (FGSM needs each batch's gradient)."""
    correct = 0
    for start in range(0, len(data), BATCH):
        images, labels = data.images[start:start + BATCH], data.labels[start:start + BATCH]
        perturbed = perturbation.apply(model, images, labels, level)
        with torch.no_grad():
            correct += int((model(perturbed).argmax(1) == labels).sum())
    return correct / len(data)


def robustness_curves(model: nn.Module, data: Split, on_step: Callable[[int, int], None] | None = None
                      ) -> list[Curve]:
    """Every perturbation's curve; on_step(done, total) after each level."""
    model.eval()
    curves, done = [], 0
    for perturbation in PERTURBATIONS:
        accuracy = {}
        for level in perturbation.levels:
            accuracy[level] = accuracy_under(model, data, perturbation, level)
            done += 1
            if on_step is not None:
                on_step(done, STEPS)
        levels = sorted(accuracy)
        curves.append(Curve(perturbation.name, perturbation.unit, levels, [accuracy[x] for x in levels]))
    return curves
