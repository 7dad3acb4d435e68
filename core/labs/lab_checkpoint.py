"""A checkpoint the labs' own scripts saved, read as one of this project's: it holds no settings, so its model
is known by its weights' shapes. The labs' SimpleCNN has this project's layer names; an MLP's Linear layers are
matched in order, whatever the lab named them. Both took MNIST normalized with its mean and std, as here."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from core.config import RunConfig
from core.training.models import SimpleCNN, build_model

IMAGE_INPUTS, CLASSES = 28 * 28, 10


def adopted(data: Any) -> dict | None:
    """The labs' checkpoint ({model_state_dict, optimizer_state_dict, epoch, loss, accuracy}, or a bare
    state_dict) with the config and layer names of the model its weights fit; None when they fit none."""
    if not isinstance(data, Mapping) or "config" in data:
        return None
    state = data.get("model_state_dict", data)
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None
    config = lab_config(state)
    if config is None:
        return None
    epoch = data.get("epoch", 0) if "model_state_dict" in data else 0
    kept = {key: data[key] for key in ("loss", "accuracy") if key in data and "model_state_dict" in data}
    return {**kept, "model_state_dict": renamed(state, config), "config": config.to_dict(),
            "epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else 0}


def lab_config(state: Mapping[str, torch.Tensor]) -> RunConfig | None:
    """The settings of the labs' model whose weights these are: the SimpleCNN, or an MLP from 784 inputs to 10
    classes (its hidden sizes read off its Linear layers); None for any other weights."""
    if _shapes(state) == _shapes(SimpleCNN().state_dict()) and list(state) == list(SimpleCNN().state_dict()):
        return RunConfig(model="cnn")
    widths = _linear_widths(state)
    if widths and widths[0] == IMAGE_INPUTS and widths[-1] == CLASSES:
        return RunConfig(model="mlp", hidden_sizes=tuple(widths[1:-1]))
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
