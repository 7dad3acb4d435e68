"""Class evidence for one image by three methods, from captum: the plain gradient, integrated
gradients and occlusion. Positive evidence speaks for the class, negative against it."""
from __future__ import annotations

import copy

import numpy as np
import torch
from captum.attr import IntegratedGradients, Occlusion, Saliency
from torch import nn

from core.training.data import MEAN, STD

BACKGROUND = -MEAN / STD  # a blank pixel: the baseline the evidence is measured against
IG_STEPS = 32
OCCLUSION_WINDOW = 4  # pixels of a square patch set to background...
OCCLUSION_STRIDE = 2  # ...every 2 pixels: 13x13 patches
METHODS = ("gradient", "integrated gradients", "occlusion")
METHOD_HELP = {
    "gradient": "|d class score / d pixel|: where a small change moves the score most",
    "integrated gradients": f"gradients summed along {IG_STEPS} steps from a blank image to this one, "
                            "times the pixel's change: each pixel's share of the class score",
    "occlusion": f"how much the class score drops when a {OCCLUSION_WINDOW}x{OCCLUSION_WINDOW} patch around "
                 "a pixel is blanked out",
}


def _private(model: nn.Module) -> nn.Module:
    # captum hooks and batches its inputs; a cached model is shared by every session's thread
    return copy.deepcopy(model).eval()


def class_evidence(model: nn.Module, image: torch.Tensor, target: int) -> dict[str, np.ndarray]:
    """Each method's (28, 28) attribution for the target class of one normalized (1, 1, 28, 28) image."""
    model = _private(model)
    image = image.to(next(model.parameters()).device).detach()
    baseline = torch.full_like(image, BACKGROUND)
    gradient = Saliency(model).attribute(image.clone().requires_grad_(True), target=target, abs=True)
    integrated = IntegratedGradients(model).attribute(image, baselines=baseline, target=target, n_steps=IG_STEPS)
    occlusion = Occlusion(model).attribute(
        image, sliding_window_shapes=(1, OCCLUSION_WINDOW, OCCLUSION_WINDOW),
        strides=(1, OCCLUSION_STRIDE, OCCLUSION_STRIDE), baselines=BACKGROUND, target=target,
        perturbations_per_eval=64)
    return {name: values[0, 0].detach().float().cpu().numpy()
            for name, values in zip(METHODS, (gradient, integrated, occlusion))}
