"""Fork: a new run from any epoch checkpoint of another, with some settings changed."""
from __future__ import annotations

from dataclasses import replace

import pytest
from tabular_helpers import pets_config

from core.config import ConfigError, RunConfig
from core.runs import continuation
from core.runs.continuation import CannotContinue
from core.runs.supervisor import execute_run
from core.training.checkpoints import CheckpointError

PARENT = RunConfig(model="mlp", dataset="synthetic", val_size=100, batch_size=32, epochs=4, augment_shift=1,
                   device="cpu")
STEPS_PER_EPOCH = 16  # 500 training images in batches of 32


def rows(store, run_id, split="train", name="loss"):
    return [(m.step, m.epoch, m.value) for m in store.read_metrics(run_id)[0] if (m.split, m.name) == (split, name)]


@pytest.fixture
def parent(store):
    run_id = store.create_run(PARENT, name="parent")
    assert execute_run(store, run_id) == "finished"
    return run_id


def test_a_fork_with_nothing_changed_goes_on_exactly_as_its_parent(store, parent):
    child = continuation.fork(store, parent, 2, {})
    assert execute_run(store, child) == "finished"
    run = store.get_run(child)
    assert (run.parent_id, run.parent_epoch, run.name, run.config) == (parent, 2, "parent fork@2", PARENT)
    after_branch = [row for row in rows(store, parent) if row[1] > 2]
    assert rows(store, child) == after_branch  # steps 33.., epochs 3 and 4, every loss the same
    parent_val = rows(store, parent, "val", "accuracy")
    assert rows(store, child, "val", "accuracy") == [row for row in parent_val if row[1] > 2]
    assert (store.run_dir(child) / "origin.pt").exists()


def test_a_fork_with_a_lower_lr_continues_from_the_branch_step(store, parent):
    child = continuation.fork(store, parent, 3, {"lr": 1e-4}, name="lower lr", tags=["fork"])
    assert execute_run(store, child) == "finished"
    run = store.get_run(child)
    assert (run.name, run.tags, run.config.lr, run.config.epochs) == ("lower lr", ("fork",), 1e-4, 4)
    steps = [step for step, _, _ in rows(store, child)]
    assert steps == list(range(3 * STEPS_PER_EPOCH + 1, 4 * STEPS_PER_EPOCH + 1))
    assert {value for _, _, value in rows(store, child, "train", "lr")} == {1e-4}
    assert rows(store, child) != [row for row in rows(store, parent) if row[1] > 3]
    assert [child] == [r.id for r in continuation.lineage(store, store.get_run(parent)).children]
    assert continuation.lineage(store, run).parent.id == parent


def test_a_fork_with_a_new_schedule_starts_it_where_the_plan_would_be(store, parent):
    child = continuation.fork(store, parent, 2, {"scheduler": "step", "step_size": 1, "gamma": 0.5, "epochs": 3})
    assert execute_run(store, child) == "finished"
    assert [value for _, _, value in rows(store, child, "train", "lr")] == pytest.approx([1e-3 * 0.5 ** 2] * 16)
    # a one-cycle schedule over a new total: the child's lr is a fresh run's at the same step
    longer = replace(PARENT, epochs=6, scheduler="onecycle", optimizer="sgd", momentum=0.9)
    onecycle = continuation.fork(store, parent, 2, {"epochs": 6, "scheduler": "onecycle", "optimizer": "sgd"})
    planned = store.create_run(longer)
    execute_run(store, onecycle), execute_run(store, planned)
    child_lrs = rows(store, onecycle, "train", "lr")
    assert child_lrs == [row for row in rows(store, planned, "train", "lr") if row[1] > 2]


def test_a_fork_that_changes_the_model_shape_or_data_is_refused_naming_the_field(store, parent):
    for changes, field in [({"model": "cnn"}, "model"), ({"hidden_sizes": (64,)}, "hidden_sizes"),
                           ({"val_size": 50}, "val_size"), ({"batch_size": 64}, "batch_size"), ({"seed": 3}, "seed")]:
        with pytest.raises(ConfigError, match=f"^{field}: a fork keeps its parent's {field}") as refused:
            continuation.fork(store, parent, 2, changes)
        assert refused.value.field == field
    with pytest.raises(ConfigError, match="epochs: a fork from epoch 3 needs more epochs than that, got 3"):
        continuation.fork(store, parent, 3, {"epochs": 3})
    with pytest.raises(ConfigError, match="lr: must be in"):
        continuation.fork(store, parent, 3, {"lr": 0.0})
    assert [run.id for run in store.list_runs()] == [parent]


def test_a_fork_from_an_epoch_without_a_checkpoint_names_the_epochs_that_have_one(store, parent):
    store.checkpoint_path(parent, 2).unlink()
    with pytest.raises(CannotContinue, match="has no checkpoint for epoch 2; epochs with one: 1, 3, 4"):
        continuation.fork(store, parent, 2, {"lr": 1e-4})
    with pytest.raises(CannotContinue, match="has no checkpoint for epoch 9; epochs with one: 1, 3, 4"):
        continuation.fork(store, parent, 9, {})
    fresh = store.create_run(PARENT)
    with pytest.raises(CannotContinue, match="it has no epoch checkpoints yet"):
        continuation.fork(store, fresh, 1, {})


def test_a_fork_from_a_corrupt_checkpoint_names_it_and_creates_nothing(store, parent):
    path = store.checkpoint_path(parent, 2)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=f"corrupt or truncated: {path}"):
        continuation.fork(store, parent, 2, {})
    assert len(store.list_runs()) == 1 and len(list(store.root.iterdir())) == 2  # runs.db and the parent's folder


def test_a_fork_interrupted_before_its_first_epoch_starts_again_even_without_its_parent(store, parent):
    child = continuation.fork(store, parent, 2, {"lr": 5e-4})
    store.claim(child, 1)
    store.mark_interrupted(child, "the worker process ended without finishing the run")
    store.delete_run(parent)
    continuation.resume(store, child)
    assert execute_run(store, child) == "finished"
    assert rows(store, child)[0][0] == 2 * STEPS_PER_EPOCH + 1
    assert continuation.lineage(store, store.get_run(child)).parent is None


def test_a_csv_run_resumes_bit_for_bit_and_forks_with_its_table(store):
    config = pets_config(store, epochs=3)
    straight = store.create_run(config)
    grown = store.create_run(replace(config, epochs=2))
    assert execute_run(store, straight) == execute_run(store, grown) == "finished"
    continuation.resume(store, grown, epochs=3)
    assert execute_run(store, grown) == "finished"
    assert rows(store, grown) == rows(store, straight) and rows(store, grown, "test", "accuracy") == rows(
        store, straight, "test", "accuracy")
    child = continuation.fork(store, straight, 1, {"lr": 1e-3})
    assert execute_run(store, child) == "finished"
    assert store.get_run(child).config.csv == config.csv and rows(store, child)[0][1] == 2
