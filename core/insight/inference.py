"""A model's answer for one image: class probabilities and a gradient saliency map."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LOW_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]  # softmax over the 10 digits
    saliency: list[list[float]]  # (28, 28), |d top logit / d pixel| scaled to [0, 1]

    @property
    def label(self) -> int:
        return max(range(len(self.probabilities)), key=self.probabilities.__getitem__)

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


@torch.no_grad()
def predict_probabilities(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities (N, 10) for normalized images (N, 1, 28, 28)."""
    return model(image).softmax(dim=1)


def saliency_map(model: nn.Module, image: torch.Tensor, target: int | None = None) -> torch.Tensor:
    """|gradient| of the target class logit (the top class by default) w.r.t. a (1, 1, 28, 28) input."""
    pixels = image.detach().clone().requires_grad_(True)
    logits = model(pixels)
    target = int(logits.argmax(dim=1)[0]) if target is None else target
    # autograd.grad leaves the parameters' .grad untouched: the model may be shared between sessions
    (gradient,) = torch.autograd.grad(logits[0, target], pixels)
    saliency = gradient.abs()[0, 0]  # (28, 28)
    peak = saliency.max()
    return saliency / peak if peak > 0 else saliency


def predict(model: nn.Module, image: torch.Tensor) -> Prediction:
    """Probabilities and the top class's saliency for one normalized (1, 1, 28, 28) image."""
    if model.training:
        raise ValueError("model: put it in eval mode first (dropout and batch norm change the answer)")
    device = next(model.parameters()).device
    image = image.to(device)
    probabilities = predict_probabilities(model, image)[0]
    saliency = saliency_map(model, image, int(probabilities.argmax()))
    return Prediction(probabilities.cpu().tolist(), saliency.cpu().tolist())
