"""Batch augmentation on a CPU: this project's one-warp augmentation vs kornia and torchvision's v2.

    python -m benchmarks.augment_speed
    python -m benchmarks.augment_speed --batch 128 --repeats 200

What the `drawn` preset asks for, on one batch of normalized MNIST images (B, 1, 28, 28): a random
rotation (+-10 degrees) and zoom (+-10%) and an elastic distortion, different for every image.
- project: core.training.augment: stroke thickness (an erosion or dilation blended in by a random
  amount per image), then rotation, zoom and elastic bends in one grid_sample.
- kornia: RandomAffine(degrees=10, scale=(0.9, 1.1)) then RandomElasticTransform, per image (same_on_batch
  False), plus the same thickness step (kornia has no random per-image thickness).
- torchvision v2: RandomAffine and ElasticTransform draw one set of parameters per call, so a
  per-image augmentation calls them once per image (a call on the whole batch would warp every image
  the same way).
Median milliseconds per batch; the share of a FastCNN training step (batch 128) is printed beside it.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from core.config import RunConfig
from core.training.augment import augment, random_thickness
from core.training.data import load_mnist_uint8, normalize
from core.training.models import FastCNN

SETTINGS = dict(augment_rotate=10.0, augment_scale=0.1, augment_thickness=0.7, augment_elastic=1.0)


def median_ms(work: Callable[[], object], repeats: int) -> float:
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def kornia_pipeline() -> Callable[[torch.Tensor], torch.Tensor] | None:
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    warp = torch.nn.Sequential(K.RandomAffine(degrees=10.0, scale=(0.9, 1.1), p=1.0),
                               K.RandomElasticTransform(kernel_size=(15, 15), sigma=(4.0, 4.0), alpha=(1.0, 1.0),
                                                        p=1.0))
    return lambda images: warp(random_thickness(images, 0.7))


def torchvision_pipeline() -> Callable[[torch.Tensor], torch.Tensor]:
    from torchvision.transforms import v2

    warp = v2.Compose([v2.RandomAffine(degrees=10.0, scale=(0.9, 1.1)), v2.ElasticTransform(alpha=8.0, sigma=4.0)])
    return lambda images: torch.stack([warp(image) for image in random_thickness(images, 0.7)])


def step_ms(images: torch.Tensor, repeats: int) -> float:
    """One FastCNN training step on the batch, for scale."""
    model = FastCNN()
    optimizer = torch.optim.Adam(model.parameters())
    labels = torch.randint(0, 10, (len(images),))

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return median_ms(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    images = normalize(load_mnist_uint8()["train_images"][:args.batch])
    config, generator = RunConfig(**SETTINGS), torch.Generator().manual_seed(0)
    step = step_ms(images, args.repeats // 2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {args.batch}; "
          f"a FastCNN training step takes {step:.2f} ms")
    torchvision = torchvision_pipeline()
    candidates = {"project (core.training.augment)": lambda: augment(images, config, generator),
                  "torchvision v2, per image": lambda: torchvision(images)}
    kornia = kornia_pipeline()
    if kornia is None:
        print("kornia is not installed (pip install kornia): left out")
    else:
        candidates["kornia"] = lambda: kornia(images)
    for name, work in candidates.items():
        ms = median_ms(work, args.repeats)
        print(f"  {name:<36} {ms:8.2f} ms a batch ({ms / step:6.1%} of a step)")


if __name__ == "__main__":
    main()
