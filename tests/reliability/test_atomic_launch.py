"""Issue 16, case 4: when no worker can be started, launch marks the run failed with the reason
(the page says it, with no traceback), and no later worker runs it unexpectedly."""
from __future__ import annotations

import errno

import pytest
from pages_helpers import app_store, as_shown, open_page, tiny_run_config  # noqa: F401
from reliability_helpers import wait_for, wait_until_dead

from core.runs import launcher
from core.runs.supervisor import LaunchFailed, launch


def test_an_unwritable_worker_log_fails_the_run_with_the_reason_and_a_later_worker_leaves_it(app_store, reaper):
    store = app_store
    log = store.root / "worker.log"
    log.mkdir()  # cannot be opened for writing, even by root
    with pytest.raises(LaunchFailed, match=f"no worker process could be started: .*Is a directory: '{log}'"):
        launch(store, tiny_run_config(), name="unlucky")
    [run] = store.list_runs()
    assert run.status == "failed" and "Is a directory" in run.message and run.pid is None

    log.rmdir()
    good = launch(store, tiny_run_config(), name="good")
    wait_for(lambda: store.get_run(good).status == "finished", timeout=120, what="the next run to finish")
    wait_until_dead(store.get_run(good).pid, timeout=30)
    assert store.get_run(run.id) == run and store.read_metrics(run.id) == ([], 0)  # left as it was


def test_a_worker_that_cannot_be_spawned_fails_the_run(store, monkeypatch):
    def no_process(*args, **kwargs):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(launcher.subprocess, "Popen", no_process)
    monkeypatch.setattr(launcher, "_spawn_forked", no_process)
    monkeypatch.setattr(launcher, "_fork_server_on", launcher._fork_server_on)  # turned off by the failure
    monkeypatch.setattr(launcher, "_fork_server_failed", False)
    with pytest.raises(LaunchFailed, match="Resource temporarily unavailable"):
        launch(store, tiny_run_config(), name="no fork")
    [run] = store.list_runs()
    assert run.status == "failed" and "Resource temporarily unavailable" in run.message


def test_the_train_page_says_why_nothing_started(app_store):
    (app_store.root / "worker.log").mkdir()
    at = open_page("pages/train.py")
    at.selectbox(key="train_dataset").set_value("synthetic")
    at.number_input(key="train_val_size").set_value(100)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any(as_shown(error.value).startswith("Not started: no worker process could be started")
               and "worker.log" in as_shown(error.value) for error in at.error)
    [run] = app_store.list_runs()
    assert run.status == "failed"
