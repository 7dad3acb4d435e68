"""Perturbations and robustness curves, checked against direct computations."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from core.config import MODELS, RunConfig
from core.insight import perturb
from core.insight.robustness import PERTURBATIONS, STEPS, robustness_curves, subset
from core.training.data import build_datasets, synthetic_uint8
from core.training.evaluation import loss_and_accuracy
from core.training.events import RunEnded
from core.training.loop import prepare, train
from core.training.models import build_model

BLANK = perturb.to_normalized(torch.zeros(()))


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """Eight synthetic images, normalized: bars on a blank background."""
    images = synthetic_uint8(test_size=8)["test_images"]
    return perturb.to_normalized(images.float().unsqueeze(1) / 255)


def test_a_quarter_turn_is_rot90(digits):
    torch.testing.assert_close(perturb.rotate(digits, 90), torch.rot90(digits, 1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_shift_moves_each_image_by_whole_pixels_in_turn(digits):
    moved = perturb.shift(digits, 3)
    right = F.pad(digits[0:1], (3, 0, 0, 0), value=float(BLANK))[..., :, :28]
    down = F.pad(digits[1:2], (0, 0, 3, 0), value=float(BLANK))[..., :28, :]
    left = F.pad(digits[2:3], (0, 3, 0, 0), value=float(BLANK))[..., :, 3:]
    up = F.pad(digits[3:4], (0, 0, 0, 3), value=float(BLANK))[..., 3:, :]
    for index, expected in enumerate([right, down, left, up]):
        torch.testing.assert_close(moved[index:index + 1], expected)


def test_scale_shrinks_the_ink_about_the_center(digits):
    ink = perturb.to_pixels(digits).sum()
    assert perturb.to_pixels(perturb.scale(digits, 0.5)).sum() == pytest.approx(float(ink) / 4, rel=0.05)
    torch.testing.assert_close(perturb.scale(digits, 2.0)[..., 13:15, 13:15],
                               F.interpolate(digits, scale_factor=2, mode="bilinear")[..., 27:29, 27:29],
                               atol=0.2, rtol=0)


def test_thickness_grows_and_thins_strokes_and_noise_is_repeatable(digits):
    ink = [float(perturb.to_pixels(perturb.thickness(digits, level)).sum()) for level in (-1, -0.5, 0, 0.5, 1)]
    assert ink == sorted(ink) and ink[0] < ink[2] < ink[4]
    noisy = perturb.gaussian_noise(digits, 0.3)
    torch.testing.assert_close(noisy, perturb.gaussian_noise(digits, 0.3))
    assert perturb.to_pixels(noisy).min() >= -1e-6 and perturb.to_pixels(noisy).max() <= 1 + 1e-6


def test_every_perturbation_leaves_images_alone_at_its_neutral_level(digits):
    model = build_model(RunConfig(model="mlp")).eval()
    labels = torch.zeros(len(digits), dtype=torch.long)
    for perturbation in PERTURBATIONS:
        assert perturbation.apply(model, digits, labels, perturbation.levels[0]) is digits, perturbation.name


def test_fgsm_moves_each_pixel_by_epsilon_up_the_loss(digits):
    torch.manual_seed(0)
    model = build_model(RunConfig(model="fastcnn")).eval()
    labels = torch.arange(len(digits)) % 10
    pixels = digits.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(F.cross_entropy(model(pixels), labels), pixels)
    expected = perturb.to_normalized((perturb.to_pixels(digits) + 0.1 * gradient.sign()).clamp(0, 1))
    torch.testing.assert_close(perturb.fgsm(model, digits, labels, 0.1), expected)
    assert all(p.grad is None for p in model.parameters())


@pytest.fixture(scope="module")
def trained():
    """Each model trained one epoch on the synthetic bars, and the fixed test subset."""
    arrays = synthetic_uint8()
    models = {}
    for name in MODELS:
        config = RunConfig(model=name, dataset="synthetic", epochs=1, batch_size=32, val_size=100, device="cpu")
        data = build_datasets(arrays, config.val_size, config.seed)
        state = prepare(config, data, torch.device("cpu"))
        assert isinstance(list(train(config, data, state))[-1], RunEnded)
        models[name] = state.model.eval()
    return models, subset(data.test)


@pytest.mark.parametrize("name", MODELS)
def test_curves_start_at_the_plain_accuracy_and_fgsm_brings_it_down(trained, name):
    models, test = trained
    model = models[name]
    steps = []
    curves = {curve.name: curve for curve in robustness_curves(model, test, lambda done, total: steps.append(done))}
    assert steps == list(range(1, STEPS + 1)) and len(test) == 40
    _, clean = loss_and_accuracy(model, test)
    assert curves["rotation"].accuracy[0] == pytest.approx(clean)  # 0 degrees
    assert curves["fgsm"].levels[0] == 0 and curves["fgsm"].accuracy[0] == pytest.approx(clean)
    assert curves["scale"].accuracy[curves["scale"].levels.index(1.0)] == pytest.approx(clean)
    assert all(curve.levels == sorted(curve.levels) for curve in curves.values())
    assert clean > 0.9 and curves["fgsm"].accuracy[-1] < clean  # the attack works on a model that learned
