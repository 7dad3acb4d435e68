"""A checkpoint the labs' own scripts saved, read as one of this project's: it holds no settings, so its model
is known by its weights' shapes. The labs' SimpleCNN has this project's layer names; an MLP's Linear layers are
matched in order, whatever the lab named them. Both took MNIST normalized with its mean and std, as here."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from core.config import ConfigError, RunConfig
from core.training.models import SimpleCNN, build_model

IMAGE_INPUTS, CLASSES = 28 * 28, 10


# what `test` and `export` say of a checkpoint whose settings were read off its weights
INFERRED = ("its settings were inferred from its weights: the labs' {model}, with ReLU and MNIST's mean and std "
            "normalisation, as the labs train it; a model trained otherwise would score less here")


def adopted(data: Any) -> dict | None:
    """The labs' checkpoint ({model_state_dict, optimizer_state_dict, epoch, ...}, or a bare state_dict) with the
    config and layer names of the model its weights fit, and `inferred` saying so; None when they fit none.
    Its loss and accuracy are left out: a lab may keep a tensor there, or a percent, and the model needs neither."""
    if not isinstance(data, Mapping) or "config" in data:
        return None
    state = data.get("model_state_dict", data)
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None
    config = lab_config(state)
    if config is None:
        return None
    epoch = data.get("epoch", 0) if "model_state_dict" in data else 0
    return {"model_state_dict": renamed(state, config), "config": config.to_dict(),
            "epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else 0,
            "inferred": INFERRED.format(model="SimpleCNN" if config.model == "cnn" else "MLP")}


def lab_config(state: Mapping[str, torch.Tensor]) -> RunConfig | None:
    """The settings of the labs' model whose weights these are: the SimpleCNN, or an MLP from 784 inputs to 10
    classes (its hidden sizes read off its Linear layers, within what an MLP here may have); None for others."""
    if _shapes(state) == _shapes(SimpleCNN().state_dict()) and list(state) == list(SimpleCNN().state_dict()):
        return RunConfig(model="cnn")
    widths = _linear_widths(state)
    if not widths or widths[0] != IMAGE_INPUTS or widths[-1] != CLASSES:
        return None
    try:
        return RunConfig(model="mlp", hidden_sizes=tuple(widths[1:-1]))
    except ConfigError:  # more layers, or wider ones, than an MLP here has
        return None


def renamed(state: Mapping[str, torch.Tensor], config: RunConfig) -> dict[str, torch.Tensor]:
    """The weights under this project's layer names, taken in order (the lab's MLP may name its layers fc1, fc2)."""
    names = list(build_model(config).state_dict())
    return dict(zip(names, state.values()))


def _shapes(state: Mapping[str, torch.Tensor]) -> list[tuple[int, ...]]:
    return [tuple(tensor.shape) for tensor in state.values()]


def _linear_widths(state: Mapping[str, torch.Tensor]) -> list[int] | None:
    """[inputs, hidden..., outputs] of weights that are Linear layers' (weight, bias) pairs in a chain; else None."""
    shapes = _shapes(state)
    if len(shapes) < 4 or len(shapes) % 2:
        return None
    widths = [shapes[0][1]] if len(shapes[0]) == 2 else None
    for weight, bias in zip(shapes[::2], shapes[1::2]):
        if widths is None or len(weight) != 2 or bias != (weight[0],) or weight[1] != widths[-1]:
            return None
        widths.append(weight[0])
    return widths
