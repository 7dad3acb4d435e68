"""Inside a model: every layer's output for one image, the first layer's filters, an MLP's hidden units."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# layers that change nothing at inference (dropout) or only the shape (flatten): not worth a grid
PASS_THROUGH = (nn.Dropout, nn.Flatten, nn.Identity)


@dataclass(frozen=True)
class LayerOutput:
    name: str  # the module's name in the model, with the call's number when it runs twice: "pool (2)"
    kind: str  # the module's class: Conv2d, ReLU, Linear...
    values: np.ndarray  # (C, H, W) feature maps or (units,) for a fully connected layer

    @property
    def is_maps(self) -> bool:
        return self.values.ndim == 3


def leaf_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that compute something (no children, not pass-through), in definition order."""
    return [(name, module) for name, module in model.named_modules()
            if not list(module.children()) and not isinstance(module, PASS_THROUGH)]


@torch.no_grad()
def layer_outputs(model: nn.Module, image: torch.Tensor) -> list[LayerOutput]:
    """Each layer's output for one normalized (1, 1, 28, 28) image, in the order the layers ran."""
    # hooks go on a private copy: a cached model is shared by every session's thread, and a hook on
    # it would also catch another session's forward pass
    model = copy.deepcopy(model).eval()
    outputs: list[LayerOutput] = []
    calls: dict[str, int] = {}

    def keep(name: str, module: nn.Module, output: torch.Tensor) -> None:
        calls[name] = calls.get(name, 0) + 1
        label = name if calls[name] == 1 else f"{name} ({calls[name]})"
        # a copy now: an in-place ReLU after this layer would overwrite the tensor
        values = output[0].detach().float().contiguous().cpu().numpy().copy()
        outputs.append(LayerOutput(label, type(module).__name__, values))

    handles = [module.register_forward_hook(lambda m, _, out, name=name: keep(name, m, out))
               for name, module in leaf_layers(model)]
    try:
        model(image.to(next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def first_layer(model: nn.Module) -> nn.Conv2d | nn.Linear:
    """The first layer with weights: a CNN's first convolution, an MLP's first Linear."""
    return next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def first_filters(model: nn.Module) -> np.ndarray:
    """The first layer's weights as images: (filters, k, k) for a conv, (units, 28, 28) for an MLP."""
    layer = first_layer(model)
    weights = layer.weight.detach().float().cpu()
    if isinstance(layer, nn.Conv2d):
        return weights.sum(dim=1).numpy()  # one input channel for MNIST: the sum is that channel
    return weights.reshape(len(weights), 28, 28).numpy()


@dataclass(frozen=True)
class HiddenUnits:
    """An MLP's first hidden layer for one image: every unit's activation, the top units' input weights."""
    activations: np.ndarray  # (units,) after the ReLU
    top: np.ndarray  # indices of the most active units, most active first
    weights: np.ndarray  # (len(top), 28, 28): what each of them looks for in the image


def hidden_units(model: nn.Module, image: torch.Tensor, count: int = 8) -> HiddenUnits | None:
    """The first hidden layer's activations and its most active units' input weights; None for a CNN."""
    layer = first_layer(model)
    if not isinstance(layer, nn.Linear):
        return None
    with torch.no_grad():
        pixels = image.reshape(1, -1).to(layer.weight.device)
        activations = torch.relu(layer(pixels))[0].float().cpu().numpy()
    top = np.argsort(-activations, kind="stable")[:count]
    return HiddenUnits(activations, top, first_filters(model)[top])


def tile(maps: np.ndarray, columns: int | None = None, gap: int = 1) -> np.ndarray:
    """(N, H, W) -> one grey image in [0, 1]: the maps in a grid, each scaled to its own range, 1 px apart."""
    count, height, width = maps.shape
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    # NaN marks a cell that is no unit (units_as_maps' padding): it stays NaN, for the page to set apart
    low = np.nan_to_num(np.nanmin(maps.reshape(count, -1), 1))[:, None, None]
    span = np.nan_to_num(np.nanmax(maps.reshape(count, -1), 1))[:, None, None] - low
    scaled = np.where(np.isnan(maps), np.nan, np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0))
    grid = np.ones((rows * (height + gap) - gap, columns * (width + gap) - gap), dtype=np.float32)
    for index, image in enumerate(scaled):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top:top + height, left:left + width] = image
    return grid


def unit_grid(count: int) -> tuple[int, int]:
    """(rows, columns) of the near-square grid that shows `count` units a cell each."""
    columns = int(np.ceil(np.sqrt(count)))
    return int(np.ceil(count / columns)) if count else 0, columns


def units_as_maps(values: np.ndarray) -> np.ndarray:
    """(units,) activations as one (1, rows, columns) map for a grid, its cells past the last unit NaN:
    padded with a value, they looked like units that were off."""
    rows, columns = unit_grid(len(values))
    padded = np.full(rows * columns, np.nan, dtype=np.float32)
    padded[:len(values)] = values
    return padded.reshape(1, rows, columns)
