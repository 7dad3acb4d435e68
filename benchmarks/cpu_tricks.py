"""What helps a CPU epoch? The compute floor of a model under each trick, on ready in-memory tensors.

    python -m benchmarks.cpu_tricks                      # SimpleCNN at batch 64 and FastCNN at batch 128
    python -m benchmarks.cpu_tricks --steps 400 --repeats 3

Each variant trains --steps batches (forward, backward, optimizer step; no data pipeline, no events)
from the same weights; variants are interleaved --repeats times and the fastest kept, so a busy
moment on the machine hurts every variant alike. A variant is kept in core/ only where it helps.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.training.models import FastCNN, SimpleCNN


@dataclass(frozen=True)
class Variant:
    name: str
    channels_last: bool = False
    adam: dict | None = None      # extra Adam arguments (foreach, fused)
    threads: int | None = None
    relu_before_pool: bool = False  # FastCNN's blocks in their earlier order: ReLU, then max-pool


VARIANTS = [
    Variant("baseline: NCHW, Adam default (foreach)"),
    Variant("channels_last", channels_last=True),
    Variant("Adam foreach=False (per-parameter loop)", adam={"foreach": False}),
    Variant("Adam fused=True", adam={"fused": True}),
    Variant("1 thread", threads=1),
]
FASTCNN_VARIANTS = [Variant("channels_last, ReLU before max-pool", channels_last=True, relu_before_pool=True)]


def relu_before_pool(model: nn.Module) -> nn.Module:
    """The same model with each max-pool and the ReLU after it swapped back: the same function, more work."""
    layers = list(model.features)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    model.features = nn.Sequential(*layers)
    return model


def step_seconds(build: Callable[[], nn.Module], variant: Variant, batch: int, steps: int) -> float:
    """Seconds for `steps` training steps of a fresh model under the variant."""
    torch.manual_seed(0)
    memory_format = torch.channels_last if variant.channels_last else torch.contiguous_format
    model = build().to(memory_format=memory_format).train()
    if variant.relu_before_pool:
        model = relu_before_pool(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **(variant.adam or {}))
    images = torch.randn(steps, batch, 1, 28, 28)
    labels = torch.randint(0, 10, (steps, batch))
    threads = torch.get_num_threads()
    torch.set_num_threads(variant.threads or threads)
    try:
        started = time.perf_counter()
        for x, y in zip(images, labels):
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x.contiguous(memory_format=memory_format)), y).backward()
            optimizer.step()
        return time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)


def compare(title: str, build: Callable[[], nn.Module], batch: int, steps: int, repeats: int,
            variants: list[Variant] = VARIANTS) -> None:
    best = {v.name: float("inf") for v in variants}
    for _ in range(repeats):
        for variant in variants:
            best[variant.name] = min(best[variant.name], step_seconds(build, variant, batch, steps))
    baseline = best[variants[0].name]
    epoch_steps = 60_000 / batch
    print(f"\n{title}, batch {batch}: {steps} steps, fastest of {repeats}; per-epoch figure scaled to 60,000 images")
    for name, seconds in best.items():
        print(f"  {name:<42} {1000 * seconds / steps:7.2f} ms/step  {seconds / steps * epoch_steps:6.1f} s/epoch"
              f"  {baseline / seconds:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    compare("SimpleCNN", SimpleCNN, 64, args.steps, args.repeats)
    # FastCNN puts itself in channels_last; the baseline row turns it back to NCHW
    compare("FastCNN", FastCNN, 128, args.steps, args.repeats, VARIANTS + FASTCNN_VARIANTS)


if __name__ == "__main__":
    main()
