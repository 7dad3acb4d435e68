"""Issue 16, case 1: a worker frozen with SIGSTOP. Its run is shown `not responding` (not
`interrupted`), the queue no longer waits for it, Stop signals its process, and a worker that
wakes after its run was ended or deleted elsewhere leaves it without a traceback or a write."""
from __future__ import annotations

import os
import signal
import sqlite3
import time
from dataclasses import replace

import pytest
from pages_helpers import app_store, open_page  # noqa: F401
from reliability_helpers import freeze_between_writes, wait_for, wait_until_dead

from core.runs import supervisor
from core.runs.store import RunStore
from core.runs.supervisor import launch
from core.status import RunStatus

# the heartbeat timeout for these tests (30 s by default): long enough that a busy machine never
# misses it by accident, short enough not to idle
TIMEOUT_S = 6.0


@pytest.fixture
def short_heartbeat_timeout(monkeypatch):
    monkeypatch.setenv("MNIST_HEARTBEAT_TIMEOUT_S", str(TIMEOUT_S))  # the workers this test launches
    monkeypatch.setattr(supervisor, "HEARTBEAT_TIMEOUT_S", TIMEOUT_S)  # this process: pages and checks


def training(store: RunStore, run_id: str) -> bool:
    return store.get_run(run_id).status == "running" and bool(store.read_metrics(run_id)[0])




def test_a_frozen_worker_is_not_responding_the_queue_moves_on_and_stop_ends_it(
        app_store, endless_config, tiny_config, reaper, short_heartbeat_timeout):
    store = app_store
    frozen = launch(store, endless_config, name="frozen")
    wait_for(lambda: training(store, frozen), timeout=120, what="the first run to train")
    pid = store.get_run(frozen).pid
    freeze_between_writes(pid, store.db_path)
    frozen_at, (_, cursor) = time.time(), store.read_metrics(frozen)

    behind = launch(store, replace(tiny_config, epochs=2), name="behind")
    wait_for(lambda: store.get_run(behind).status == "finished", timeout=120,
             what="the run queued behind the frozen one to finish")
    assert store.get_run(behind).started_at >= frozen_at  # it did not start before the freeze

    [shown] = [run for run in supervisor.list_runs(store) if run.id == frozen]
    assert supervisor.check_liveness(store, force=True) == []  # alive: never marked interrupted
    assert shown.status == "running" and supervisor.status_label(shown) == "not responding"

    at = open_page("pages/train.py")  # the running run leads the queue, so the page shows it
    assert "frozen" in at.subheader[0].value
    assert any("not responding" in md.value for md in at.markdown)  # the badge
    assert any(f"Its worker (pid {pid}) has not reported" in w.value for w in at.warning)
    at.button(key="train_stop").click().run()
    assert any("was sent SIGTERM" in info.value for info in at.info)
    wait_until_dead(pid, timeout=30)

    run = store.get_run(frozen)
    assert run.status == "stopped" and f"its worker (pid {pid}) was sent SIGTERM" in run.message
    assert store.read_metrics(frozen, after=cursor)[0] == []  # nothing was written after the freeze
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_revived_worker_leaves_a_run_ended_or_deleted_meanwhile_quietly(store, endless_config, reaper):
    ended = launch(store, endless_config, name="ended elsewhere")
    deleted = launch(store, endless_config, name="deleted meanwhile")
    wait_for(lambda: training(store, ended), timeout=120, what="the first run to train")
    first_pid = store.get_run(ended).pid
    freeze_between_writes(first_pid, store.db_path)
    assert store.finish(ended, RunStatus.STOPPED, "ended by hand")
    _, cursor = store.read_metrics(ended)
    os.kill(first_pid, signal.SIGCONT)

    wait_for(lambda: training(store, deleted), timeout=120, what="the queue to go on with the second run")
    run = store.get_run(ended)
    assert (run.status, run.message) == ("stopped", "ended by hand")  # not overwritten by the revived worker
    assert store.read_metrics(ended, after=cursor)[0] == []

    second_pid = store.get_run(deleted).pid
    freeze_between_writes(second_pid, store.db_path)
    assert store.mark_interrupted(deleted, "marked by hand")
    store.delete_run(deleted)
    os.kill(second_pid, signal.SIGCONT)
    for pid in {first_pid, second_pid}:
        wait_until_dead(pid, timeout=60)  # both leave quietly: nothing is left in the queue

    assert store.read_metrics(deleted) == ([], 0) and not store.run_dir(deleted).exists()
    assert [r.id for r in store.list_runs()] == [ended]
    log = (store.root / "worker.log").read_text()
    assert "Traceback" not in log and "FOREIGN KEY" not in log
    assert f"run {deleted} was ended or deleted elsewhere; this worker leaves it" in log
