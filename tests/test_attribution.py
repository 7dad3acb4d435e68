"""Class evidence from captum, checked against direct computations."""
from __future__ import annotations

import pytest
import torch

from core.config import MODELS, RunConfig
from core.insight.attribution import BACKGROUND, IG_STEPS, OCCLUSION_WINDOW, class_evidence
from core.training.data import normalize, synthetic_uint8
from core.training.models import build_model


@pytest.mark.parametrize("name", MODELS)
def test_the_three_methods_agree_with_direct_computations(name):
    torch.manual_seed(0)
    model = build_model(RunConfig(model=name)).eval()
    image = normalize(synthetic_uint8(test_size=1)["test_images"])  # a bright bar on a blank image
    target = 3
    evidence = class_evidence(model, image, target)
    pixels = image.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(pixels)[0, target], pixels)
    torch.testing.assert_close(torch.from_numpy(evidence["gradient"]), gradient.abs()[0, 0])
    with torch.no_grad():
        score = model(image)[0, target]
        blank = torch.full_like(image, BACKGROUND)
        corner = image.clone()
        corner[..., :OCCLUSION_WINDOW, :OCCLUSION_WINDOW] = BACKGROUND
        # pixel (0, 0) lies in one occlusion window only: its evidence is that window's drop in score
        assert evidence["occlusion"][0, 0] == pytest.approx(float(score - model(corner)[0, target]), abs=1e-4)
        # integrated gradients add up to the score's change from the blank image (completeness)
        change = float(score - model(blank)[0, target])
    total = float(evidence["integrated gradients"].sum())
    assert total == pytest.approx(change, rel=0.1), f"{IG_STEPS} steps"
