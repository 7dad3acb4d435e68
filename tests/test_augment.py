"""Batch augmentations: neutral settings change nothing, a seed decides every batch, each does what it says."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn import functional as F

from core.config import ConfigError, RunConfig
from core.training.augment import (
    BACKGROUND,
    ELASTIC_GRID,
    affine_grid,
    affine_matrices,
    augment,
    augments,
    dilate,
    elastic_displacement,
    erode,
    random_thickness,
    random_warp,
)
from core.training.data import normalize, synthetic_uint8
from core.training.loop import prepare, train

DRAWN_LIKE = dict(augment_shift=2, augment_rotate=10.0, augment_scale=0.1, augment_thickness=0.7,
                  augment_elastic=1.0)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return normalize(synthetic_uint8(test_size=16)["test_images"])


def test_no_augmentation_is_the_batch_itself(batch):
    assert augment(batch, RunConfig(), torch.Generator().manual_seed(0)) is batch


def test_the_same_seed_gives_the_same_augmented_batch(batch):
    config = RunConfig(**DRAWN_LIKE)
    first = augment(batch, config, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, augment(batch, config, torch.Generator().manual_seed(5)))
    assert not torch.allclose(first, augment(batch, config, torch.Generator().manual_seed(6)))
    assert not torch.allclose(first, batch)


def test_the_cheaper_steps_give_what_torchs_own_operations_give(batch):
    torch.testing.assert_close(dilate(batch), F.max_pool2d(batch, 3, stride=1, padding=1), rtol=0, atol=0)
    torch.testing.assert_close(erode(batch), -F.max_pool2d(-batch, 3, stride=1, padding=1), rtol=0, atol=0)
    theta = affine_matrices(16, 30.0, 0.2, torch.Generator().manual_seed(1))
    torch.testing.assert_close(affine_grid(theta, 28, 20), F.affine_grid(theta, [16, 1, 28, 20], align_corners=False))
    coarse = torch.rand(32, 2, ELASTIC_GRID, ELASTIC_GRID, generator=torch.Generator().manual_seed(2)) * 2 - 1
    expected = F.interpolate(coarse, size=(28, 28), mode="bicubic", align_corners=True).clamp(-1, 1)
    expected = expected.permute(0, 2, 3, 1) * (2 * 1.5 / 28)
    torch.testing.assert_close(elastic_displacement(32, 28, 1.5, torch.Generator().manual_seed(2)), expected)


def test_thickness_lies_between_one_erosion_and_one_dilation(batch):
    thick = dilate(batch)
    assert (thick >= batch).all() and (erode(batch) <= batch).all()
    assert float(thick.sum()) > float(batch.sum())
    mixed = random_thickness(batch, 1.0, torch.Generator().manual_seed(0))
    lower, upper = erode(batch), dilate(batch)
    assert ((mixed >= lower - 1e-6) & (mixed <= upper + 1e-6)).all()  # between thinnest and thickest


def test_warp_keeps_a_blank_border_blank_and_the_ink_roughly(batch):
    batch = torch.where(batch > 2, batch, torch.full_like(batch, BACKGROUND))  # the bars without the noise
    warped = random_warp(batch, 15.0, 0.1, 1.0, torch.Generator().manual_seed(0))
    assert warped.shape == batch.shape
    torch.testing.assert_close(warped[..., 0, 0], torch.full_like(warped[..., 0, 0], BACKGROUND))
    ink, warped_ink = (batch - BACKGROUND).sum(), (warped - BACKGROUND).sum()
    assert 0.7 < float(warped_ink / ink) < 1.3


def test_augmented_training_is_reproducible_from_the_seed(synthetic_arrays, tiny_data):
    config = RunConfig(model="mlp", dataset="synthetic", epochs=1, batch_size=32, val_size=100, **DRAWN_LIKE)

    def losses() -> list[float]:
        state = prepare(config, tiny_data, torch.device("cpu"))
        return [event.loss for event in train(config, tiny_data, state) if hasattr(event, "loss")]

    assert losses() == losses()


@pytest.mark.parametrize("field, value", [("augment_rotate", 46.0), ("augment_scale", -0.1),
                                          ("augment_thickness", 1.5), ("augment_elastic", 5.0)])
def test_out_of_range_augmentation_names_the_setting(field, value):
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(RunConfig(), **{field: value})


def test_augments_says_whether_any_augmentation_is_asked_for():
    assert not augments(RunConfig())
    for name, value in {"augment_shift": 1, "augment_rotate": 5.0, "augment_scale": 0.1, "augment_thickness": 0.5,
                        "augment_elastic": 1.0}.items():
        assert augments(RunConfig(**{name: value})), name
