"""Batch-wise augmentations on normalized image tensors, drawn from the run's own generator.

One warp per batch does rotation, scale and elastic distortion together (an affine grid plus a smooth
random displacement, one `grid_sample`); stroke thickness is a grey erosion or dilation blended in
by a random amount per image. Hand-written rather than kornia or torchvision's v2 transforms because
it measured faster on a batch (benchmarks.augment_speed) and takes the run's generator, so a seed
still decides every augmented batch. The steps give what torch's max_pool2d, affine_grid and bicubic
interpolate give (to float rounding), computed in cheaper ways that measured several times faster on
a CPU batch of 128 (shifted maxima, one matrix product each).
"""
from __future__ import annotations

import math
from functools import cache

import torch
from torch.nn import functional as F

from core.config import IMAGE_AUGMENTATIONS, RunConfig
from core.training.data import MEAN, STD, random_shift

BACKGROUND = -MEAN / STD  # a blank MNIST pixel, normalized
ELASTIC_GRID = 4  # the random displacement is drawn on a 4x4 grid and smoothly upsampled: stroke-sized bends


def _uniform(n: int, bound: float, generator: torch.Generator | None) -> torch.Tensor:
    """n draws from U(-bound, bound) on the CPU (the run's generator lives there)."""
    return (torch.rand(n, generator=generator) * 2 - 1) * bound


def dilate(images: torch.Tensor) -> torch.Tensor:
    """Grey dilation by a 3x3 square: strokes one pixel thicker on each side (max_pool2d's values)."""
    padded = F.pad(images, (1, 1, 1, 1), value=-math.inf)
    rows = torch.maximum(torch.maximum(padded[..., :-2], padded[..., 1:-1]), padded[..., 2:])
    return torch.maximum(torch.maximum(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def erode(images: torch.Tensor) -> torch.Tensor:
    """Grey erosion by a 3x3 square: strokes one pixel thinner on each side."""
    return -dilate(-images)


def random_thickness(images: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image's strokes thinned or thickened by a random share of one erosion or dilation step."""
    if strength == 0:
        return images
    amount = _uniform(len(images), strength, generator).to(images.device)
    out = images.clone()
    for mask, extreme in ((amount > 0, dilate), (amount < 0, erode)):  # each image needs only one of them
        chosen, share = images[mask], amount[mask].abs().view(-1, 1, 1, 1)
        out[mask] = chosen + share * (extreme(chosen) - chosen)
    return out


def affine_matrices(n: int, degrees: float, scale: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 2, 3) matrices for affine_grid: a random rotation within +-degrees, zoom within 1 +- scale."""
    angle = _uniform(n, math.radians(degrees), generator)
    zoom = 1 + _uniform(n, scale, generator)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # the grid samples the source: inverse zoom
    zeros = torch.zeros(n)
    return torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)


@cache
def _base_grid(height: int, width: int) -> torch.Tensor:
    """(height * width, 3): each output pixel's centre as (x, y, 1) in grid units, align_corners=False."""
    ys, xs = torch.meshgrid((torch.arange(height) * 2 + 1) / height - 1, (torch.arange(width) * 2 + 1) / width - 1,
                            indexing="ij")
    return torch.stack([xs, ys, torch.ones_like(xs)], -1).view(height * width, 3)


def affine_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """F.affine_grid(theta, (n, 1, height, width), align_corners=False), as one matrix product."""
    n = len(theta)
    points = _base_grid(height, width) @ theta.transpose(1, 2).permute(1, 0, 2).reshape(3, n * 2)
    return points.view(height, width, n, 2).permute(2, 0, 1, 3)


@cache
def _bicubic_basis(size: int) -> torch.Tensor:
    """(grid cells, size * size): each coarse cell's bicubic upsampling to size x size, align_corners=True."""
    cells = torch.eye(ELASTIC_GRID ** 2).view(-1, 1, ELASTIC_GRID, ELASTIC_GRID)
    return F.interpolate(cells, size=(size, size), mode="bicubic", align_corners=True).view(ELASTIC_GRID ** 2, -1)


def elastic_displacement(n: int, size: int, pixels: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, size, size, 2) smooth random offsets in grid units, each at most `pixels` pixels."""
    coarse = _uniform(n * 2 * ELASTIC_GRID ** 2, 1.0, generator).view(n * 2, ELASTIC_GRID ** 2)
    smooth = (coarse @ _bicubic_basis(size)).view(n, 2, size, size).clamp(-1, 1)  # bicubic upsampling is linear
    return smooth.permute(0, 2, 3, 1) * (2 * pixels / size)


def random_warp(images: torch.Tensor, degrees: float, scale: float, elastic: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate, zoom and bend each image at random, in one resampling; the border stays background."""
    if degrees == 0 and scale == 0 and elastic == 0:
        return images
    n, _, height, width = images.shape
    theta = affine_matrices(n, degrees, scale, generator)
    grid = affine_grid(theta, height, width)
    if elastic:
        grid = grid + elastic_displacement(n, height, elastic, generator)
    warped = F.grid_sample(images - BACKGROUND, grid.to(images.device), mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    return warped + BACKGROUND


def augments(config: RunConfig) -> bool:
    """Whether the config asks for any augmentation at all."""
    return any(getattr(config, name) for name in IMAGE_AUGMENTATIONS)


def augment(images: torch.Tensor, config: RunConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """The config's augmentations of one batch, each drawn from the run's generator; none: the batch as is."""
    images = random_thickness(images, config.augment_thickness, generator)
    images = random_warp(images, config.augment_rotate, config.augment_scale, config.augment_elastic, generator)
    return random_shift(images, config.augment_shift, generator)
