"""A checkpoint saved by the labs' own scripts (no settings in it) tests and exports here: the labs' SimpleCNN by
its layer names, an MLP by its Linear layers in order, whatever the lab called them."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.cli import main
from core.config import RunConfig
from core.labs.lab_checkpoint import lab_config
from core.training.checkpoints import CheckpointError, load_model
from core.training.models import SimpleCNN


class LabMLP(nn.Module):
    """An MLP as a lab might write it: its own layer names, 784-256-64-10."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(784, 256), nn.Linear(256, 64), nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.out(torch.relu(self.fc2(x)))


def lab_checkpoint(model: nn.Module, epoch: int = 3) -> dict:
    """What the labs' training script saves each epoch: its loss a tensor, its accuracy a percent."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    return {"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(), "epoch": epoch,
            "loss": torch.tensor(0.05), "accuracy": 98.4}


def test_the_labs_mlp_and_simplecnn_load_with_their_settings_and_compute_the_same(tmp_path):
    torch.manual_seed(0)
    images = torch.randn(8, 1, 28, 28)
    mlp, cnn = LabMLP().eval(), SimpleCNN().to(memory_format=torch.contiguous_format).eval()  # the labs' NCHW
    for name, lab_model, payload in [("mlp.pt", mlp, lab_checkpoint(mlp)), ("cnn.pt", cnn, lab_checkpoint(cnn)),
                                     ("state_dict.pt", mlp, mlp.state_dict())]:  # torch.save(model.state_dict())
        torch.save(payload, tmp_path / name)
        model, _, checkpoint = load_model(tmp_path / name)
        assert torch.allclose(model(images), lab_model(images), atol=1e-6), name
        assert checkpoint["epoch"] == (0 if name == "state_dict.pt" else 3)
    assert lab_config(mlp.state_dict()) == RunConfig(model="mlp", hidden_sizes=(256, 64))
    assert lab_config(cnn.state_dict()) == RunConfig(model="cnn")
    assert lab_config(nn.Linear(784, 5).state_dict()) is None  # not 10 classes
    deep = nn.Sequential(nn.Linear(784, 64), *[nn.Linear(64, 64) for _ in range(4)], nn.Linear(64, 10))
    assert lab_config(deep.state_dict()) is None  # 5 hidden layers: no MLP here has them (it raised ConfigError)
    torch.save(deep.state_dict(), tmp_path / "deep.pt")
    with pytest.raises(CheckpointError, match=f"checkpoint {tmp_path / 'deep.pt'} holds weights but no settings"):
        load_model(tmp_path / "deep.pt")
    torch.save({}, tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="holds nothing: no weights, no settings"):
        load_model(tmp_path / "empty.pt")


def test_the_cli_tests_a_lab_checkpoint_per_class_and_says_a_pickled_model_needs_its_state_dict(tmp_path, capsys):
    torch.manual_seed(0)
    torch.save(lab_checkpoint(LabMLP(), epoch=5), tmp_path / "lab.pt")
    assert main(["test", "--checkpoint", str(tmp_path / "lab.pt"), "--show-samples", "0"]) == 0
    out = capsys.readouterr().out  # it said "lacks config"
    assert "(model mlp, epoch 5)" in out and "per-class accuracy:" in out and "  9: " in out
    assert "note: its settings were inferred from its weights: the labs' MLP, with ReLU and MNIST's mean" in out
    assert main(["export", "onnx", "--checkpoint", str(tmp_path / "lab.pt"), "--out", str(tmp_path / "lab.onnx")]) == 0
    assert "note: its settings were inferred" in capsys.readouterr().out and (tmp_path / "lab.onnx").exists()
    torch.save(LabMLP(), tmp_path / "whole.pt")  # torch.save(model): a pickle of the class, code to run
    assert main(["test", "--checkpoint", str(tmp_path / "whole.pt")]) == 2
    err = capsys.readouterr().err
    assert "would run code when loaded (Unsupported global: GLOBAL test_lab_checkpoint.LabMLP)" in err
    assert err.rstrip().endswith("save model.state_dict() instead") and err.count("\n") == 1
