import subprocess
import sys
from pathlib import Path

import pytest

from core.runs.store import RunStore

REPO = Path(__file__).resolve().parent.parent


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_train_then_test_a_tiny_run(tmp_path):
    runs = tmp_path / "runs"
    result = cli("train", "--model", "mlp", "--dataset", "synthetic", "--epochs", "2", "--val-size", "100",
                 "--batch-size", "32", "--runs", str(runs), "--name", "cli run", "--tags", "cli")
    assert result.returncode == 0, result.stderr
    assert "status: finished" in result.stdout and "epoch 2/2" in result.stderr
    (run,) = RunStore(runs).list_runs()
    assert (run.name, run.tags, run.status) == ("cli run", ("cli",), "finished")
    tested = cli("test", "--checkpoint", str(runs / run.id / "best.pt"), "--show-samples", "3")
    assert tested.returncode == 0, tested.stderr
    assert f"accuracy {run.summary.test_accuracy:.2%}" in tested.stdout
    assert "per-class accuracy:" in tested.stdout and "#2: true" in tested.stdout
    listing = cli("runs", "--runs", str(runs))
    assert run.id in listing.stdout and "finished" in listing.stdout


@pytest.mark.parametrize("args, message", [
    (["--lr", "0"], "error: lr: must be in (0, 10]"),
    (["--batch-size", "0"], "error: batch_size: must be from 1 to 8192"),
    (["--epochs", "1000"], "error: epochs: must be from 1 to 100"),
    (["--model", "resnet"], "error: model: 'resnet' is not one of"),
])
def test_invalid_settings_are_refused_before_anything_starts(tmp_path, args, message):
    result = cli("train", "--runs", str(tmp_path / "runs"), *args)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_bad_checkpoint_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    result = cli("test", "--checkpoint", str(bad))
    assert result.returncode == 2 and "error: checkpoint is corrupt or truncated" in result.stderr


@pytest.mark.mnist
def test_the_labs_cnn_reaches_98_percent_in_one_epoch_from_the_cli(tmp_path):
    runs = tmp_path / "runs"
    result = cli("train", "--model", "cnn", "--epochs", "1", "--runs", str(runs), timeout=600)
    assert result.returncode == 0, result.stderr
    (run,) = RunStore(runs).list_runs()
    assert run.summary.test_accuracy >= 0.98
    assert (runs / run.id / "best.pt").exists() and (runs / run.id / "epoch_001.pt").exists()
    metrics, _ = RunStore(runs).read_metrics(run.id)
    assert sum(1 for m in metrics if m.name == "loss" and m.split == "train") == 860
