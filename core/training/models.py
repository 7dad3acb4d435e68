"""Models by name: the labs' MLP and SimpleCNN, and a small fast CNN for CPUs."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from core.config import RunConfig, class_names, input_size


class Standardize(nn.Module):
    """(x - mean) / std per input column, with the training split's statistics kept as buffers.

    Inside the model, so a checkpoint (and its ONNX export) takes a table's raw values.
    """

    def __init__(self, width: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))

    @torch.no_grad()
    def fit(self, rows: torch.Tensor) -> None:
        """Take the mean and the (population) std of rows (N, width); a constant column keeps std 1.

        In float64: a float32 variance overflows for values past about 1e19, whose std float32 still holds."""
        rows = rows.detach().to("cpu", torch.float64)  # some devices (Apple's MPS) have no float64
        std = rows.std(dim=0, correction=0)
        self.mean.copy_(rows.mean(dim=0))
        self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MLP(nn.Module):
    """inputs -> hidden sizes (ReLU) -> classes; the labs' default is 784-128-10.

    For a table, standardize=True puts a Standardize layer first; images have none (not even an
    identity call per batch), so MNIST checkpoints keep their keys and steps their speed.
    """

    def __init__(self, hidden_sizes: tuple[int, ...] = (128,), inputs: int = 28 * 28, classes: int = 10,
                 standardize: bool = False):
        super().__init__()
        self.scale = Standardize(inputs) if standardize else None
        layers: list[nn.Module] = [nn.Flatten()]
        width = inputs
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x if self.scale is None else self.scale(x))


class SimpleCNN(nn.Module):
    """The labs' SimpleCNN, layer for layer: 421,642 parameters (the lab text says 421,226)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)
        # same layers and weights; oneDNN runs them about 1.25x faster on a CPU in NHWC layout
        # (benchmarks.cpu_tricks), and flatten below still reads (C, H, W) order
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # (B, 32, 14, 14)
        x = self.pool(torch.relu(self.conv2(x)))  # (B, 64, 7, 7)
        x = self.dropout1(x).flatten(1)           # (B, 3136)
        x = self.dropout2(torch.relu(self.fc1(x)))
        return self.fc2(x)


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    # pooled before the ReLU: max and ReLU commute, so the outputs and gradients are the same to the bit
    # (and the state_dict's keys too), with the ReLU on a quarter of the values: 2.6-4% off a
    # FastCNN step on a CPU (benchmarks.cpu_tricks)
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.MaxPool2d(2), nn.ReLU(inplace=True)]


class FastCNN(nn.Module):
    """A strided 4x4 stem to 14x14, then two conv-BN-pool-ReLU blocks: 29,290 parameters.

    About 1.9M multiply-adds per image (SimpleCNN: 4.2M). The stem replaces a full-size 3x3 conv
    and pool, so no 28x28 activation is ever stored. The weights are kept channels_last (NHWC) and
    the activations follow: oneDNN trains it about 1.16x faster so on a CPU (benchmarks.cpu_tricks).
    """

    def __init__(self, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),                # (B, w, 14, 14)
            *_conv_block(width, 2 * width),       # (B, 2w, 7, 7)
            *_conv_block(2 * width, 4 * width),   # (B, 4w, 3, 3)
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * width * 9, 10))
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FastCNN24(FastCNN):
    """FastCNN on the central 24x24 pixels: the same 29,290 parameters, 0.73x the multiply-adds.

    MNIST's digits are scaled into a 20x20 box and centred by mass in the 28x28 image, so its
    2-pixel border is nearly always background. Without it every layer works on 0.73x the pixels
    (24 -> 12 -> 6 -> 3, the same head). One epoch reaches 99% test accuracy, as FastCNN's
    does not (the `fast-99` preset); the `drawn` preset's 15 epochs take 54-59 s with it on a
    2-core CPU (benchmarks.drawn_style). It still takes 28x28 images, as every model here does, so
    augmentations, Draw and the Inside page work on the whole image.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x[:, :, 2:-2, 2:-2])


MODEL_BUILDERS: dict[str, Callable[[RunConfig], nn.Module]] = {
    "mlp": lambda config: MLP(config.hidden_sizes, input_size(config), len(class_names(config)),
                              standardize=config.csv is not None),
    "cnn": lambda config: SimpleCNN(),
    "fastcnn": lambda config: FastCNN(),
    "fastcnn24": lambda config: FastCNN24(),
}

MODEL_DESCRIPTIONS = {
    "mlp": "MLP: 784 -> hidden -> 10, the labs' first model (a table's columns -> hidden -> its classes)",
    "cnn": "SimpleCNN: the labs' two-conv network, 421,642 parameters",
    "fastcnn": "FastCNN: strided stem and two conv-BN blocks, 29,290 parameters, the most accuracy per CPU second",
    "fastcnn24": "FastCNN24: FastCNN on the central 24x24 pixels, 0.73x its compute, 99% in one CPU epoch",
}


def build_model(config: RunConfig) -> nn.Module:
    """A fresh model for the config's model name."""
    return MODEL_BUILDERS[config.model](config)


def fit_input_scale(model: nn.Module, rows: torch.Tensor) -> None:
    """Standardise a table model's inputs with these (training) rows; image models have nothing to fit."""
    scale = getattr(model, "scale", None)
    if isinstance(scale, Standardize):
        scale.fit(rows)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
