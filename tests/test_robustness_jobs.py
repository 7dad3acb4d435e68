"""Robustness curves kept with their run: which runs can have them, and a failed computation's reason."""
from __future__ import annotations

import argparse

import pytest
from pages_helpers import finished_run
from tabular_helpers import pets_config

from core.cli.insight import command_robustness
from core.insight import robustness_jobs
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.training.checkpoints import CheckpointError


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def cli(store: RunStore, *run_ids: str) -> int:
    return command_robustness(argparse.Namespace(runs=str(store.root), run_ids=list(run_ids), data_dir="unused",
                                                 force=False, quiet=True))


def test_a_table_run_is_not_measurable_and_its_computation_says_why(store, capsys):
    run_id = store.create_run(pets_config(store, epochs=1), name="pets")
    assert execute_run(store, run_id) == "finished"
    assert robustness_jobs.unmeasurable(store, store.get_run(run_id)) == \
        "trained on a table, and robustness perturbs images"
    assert cli(store, run_id) == 1
    assert "error: pets: trained on a table, and robustness perturbs images" in capsys.readouterr().err
    with pytest.raises(ValueError, match="robustness perturbs images; this run trained on a table"):
        robustness_jobs.compute(store, run_id)  # as the page's background job would, had it been offered
    assert robustness_jobs.stored_error(store, run_id) == "robustness perturbs images; this run trained on a table"
    assert robustness_jobs.progress(store, run_id) is None  # the page offers to try again


def test_a_failed_computation_is_kept_for_its_checkpoint_and_cleared_by_a_success(store):
    run_id = finished_run(store, "mlp")
    best = store.checkpoint_path(run_id, "best")
    assert robustness_jobs.unmeasurable(store, store.get_run(run_id)) is None
    good = best.read_bytes()
    best.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        robustness_jobs.compute(store, run_id)
    assert robustness_jobs.stored_error(store, run_id).startswith("checkpoint is corrupt or truncated: ")
    best.write_bytes(good)  # another checkpoint: the old failure is not its own
    assert robustness_jobs.stored_error(store, run_id) is None
    assert robustness_jobs.compute(store, run_id).curves
    assert not (store.run_dir(run_id) / robustness_jobs.ERROR_FILE).exists()


def test_a_run_without_a_best_checkpoint_is_not_measurable(store):
    run_id = finished_run(store, "mlp")
    store.checkpoint_path(run_id, "best").unlink()
    assert robustness_jobs.unmeasurable(store, store.get_run(run_id)) == \
        "no best checkpoint: the run ended before its first epoch"
