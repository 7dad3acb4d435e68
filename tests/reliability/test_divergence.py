"""Issue 6, case 4: lr = 10. The run ends as diverged with a message, and no checkpoint holding
non-finite weights is marked best (or written at all)."""
from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest

from core.cli import main
from core.config import RunConfig
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.training.checkpoints import load_model
from core.training.events import diverged

# lr 10 blows up every optimizer: SGD to inf or nan, Adam, AdamW and RMSprop to huge finite losses
DIVERGING = RunConfig(model="mlp", dataset="synthetic", optimizer="sgd", lr=10.0, epochs=3, batch_size=32,
                      val_size=100, device="cpu")


def assert_every_checkpoint_is_finite(store: RunStore, run_id: str) -> list[str]:
    names = []
    for path in sorted(store.run_dir(run_id).glob("*.pt")):
        model, _, _ = load_model(path)
        assert all(p.isfinite().all() for p in model.parameters()), f"{path.name} holds non-finite weights"
        names.append(path.name)
    return names


@pytest.mark.parametrize("config", [
    DIVERGING,                        # diverges in epoch 2: epoch 1's checkpoint is the best one
    replace(DIVERGING, val_size=0),   # no validation set: only the per-batch loss check guards
    replace(DIVERGING, model="cnn"),  # diverges within the first epoch: no checkpoint at all
    replace(DIVERGING, optimizer="adam"),     # the default optimizer: its loss stays finite but huge
    replace(DIVERGING, optimizer="rmsprop"),
], ids=["mlp", "mlp-no-validation", "cnn", "adam", "rmsprop"])
def test_lr_10_ends_as_diverged_without_a_non_finite_best(store, config):
    run_id = store.create_run(config)
    assert execute_run(store, run_id) == "diverged"
    run = store.get_run(run_id)
    assert run.status == "diverged" and run.summary.end_reason == "diverged"
    assert re.search(r"loss became (inf|nan|\d[\d.e+]*) at step \d+", run.message), run.message
    assert "try a lower lr" in run.message
    saved = assert_every_checkpoint_is_finite(store, run_id)
    completed = run.summary.epochs_completed
    assert completed < config.epochs
    assert saved == ([] if completed == 0 else ["best.pt"] + [f"epoch_{e:03d}.pt" for e in range(1, completed + 1)])
    if completed:
        best = load_model(store.checkpoint_path(run_id, "best"))[2]
        assert best["epoch"] == run.summary.best_epoch <= completed
        assert run.summary.test_accuracy == pytest.approx(run.evaluation.accuracy)
    # the batch that diverged is the last data point (a chart marks it), at the step the message names;
    # the ones before it are finite (a NaN loss is stored as a missing value)
    metrics, _ = store.read_metrics(run_id)
    losses = [m for m in metrics if m.split == "train" and m.name == "loss"]
    assert losses[-1].value is None or diverged(losses[-1].value)
    assert f"at step {losses[-1].step};" in run.message
    assert all(math.isfinite(m.value) and not diverged(m.value) for m in losses[:-1])


def test_the_cli_reports_the_divergence_and_fails(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["train", "--model", "mlp", "--dataset", "synthetic", "--optimizer", "sgd", "--lr", "10",
                 "--epochs", "3", "--batch-size", "32", "--val-size", "100", "--device", "cpu", "--runs", str(runs)])
    out = capsys.readouterr().out
    assert code == 1
    assert "status: diverged - loss became" in out and "try a lower lr" in out
    (run,) = RunStore(runs).list_runs()
    assert run.status == "diverged"
    assert_every_checkpoint_is_finite(RunStore(runs), run.id)
