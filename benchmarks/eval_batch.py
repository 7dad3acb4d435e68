"""How many images an evaluation's forward pass should take at a time, per model, on this machine.

    python -m benchmarks.eval_batch                 # 10,000 images, batches of 64 to 1000, fastest of 3

Every evaluation (validation each epoch, the test set, the drawn-style test, the robustness curves)
runs the model in eval mode over thousands of images, EVAL_BATCH (core/training/evaluation.py) at a
time. The batch sizes are timed in turn, --repeats times, and the fastest of each kept.
"""
from __future__ import annotations

import argparse
import time

import torch

from core.config import RunConfig
from core.training.evaluation import EVAL_BATCH, predict_logits
from core.training.models import build_model


def seconds(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> float:
    started = time.perf_counter()
    predict_logits(model, images, batch_size)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["fastcnn24", "fastcnn", "cnn", "mlp"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 256, 512, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    images = torch.randn(10_000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    print(f"10,000 images, milliseconds (fastest of {args.repeats}); EVAL_BATCH is {EVAL_BATCH}")
    print(f"{'model':<10}" + "".join(f"{size:>8}" for size in args.sizes))
    for name in args.models:
        model = build_model(RunConfig(model=name))
        times: dict[int, list[float]] = {size: [] for size in args.sizes}
        for _ in range(args.repeats):  # sizes in turn, so that a busy moment hurts them alike
            for size in args.sizes:
                times[size].append(seconds(model, images, size))
        best = {size: min(taken) for size, taken in times.items()}
        print(f"{name:<10}" + "".join(f"{1000 * best[size]:>8.0f}" for size in args.sizes), flush=True)


if __name__ == "__main__":
    main()
