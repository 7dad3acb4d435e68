"""Inside a model: layer outputs, filters and hidden units checked against the layers computed directly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import MODELS, RunConfig
from core.insight.inside import look_inside
from core.insight.layers import first_filters, hidden_units, layer_outputs, tile, units_as_maps
from core.training.models import build_model


def model_of(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(RunConfig(model=name, hidden_sizes=(32,))).eval()
    with torch.no_grad():  # batch norm with statistics of its own, so it is not the identity
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture
def image() -> torch.Tensor:
    return torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def outputs_by_name(model, image) -> dict[str, np.ndarray]:
    return {layer.name: layer.values for layer in layer_outputs(model, image)}


def test_simplecnn_feature_maps_are_its_layers_own_outputs(image):
    model = model_of("cnn")
    seen = outputs_by_name(model, image)
    assert list(seen) == ["conv1", "pool", "conv2", "pool (2)", "fc1", "fc2"]  # the pool runs twice
    with torch.no_grad():
        conv1 = model.conv1(image)
        pooled = model.pool(torch.relu(conv1))
        conv2 = model.conv2(pooled)
    np.testing.assert_allclose(seen["conv1"], conv1[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(seen["pool"], pooled[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(seen["conv2"], conv2[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(seen["fc2"], model(image)[0].detach().numpy(), atol=1e-5)


def test_fastcnn_feature_maps_survive_the_inplace_relu(image):
    model = model_of("fastcnn")
    seen = outputs_by_name(model, image)
    assert len(seen) == 12 and seen["features.0"].shape == (16, 14, 14)
    with torch.no_grad():
        conv = model.features[0](image)
        normed = model.features[1](conv)
    # the in-place ReLU after batch norm would have overwritten a tensor kept by reference
    np.testing.assert_allclose(seen["features.0"], conv[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(seen["features.1"], normed[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(seen["features.2"], torch.relu(normed)[0].numpy(), atol=1e-5)
    assert (seen["features.1"] < 0).any()


def test_mlp_hidden_activations_are_the_relu_of_the_first_layer(image):
    model = model_of("mlp")
    seen = outputs_by_name(model, image)
    first = model.net[1]
    with torch.no_grad():
        direct = torch.relu(first(image.flatten(1)))[0].numpy()
    np.testing.assert_allclose(seen["net.2"], direct, atol=1e-5)
    units = hidden_units(model, image, count=5)
    np.testing.assert_allclose(units.activations, direct, atol=1e-5)
    assert list(units.top) == list(np.argsort(-direct, kind="stable")[:5])
    np.testing.assert_array_equal(units.weights, first.weight.detach().numpy()[units.top].reshape(5, 28, 28))


def test_first_filters_are_the_first_convolutions_weights():
    model = model_of("cnn")
    np.testing.assert_array_equal(first_filters(model), model.conv1.weight.detach()[:, 0].numpy())
    assert first_filters(model_of("fastcnn")).shape == (16, 4, 4)
    assert hidden_units(model, torch.zeros(1, 1, 28, 28)) is None


@pytest.mark.parametrize("name", MODELS)
def test_looking_inside_leaves_the_shared_model_untouched(name, image):
    model = model_of(name)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    view = look_inside(model, image)
    assert not model._forward_hooks and all(not m._forward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    with torch.no_grad():
        probabilities = model(image).softmax(1)[0]
    assert view.label == int(probabilities.argmax()) == view.target
    assert set(view.evidence) == {"gradient", "integrated gradients", "occlusion"}
    assert all(values.shape == (28, 28) for values in view.evidence.values())


def test_look_inside_refuses_a_model_in_training_mode(image):
    with pytest.raises(ValueError, match="eval mode"):
        look_inside(model_of("mlp").train(), image)


def test_tile_scales_each_map_to_its_own_range():
    maps = np.stack([np.full((3, 3), 5.0), np.arange(9.0).reshape(3, 3), -np.arange(9.0).reshape(3, 3)])
    grid = tile(maps, columns=2)
    assert grid.shape == (3 * 2 + 1, 3 * 2 + 1)
    assert np.all(grid[:3, :3] == 0)  # a flat map has no range: shown dark, not divided by zero
    np.testing.assert_allclose(grid[:3, 4:7], np.arange(9.0).reshape(3, 3) / 8)
    np.testing.assert_allclose(grid[4:7, :3], 1 - np.arange(9.0).reshape(3, 3) / 8)
    cells = units_as_maps(np.arange(10.0))
    assert cells.shape == (1, 3, 4) and np.isnan(cells.ravel()[10:]).all()  # two cells past the last unit
    grid = tile(cells)
    # the units scaled over their own range, the cells that are no unit left NaN: not shown as units that are off
    np.testing.assert_allclose(grid.ravel()[:10], np.arange(10.0) / 9)
    assert np.isnan(grid.ravel()[10:]).all()
