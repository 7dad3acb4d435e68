"""Issue 6, case 10, end to end with real worker processes (launch): stop of a finished run, delete
of a running run, stop of a queued run, stop asked twice. The behaviors are those documented in
RunStore.request_stop and RunStore.delete_run. One scenario, so the workers start only once."""
from __future__ import annotations

import os
import shutil
import signal
from dataclasses import replace

import pytest
from reliability_helpers import freeze_between_writes, wait_for, wait_until_dead

from core.runs.store import RunActive, RunNotFound, RunStore
from core.runs.supervisor import execute_run, launch
from core.status import ACTIVE
from core.training.checkpoints import load_model
from core.training.events import EpochEnded


def status(store: RunStore, run_id: str) -> str:
    return store.get_run(run_id).status


def stop_of_a_finished_run_changes_nothing(store: RunStore, run_id: str) -> None:
    before = store.get_run(run_id)
    assert before.status == "finished"
    assert store.request_stop(run_id) == "not active"
    assert store.request_stop(run_id) == "not active"
    assert store.get_run(run_id) == before and not before.stop_requested


def delete_of_a_running_run_is_refused_and_it_runs_on(store: RunStore, run_id: str) -> None:
    with pytest.raises(RunActive, match="is running: stop it before deleting it"):
        store.delete_run(run_id)
    _, cursor = store.read_metrics(run_id)
    wait_for(lambda: store.read_metrics(run_id, cursor)[0], timeout=300, what="metrics after the refusal")
    assert status(store, run_id) == "running" and store.epoch_checkpoints(run_id)


def stop_asked_twice_stops_once(store: RunStore, run_id: str) -> None:
    pid = store.get_run(run_id).pid
    freeze_between_writes(pid, store.db_path)  # frozen, the worker cannot act between the two requests
    assert store.request_stop(run_id) == "requested"
    assert store.request_stop(run_id) == "requested"
    os.kill(pid, signal.SIGCONT)
    wait_for(lambda: status(store, run_id) not in ACTIVE, timeout=300, what="the stop to take effect")
    wait_until_dead(pid, timeout=300)  # its queue is empty now: it exits, and beats no more
    run = store.get_run(run_id)
    assert (run.status, run.message, run.summary.end_reason) == ("stopped", "stopped on request", "stopped")
    assert 1 <= run.summary.epochs_completed < 100
    assert load_model(store.checkpoint_path(run_id, "last"))[1] == run.config  # mid-epoch weights kept
    assert load_model(store.checkpoint_path(run_id, "best"))[2]["epoch"] <= run.summary.epochs_completed
    assert store.request_stop(run_id) == "not active"  # once more, now that it is over: nothing changes
    assert store.get_run(run_id) == run


def test_stop_and_delete_with_real_workers(store, tiny_config, endless_config, reaper):
    long = endless_config
    # three workers start; the first takes the queue and runs "done", then "running"
    done = launch(store, tiny_config, name="done")
    running = launch(store, long, name="running")
    queued = launch(store, long, name="queued")
    wait_for(lambda: status(store, running) == "running" and store.epoch_checkpoints(running), timeout=300,
             what="the long run to train and save an epoch")
    stop_of_a_finished_run_changes_nothing(store, done)
    delete_of_a_running_run_is_refused_and_it_runs_on(store, running)

    assert store.request_stop(queued) == "cancelled"  # a queued run is cancelled at once
    run = store.get_run(queued)
    assert (run.status, run.message, run.started_at) == ("stopped", "cancelled before it started", None)

    stop_asked_twice_stops_once(store, running)

    wait_until_dead(store.get_run(queued).pid, timeout=300)  # its worker found nothing left to run
    assert store.get_run(queued) == run and store.read_metrics(queued) == ([], 0)
    assert [p.name for p in store.run_dir(queued).iterdir()] == ["run.json"]  # its identity only

    for run_id in (running, done):  # stopped or finished: deleted with its rows and its folder
        store.delete_run(run_id)
        with pytest.raises(RunNotFound):
            store.get_run(run_id)
        assert store.read_metrics(run_id) == ([], 0) and not store.run_dir(run_id).exists()
    assert [r.id for r in store.list_runs()] == [queued]


def test_a_run_whose_folder_is_deleted_outside_the_app_while_it_trains_fails_saying_so(store, tiny_config):
    config = replace(tiny_config, epochs=3)
    run_id = store.create_run(config)
    folder = store.run_dir(run_id)

    def delete_after_the_first_epoch(item) -> None:
        if isinstance(item, EpochEnded) and item.epoch == 1:
            shutil.rmtree(folder)  # as `rm -rf runs/<id>` in another terminal

    assert execute_run(store, run_id, on_item=delete_after_the_first_epoch) == "failed"
    run = store.get_run(run_id)  # it said "running", then "interrupted" once the liveness check found the worker gone
    assert run.message == (f"CheckpointWriteError: could not write checkpoint epoch_002.pt: the run's folder "
                           f"{folder} was deleted while it trained")
    assert not folder.exists()  # not made again, half empty
