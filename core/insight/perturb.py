"""Perturbations of a batch of normalized images, one level at a time, for robustness curves.

Every function leaves the images exactly as they are at its neutral level (0 degrees, 0 px, scale 1,
no noise, no thickness change, epsilon 0), so a curve starts at the plain accuracy.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from core.training.data import MEAN, STD

BACKGROUND = -MEAN / STD
# shift directions, taken in turn by image: right, down, left, up
DIRECTIONS = ((0, 1), (1, 0), (0, -1), (-1, 0))


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Normalized images -> ink in [0, 1]."""
    return images * STD + MEAN


def to_normalized(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels - MEAN) / STD


def _resample(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply (2, 3) affine matrices (source from output) to every image; the border stays background."""
    grid = F.affine_grid(theta.expand(len(images), 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images - BACKGROUND, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + BACKGROUND


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate every image counter-clockwise (as shown) by `degrees` about its center."""
    if degrees == 0:
        return images
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=images.dtype, device=images.device)
    return _resample(images, theta)


def scale(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom every image by `factor` about its center (below 1: smaller)."""
    if factor == 1:
        return images
    theta = torch.tensor([[1 / factor, 0.0, 0.0], [0.0, 1 / factor, 0.0]], dtype=images.dtype,
                         device=images.device)
    return _resample(images, theta)


def shift(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move each image by whole pixels, image i towards DIRECTIONS[i % 4]; what leaves is cut."""
    if pixels == 0:
        return images
    height, width = images.shape[-2:]
    padded = F.pad(images, (pixels,) * 4, value=BACKGROUND)
    moved = torch.empty_like(images)
    for index, (down, right) in enumerate(DIRECTIONS):
        top, left = pixels - down * pixels, pixels - right * pixels
        moved[index::4] = padded[index::4, :, top:top + height, left:left + width]
    return moved


def gaussian_noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Add N(0, sigma) noise to the ink (0 to 1 scale), the same noise on every call, clipped to [0, 1]."""
    if sigma == 0:
        return images
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed)).to(images.device)
    return to_normalized((to_pixels(images) + sigma * noise).clamp(0, 1))


def thickness(images: torch.Tensor, pixels: float) -> torch.Tensor:
    """Strokes `pixels` thicker on each side (negative: thinner), in half-pixel steps.

    Grey dilation or erosion by a 3x3 square on the image upsampled 2x, repeated, then averaged back
    down: each step moves a stroke's edge half a pixel.
    """
    steps = round(pixels * 2)
    if steps == 0:
        return images
    ink = F.interpolate(to_pixels(images), scale_factor=2, mode="bilinear", align_corners=False)
    for _ in range(abs(steps)):
        ink = F.max_pool2d(ink, 3, 1, 1) if steps > 0 else -F.max_pool2d(-ink, 3, 1, 1)
    return to_normalized(F.avg_pool2d(ink, 2))


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The fast gradient sign attack: each pixel's ink moved by epsilon (0 to 1 scale) up the loss, clipped."""
    if epsilon == 0:
        return images
    pixels = images.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(pixels), labels)
    # autograd.grad leaves the parameters' .grad alone
    (gradient,) = torch.autograd.grad(loss, pixels)
    return to_normalized((to_pixels(images) + epsilon * gradient.sign()).clamp(0, 1)).detach()
