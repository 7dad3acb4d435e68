import copy
import math

import pytest
import torch
from torch import nn

from core.config import MODELS, RunConfig
from core.training.models import MLP, FastCNN, FastCNN24, SimpleCNN, build_model, count_parameters


@pytest.mark.parametrize("name", MODELS)
def test_models_map_a_batch_of_images_to_ten_logits(name):
    model = build_model(RunConfig(model=name))
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("cls", [SimpleCNN, FastCNN, FastCNN24])
def test_channels_last_layout_is_only_a_speed_choice(cls):
    """The conv models keep NHWC weights for oneDNN; a labs-style NCHW copy computes the same logits."""
    model = cls().eval()
    last_conv = [w for w in model.state_dict().values() if w.dim() == 4][-1]  # (out, in > 1, k, k)
    assert last_conv.is_contiguous(memory_format=torch.channels_last) and not last_conv.is_contiguous()
    nchw = cls().eval()
    nchw.load_state_dict(model.state_dict())
    nchw.to(memory_format=torch.contiguous_format)
    images = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(model(images), nchw(images), rtol=1e-4, atol=1e-5)


def test_parameter_counts():
    # SimpleCNN: conv1 320 + conv2 18,496 + fc1 401,536 + fc2 1,290 (the lab text's 421,226 is wrong)
    assert count_parameters(SimpleCNN()) == 421_642
    assert count_parameters(MLP((128,))) == 784 * 128 + 128 + 128 * 10 + 10
    assert count_parameters(MLP((64, 32))) == 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    assert 0 < count_parameters(FastCNN()) == count_parameters(FastCNN24()) < count_parameters(SimpleCNN())


@pytest.mark.parametrize("name", MODELS)
def test_loss_at_initialization_is_near_ln_10(name):
    torch.manual_seed(0)
    model = build_model(RunConfig(model=name)).eval()
    images, labels = torch.randn(256, 1, 28, 28), torch.randint(0, 10, (256,))
    loss = nn.functional.cross_entropy(model(images), labels).item()
    assert abs(loss - math.log(10)) < 0.25


@pytest.mark.parametrize("name", MODELS)
def test_a_model_can_overfit_one_small_batch(name):
    torch.manual_seed(0)
    model = build_model(RunConfig(model=name))
    model.eval()  # no dropout: the point is capacity and wiring, not regularization
    images, labels = torch.randn(16, 1, 28, 28), torch.arange(16) % 10
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    assert (model(images).argmax(1) == labels).all()


def test_fastcnn_pools_before_its_relus_with_the_same_outputs_and_gradients_to_the_bit():
    """Max and ReLU commute: the cheaper order computes exactly what conv-BN-ReLU-pool did."""
    torch.manual_seed(0)
    pooled_first = FastCNN()
    relu_first = copy.deepcopy(pooled_first)
    layers = list(relu_first.features)
    swaps = [i for i in range(len(layers) - 1)
             if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU)]
    assert len(swaps) == 2
    for i in swaps:
        layers[i], layers[i + 1] = layers[i + 1], layers[i]
    relu_first.features = nn.Sequential(*layers)
    images, labels = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for model in (pooled_first, relu_first):
        nn.functional.cross_entropy(model(images), labels).backward()
    assert torch.equal(pooled_first(images), relu_first(images))
    for a, b in zip(pooled_first.parameters(), relu_first.parameters()):
        assert torch.equal(a.grad, b.grad)


def test_a_table_model_standardises_values_past_float32s_variance_range():
    from core.training.models import Standardize

    rows = torch.tensor([[1e20, 1.0], [3e20, 1.0], [2e20, 1.0]])  # a float32 variance of 1e40 is infinite
    scale = Standardize(2)
    scale.fit(rows)
    assert torch.isfinite(scale.std).all() and scale.std[1] == 1.0  # a constant column keeps std 1
    assert torch.allclose(scale(rows)[:, 0], torch.tensor([-1.2247, 1.2247, 0.0]), atol=1e-4)
