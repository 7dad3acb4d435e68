"""Issue 6, case 1: the worker is killed with SIGKILL in the middle of an epoch."""
from __future__ import annotations

import os
import signal
import sqlite3

from reliability_helpers import process_state, train_loss_steps, wait_for, wait_until_dead

from core.runs import supervisor
from core.runs.records import Metric
from core.runs.supervisor import launch
from core.training.checkpoints import load_model

STEPS_PER_EPOCH = 5000  # one image per step: an epoch lasts a few seconds, so a kill can land inside one


def epoch_in_progress(metrics: list[Metric]) -> int:
    """The epoch that has batch rows but no end-of-epoch row yet (0 if none)."""
    started = {m.epoch for m in metrics if m.split == "train" and m.name == "loss"}
    ended = {m.epoch for m in metrics if m.name == "epoch_loss"}
    return max(started - ended, default=0)


def test_a_worker_killed_mid_epoch_leaves_a_sound_store_and_the_last_complete_checkpoint(
        store, tiny_config, endless_config, reaper):
    run_id = launch(store, endless_config, name="killed")
    seen: list[Metric] = []
    cursor = 0

    def read_new() -> None:
        nonlocal cursor
        new, cursor = store.read_metrics(run_id, cursor)
        seen.extend(new)

    def mid_epoch_after_one_complete() -> bool:
        read_new()
        return epoch_in_progress(seen) >= 2  # a flush inside epoch 2 or later: epoch 1 is checkpointed

    pid = store.get_run(run_id).pid
    while True:
        wait_for(mid_epoch_after_one_complete, timeout=120, what="a metrics flush in the middle of epoch 2")
        # freeze it first, so what it has flushed is known exactly when it dies
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: process_state(pid) == "T", timeout=60, what="the worker to freeze")
        read_new()
        epoch = epoch_in_progress(seen)
        if epoch >= 2:
            break
        os.kill(pid, signal.SIGCONT)  # it ended an epoch meanwhile: catch it inside the next one
    os.kill(pid, signal.SIGKILL)
    wait_until_dead(pid)

    # the next liveness check marks it interrupted (a listing checks at most every few seconds)
    assert store.get_run(run_id).status == "running"
    assert supervisor.check_liveness(store, force=True) == [run_id]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and "worker process ended" in run.message
    assert [r.status for r in supervisor.list_runs(store)] == ["interrupted"]

    # every metric flushed before the kill is there, and nothing else
    after, _ = store.read_metrics(run_id)
    assert after == seen
    steps = train_loss_steps(after)
    assert len(steps) > (epoch - 1) * STEPS_PER_EPOCH  # some of the interrupted epoch's batches too
    assert steps == list(range(1, len(steps) + 1))  # contiguous from step 1, no gap, no repeat
    assert sorted(m.epoch for m in after if m.name == "epoch_loss") == list(range(1, epoch))

    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # the last complete checkpoint is the last finished epoch's, and it loads
    last = store.epoch_checkpoints(run_id)[-1]
    assert last.name == f"epoch_{epoch - 1:03d}.pt"
    _model, config, checkpoint = load_model(last)
    assert config == endless_config and checkpoint["epoch"] == epoch - 1
    assert load_model(store.checkpoint_path(run_id, "best"))[2]["epoch"] <= epoch - 1

    # a new run starts and finishes: the dead worker's queue lock went with it
    follow_up = launch(store, tiny_config, name="after the kill")
    wait_for(lambda: store.get_run(follow_up).status not in ("queued", "running"), timeout=300,
             what="the follow-up run to end")
    assert store.get_run(follow_up).status == "finished"
    assert store.get_run(run_id).status == "interrupted"
