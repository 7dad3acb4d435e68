"""Issue 13: a run killed with SIGKILL resumes; killed again while resumed, it resumes again. Its metrics
continue in the same run with every step once: no gap, no repeat."""
from __future__ import annotations

import os
import signal
import sqlite3

from reliability_helpers import train_loss_steps, wait_for, wait_until_dead

from core.runs import continuation, supervisor
from core.runs.supervisor import launch

STEPS_PER_EPOCH = 5000  # ENDLESS: one image per step, so a kill lands inside an epoch


def epochs_ended(store, run_id) -> list[int]:
    return [m.epoch for m in store.read_metrics(run_id)[0] if m.name == "epoch_loss"]


def past_step(store, run_id, step: int) -> bool:
    """The run has stored steps beyond this one."""
    return max(train_loss_steps(store.read_metrics(run_id)[0]), default=0) > step


def kill(store, run_id) -> None:
    """SIGKILL the run's worker and let the next liveness check mark it interrupted."""
    pid = store.get_run(run_id).pid
    os.kill(pid, signal.SIGKILL)
    wait_until_dead(pid)
    assert supervisor.check_liveness(store, force=True) == [run_id]
    assert store.get_run(run_id).status == "interrupted"


def resume(store, run_id) -> int:
    """Resume the run in a new worker; returns the epoch it goes on after."""
    after = store.completed_epochs(run_id)
    run = continuation.resume(store, run_id)
    supervisor.start_worker(store, [run.id])
    return after


def test_a_resumed_run_killed_again_resumes_again_with_every_step_once(store, endless_config, reaper):
    run_id = launch(store, endless_config, name="killed twice")
    wait_for(lambda: past_step(store, run_id, STEPS_PER_EPOCH), timeout=300, what="the run to go past epoch 1")
    kill(store, run_id)  # inside epoch 2 or later
    first = resume(store, run_id)
    assert first >= 1
    # killed again inside the epoch it resumed in: that epoch's rows go again, the earlier ones stay
    wait_for(lambda: past_step(store, run_id, first * STEPS_PER_EPOCH + 100), timeout=300,
             what="the resumed run to store steps of its own")
    kill(store, run_id)
    second = resume(store, run_id)
    assert second >= first
    wait_for(lambda: len(epochs_ended(store, run_id)) > second, timeout=300,
             what="an epoch to end after the second resume")
    assert store.request_stop(run_id) == "requested"
    wait_for(lambda: store.get_run(run_id).status == "stopped", timeout=60, what="the run to stop")

    run = store.get_run(run_id)
    assert run.id == run_id and run.config == endless_config
    steps = train_loss_steps(store.read_metrics(run_id)[0])
    assert steps == list(range(1, len(steps) + 1))  # no gap, no repeat, across both kills
    ended = epochs_ended(store, run_id)
    assert ended == list(range(1, len(ended) + 1)) and len(ended) > second
    assert [v.epoch for v in store.validations(run_id)] == ended
    assert len(steps) >= len(ended) * STEPS_PER_EPOCH
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
