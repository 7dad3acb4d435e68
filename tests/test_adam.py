"""core.training.adam.Adam against torch.optim's Adam and AdamW: the same weights, bit for bit."""
import copy
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from core.training.adam import Adam


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, schedule: bool = True,
          frozen_until: int = 0) -> None:
    """Steps on fixed random batches under a one-cycle schedule (it cycles Adam's beta1 too)."""
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=100) if schedule else None
    data = torch.Generator().manual_seed(1)
    last = list(model.parameters())[-1]
    for step in range(steps):
        images, labels = torch.randn(8, 1, 8, 8, generator=data), torch.randint(0, 3, (8,), generator=data)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        if step < frozen_until:
            last.grad = None  # a parameter without a gradient this step: its step count lags
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.01, False), (0.01, True)])
def test_the_same_weights_as_torch_optim(weight_decay, decoupled):
    ours, theirs = tiny_net(), tiny_net()
    reference = (torch.optim.AdamW if decoupled else torch.optim.Adam)(theirs.parameters(), lr=0.01,
                                                                        weight_decay=weight_decay)
    train(ours, Adam(ours.parameters(), lr=0.01, weight_decay=weight_decay, decoupled_weight_decay=decoupled), 30,
          frozen_until=5)
    train(theirs, reference, 30, frozen_until=5)
    assert_same_weights(ours, theirs)
    assert not torch.equal(tiny_net().state_dict()["0.weight"], ours.state_dict()["0.weight"])


def test_state_dicts_load_both_ways_and_training_goes_on_alike():
    ours, theirs = tiny_net(), tiny_net()
    ours_adam, torch_adam = Adam(ours.parameters(), lr=0.01), torch.optim.Adam(theirs.parameters(), lr=0.01)
    train(ours, ours_adam, 10, schedule=False)
    train(theirs, torch_adam, 10, schedule=False)
    assert_same_weights(ours, theirs)
    saved_ours, saved_theirs = ours_adam.state_dict(), torch_adam.state_dict()
    assert saved_ours["param_groups"][0].keys() == saved_theirs["param_groups"][0].keys()
    ours_adam.load_state_dict(saved_theirs)
    torch_adam.load_state_dict(saved_ours)
    train(ours, ours_adam, 10, schedule=False)
    train(theirs, torch_adam, 10, schedule=False)
    assert_same_weights(ours, theirs)


def test_a_state_dict_for_other_parameters_is_refused():
    with pytest.raises(ValueError, match="different number of parameters"):
        Adam(tiny_net().parameters()).load_state_dict(torch.optim.Adam(nn.Linear(2, 2).parameters()).state_dict())


def test_what_it_does_not_do_is_refused_by_name():
    with pytest.raises(TypeError, match="not parameter groups"):
        Adam([{"params": list(tiny_net().parameters())}])
    with pytest.raises(TypeError, match="non-empty"):
        Adam([])
    saved = torch.optim.Adam(tiny_net().parameters(), amsgrad=True).state_dict()
    with pytest.raises(ValueError, match="amsgrad"):
        Adam(tiny_net().parameters()).load_state_dict(saved)


def test_a_deep_copy_trains_on_like_the_original():
    """copy.deepcopy goes through Optimizer.__setstate__, which must not patch the class for hooks."""
    ours, reference = tiny_net(), tiny_net()
    optimizer = Adam(ours.parameters(), lr=0.01)
    train(ours, optimizer, 3, schedule=False)
    copied = copy.deepcopy({"model": ours, "optimizer": optimizer})
    train(copied["model"], copied["optimizer"], 3, schedule=False)
    uncopied = Adam(reference.parameters(), lr=0.01)
    train(reference, uncopied, 3, schedule=False)
    train(reference, uncopied, 3, schedule=False)
    assert_same_weights(copied["model"], reference)


def test_zero_grad_clears_or_zeroes():
    model = nn.Linear(2, 1)
    optimizer = Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    optimizer.zero_grad(set_to_none=False)
    assert torch.equal(model.weight.grad, torch.zeros(1, 2))
    optimizer.zero_grad()
    assert model.weight.grad is None


def test_training_with_it_never_imports_torch_dynamo():
    """The point of the class: a training run's process does not pay for torch._dynamo's import."""
    code = ("import sys, torch\nfrom core.training.adam import Adam\nfrom torch.optim import lr_scheduler\n"
            "m = torch.nn.Linear(2, 1); o = Adam(m.parameters())\n"
            "s = lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=3)\n"
            "m(torch.ones(1, 2)).sum().backward(); o.step(); s.step(); o.zero_grad(); o.state_dict()\n"
            "print('torch._dynamo' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
