"""Resume: an epoch checkpoint continues a run bit for bit, in the generator and through the store."""
from __future__ import annotations

import io
from dataclasses import replace

import pytest
import torch

from core.config import RunConfig
from core.runs import continuation
from core.runs.continuation import CannotContinue
from core.runs.store import RunActive
from core.runs.supervisor import execute_run
from core.runs.trial import CheckpointReady, Origin, run_trial
from core.training.checkpoints import CheckpointError, load_model, save_checkpoint
from core.training.events import BatchEnded, EpochEnded, Validated
from core.training.models import build_model

# dropout draws from torch's generator, the shifts and the data order from the run's own, the step
# schedule and early stopping keep state: a resume that forgot any of them would not match
EXACT = RunConfig(model="cnn", dataset="synthetic", val_size=100, train_samples=96, batch_size=32, epochs=4,
                  augment_shift=2, scheduler="step", step_size=1, gamma=0.8, patience=3, device="cpu")
TIMING = {"samples_per_s", "epoch_seconds"}


def round_trip(payload: dict) -> dict:
    """A payload as a file gives it back: saved, then loaded with weights_only."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def training_values(items) -> list[tuple]:
    """Every per-batch and per-epoch value a trial yields, without the timings."""
    values = []
    for item in items:
        if isinstance(item, BatchEnded):
            values.append((item.step, item.epoch, item.loss, item.accuracy, item.lr))
        elif isinstance(item, EpochEnded):
            values.append((item.epoch, item.step, item.train_loss, item.train_accuracy, item.val_loss,
                           item.val_accuracy, item.lr, item.is_best))
        elif isinstance(item, Validated):
            values.append((item.epoch, item.predictions, item.confusion))
    return values


def stored_values(store, run_id) -> list[tuple]:
    return [(m.step, m.epoch, m.split, m.name, m.value) for m in store.read_metrics(run_id)[0]
            if m.name not in TIMING]


def test_the_trial_from_an_epoch_checkpoint_continues_bit_for_bit():
    straight = list(run_trial(EXACT))
    first = list(run_trial(replace(EXACT, epochs=2)))
    saved = {item.which: round_trip(item.payload) for item in first if isinstance(item, CheckpointReady)}
    best = saved[saved[2]["training_state"]["best"]["epoch"]]
    resumed = list(run_trial(EXACT, origin=Origin(saved[2], best)))
    assert training_values(first) + training_values(resumed) == training_values(straight)
    assert resumed[-1] == straight[-1]  # the same end, at the same step
    assert resumed[-2].evaluation == straight[-2].evaluation  # the same best weights tested


def test_two_epochs_then_resume_to_four_equals_four_straight_in_the_store(store):
    straight = store.create_run(EXACT, name="straight")
    assert execute_run(store, straight) == "finished"
    grown = store.create_run(replace(EXACT, epochs=2), name="grown")
    assert execute_run(store, grown) == "finished"
    resumed = continuation.resume(store, grown, epochs=4)
    assert (resumed.id, resumed.status, resumed.config) == (grown, "queued", EXACT)
    assert execute_run(store, grown) == "finished"
    assert stored_values(store, grown) == stored_values(store, straight)  # every row, bit for bit
    a, b = store.get_run(straight), store.get_run(grown)
    assert a.summary == b.summary and a.evaluation == b.evaluation
    assert [v.predictions for v in store.validations(grown)] == [v.predictions for v in store.validations(straight)]
    assert b.trained_before_s > 0 and b.duration > b.trained_before_s


@pytest.fixture(autouse=True)
def flush_every_batch(monkeypatch):
    """A stop request is read at each flush: flushing every batch makes a stop at step N land at N, on any machine."""
    monkeypatch.setattr("core.runs.recorder.FLUSH_INTERVAL_S", 0.0)


def stop_at_step(store, run_id, step):
    """An on_item hook that asks the run to stop once it reaches a step."""
    def hook(item):
        if isinstance(item, BatchEnded) and item.step == step:
            store.request_stop(run_id)
    return hook


@pytest.mark.parametrize("scheduler", ["onecycle", "plateau"])
def test_a_run_stopped_mid_epoch_resumes_to_the_same_metrics(store, scheduler):
    config = replace(EXACT, model="mlp", scheduler=scheduler, plateau_patience=0, train_samples=None)
    straight = store.create_run(config)
    ended = execute_run(store, straight)  # finished or early stopped
    stopped = store.create_run(config)
    steps_per_epoch = 16
    assert execute_run(store, stopped, on_item=stop_at_step(store, stopped, 2 * steps_per_epoch + 3)) == "stopped"
    assert store.checkpoint_path(stopped, "last").exists()
    assert max(m.step for m in store.read_metrics(stopped)[0]) > 2 * steps_per_epoch  # part of epoch 3 stored
    continuation.resume(store, stopped)
    assert not store.checkpoint_path(stopped, "last").exists()
    assert execute_run(store, stopped) == ended
    assert stored_values(store, stopped) == stored_values(store, straight)


def test_a_run_resumed_twice_has_every_step_once(store):
    config = replace(EXACT, model="mlp", epochs=3, train_samples=None)
    run_id = store.create_run(config)
    execute_run(store, run_id, on_item=stop_at_step(store, run_id, 5))  # inside epoch 1: no checkpoint yet
    continuation.resume(store, run_id)
    execute_run(store, run_id, on_item=stop_at_step(store, run_id, 20))  # inside epoch 2
    continuation.resume(store, run_id)
    assert execute_run(store, run_id) == "finished"
    steps = [m.step for m in store.read_metrics(run_id)[0] if (m.split, m.name) == ("train", "loss")]
    assert steps == list(range(1, 3 * 16 + 1))
    assert [m.epoch for m in store.read_metrics(run_id)[0] if m.name == "epoch_loss"] == [1, 2, 3]
    assert [m.name for m in store.read_metrics(run_id)[0] if m.split == "test"] == ["loss", "accuracy"]


def test_a_finished_run_needs_more_epochs_to_resume(store):
    run_id = store.create_run(replace(EXACT, model="mlp", epochs=1))
    execute_run(store, run_id)
    before = stored_values(store, run_id)
    with pytest.raises(CannotContinue, match="has trained 1 of its 1 epochs: ask for more epochs"):
        continuation.resume(store, run_id)
    with pytest.raises(CannotContinue, match="has trained 1 epoch already, not fewer than the 1 asked for: ask for "
                                             "more epochs to continue it \\(for example 2\\)"):
        continuation.resume(store, run_id, epochs=1)
    assert store.get_run(run_id).status == "finished" and stored_values(store, run_id) == before


def test_resuming_an_active_run_is_refused(store):
    run_id = store.create_run(EXACT, name="waiting")
    with pytest.raises(RunActive, match="run 'waiting' is queued: stop it first"):
        continuation.resume(store, run_id, epochs=5)
    assert store.get_run(run_id).config == EXACT


def test_a_missing_or_corrupt_checkpoint_is_named_and_nothing_changes(store):
    run_id = store.create_run(replace(EXACT, model="mlp", epochs=2))
    execute_run(store, run_id)
    path = store.checkpoint_path(run_id, 2)
    before = (store.get_run(run_id), stored_values(store, run_id))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=f"corrupt or truncated: {path}"):
        continuation.resume(store, run_id, epochs=3)
    path.unlink()
    with pytest.raises(CheckpointError, match=f"checkpoint not found: {path}"):
        continuation.resume(store, run_id, epochs=3)
    assert (store.get_run(run_id), stored_values(store, run_id)) == before


def test_a_checkpoint_from_before_exact_checkpoints_loads_but_cannot_resume(store, tmp_path):
    config = replace(EXACT, model="mlp", epochs=2)
    run_id = store.create_run(config)
    execute_run(store, run_id)
    # as older versions wrote it: the labs' fields and the config, no training state
    save_checkpoint(store.checkpoint_path(run_id, 2), build_model(config), None, config, 2, 0.5, 0.9)
    _model, loaded, checkpoint = load_model(store.checkpoint_path(run_id, 2))
    assert loaded == config and checkpoint["epoch"] == 2
    with pytest.raises(CheckpointError, match="holds the weights but not the training state"):
        continuation.resume(store, run_id, epochs=3)
    assert store.get_run(run_id).status == "finished"


def test_a_diverged_run_points_to_a_fork_or_to_training_again(store):
    run_id = store.create_run(replace(EXACT, model="mlp", optimizer="sgd", lr=10.0, scheduler="none"))
    assert execute_run(store, run_id) == "diverged"
    with pytest.raises(CannotContinue, match="before its first epoch checkpoint, so train it again with a lower lr"):
        continuation.resume(store, run_id)
    store.checkpoint_path(run_id, 1).write_bytes(b"")  # as if it had diverged in its second epoch
    with pytest.raises(CannotContinue, match="fork it from an earlier epoch with a lower lr"):
        continuation.resume(store, run_id)
