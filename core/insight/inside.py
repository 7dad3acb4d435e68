"""Everything the Inside page shows of one model for one image, computed in one call."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.insight.attribution import class_evidence
from core.insight.inference import predict_probabilities
from core.insight.layers import HiddenUnits, LayerOutput, first_filters, hidden_units, layer_outputs


@dataclass(frozen=True)
class InsideView:
    probabilities: list[float]
    target: int  # the class the evidence is for: the prediction unless another was asked for
    evidence: dict[str, np.ndarray]  # method -> (28, 28)
    layers: list[LayerOutput]
    filters: np.ndarray  # the first layer's weights as images
    hidden: HiddenUnits | None  # an MLP's first hidden layer

    @property
    def label(self) -> int:
        return int(np.argmax(self.probabilities))


def look_inside(model: nn.Module, image: torch.Tensor, target: int | None = None) -> InsideView:
    """One model's prediction, class evidence, layer outputs and first-layer weights for a (1, 1, 28, 28) image."""
    if model.training:
        raise ValueError("model: put it in eval mode first (dropout and batch norm change the answer)")
    image = image.to(next(model.parameters()).device)
    probabilities = predict_probabilities(model, image)[0].cpu().tolist()
    target = int(np.argmax(probabilities)) if target is None else target
    return InsideView(probabilities, target, class_evidence(model, image, target), layer_outputs(model, image),
                      first_filters(model), hidden_units(model, image))
