"""core.runs.launcher: detached processes from the fork server, with the environment of their start,
and a plain interpreter where the fork server is off or broken."""
from __future__ import annotations

import os

import psutil
import torch
from reliability_helpers import wait_for

from core.runs import launcher, supervisor
from core.runs.supervisor import launch


def test_a_worker_from_the_fork_server_is_detached_and_reads_the_environment_of_its_start(store, endless_config,
                                                                                            monkeypatch, reaper):
    assert launcher.use_fork_server()  # on for the whole session (tests/conftest.py), started before this test
    monkeypatch.setenv("MNIST_WORKER_NICE", "3")  # set after the fork server started: the worker reads it all the same
    run_id = launch(store, endless_config, name="forked")
    wait_for(lambda: store.get_run(run_id).status == "running")
    worker = psutil.Process(store.get_run(run_id).pid)
    assert worker.nice() == min(os.nice(0) + 3, 19) != min(os.nice(0) + supervisor.WORKER_NICE, 19)
    assert " -m core worker --runs " in " ".join(worker.cmdline())  # as `ps` shows it, not the fork server's command
    assert os.getsid(worker.pid) == worker.pid and worker.ppid() != os.getpid()
    assert store.request_stop(run_id) == "requested"
    wait_for(lambda: store.get_run(run_id).status == "stopped", timeout=300)


def test_a_broken_fork_server_falls_back_to_a_new_interpreter(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise EOFError("the fork server went away")

    monkeypatch.setattr(launcher, "_spawn_forked", broken)
    monkeypatch.setattr(launcher, "_fork_server_on", True)
    monkeypatch.setattr(launcher, "_fork_server_failed", False)
    log = tmp_path / "out.log"
    pid = launcher.spawn(["presets"], log)
    assert os.getsid(pid) == pid  # a new interpreter spends seconds importing before it prints and ends
    assert not launcher._fork_server_on and not launcher.use_fork_server()  # later starts do not try it again
    wait_for(lambda: "fast-99" in log.read_text(), timeout=120, what="the presets in the log")


def test_the_fork_server_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(launcher, "_fork_server_on", False)
    monkeypatch.setenv("MNIST_FORK_SERVER", "0")
    assert not launcher.use_fork_server() and not launcher._fork_server_on


def test_a_forked_process_follows_the_thread_count_of_its_start():
    before = torch.get_num_threads()
    try:
        launcher._match_thread_count("1", "3")
        assert torch.get_num_threads() == 3
        launcher._match_thread_count("1", None)  # unset: torch's own default, one per physical core
        assert torch.get_num_threads() == (psutil.cpu_count(logical=False) or os.cpu_count())
    finally:
        torch.set_num_threads(before)
