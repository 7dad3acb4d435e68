"""launcher.still_running: a worker is known by its pid, and by its command line once the clock has jumped."""
import subprocess
import sys
import time

import psutil
import pytest

from core.runs import launcher

TITLED = ("import setproctitle, sys, time; "
          "setproctitle.setproctitle(sys.executable + ' -m core worker --runs /somewhere'); time.sleep(120)")


@pytest.fixture
def process(request):
    """A process running the given Python code, ended after the test."""
    started = subprocess.Popen([sys.executable, "-c", request.param])
    yield started
    started.kill()
    started.wait()


def wait_for_title(pid: int, title: str) -> None:
    deadline = time.monotonic() + 60
    while title not in " ".join(psutil.Process(pid).cmdline()):
        assert time.monotonic() < deadline, "the process never took its title"
        time.sleep(0.05)


@pytest.mark.parametrize("process", [TITLED], indirect=True)
def test_a_worker_that_looks_started_after_its_assignment_is_known_by_its_command(process):
    """A wall clock stepped forward (this VM paused and resumed) made two live workers look newer than their
    runs, which were marked interrupted: the worker's own command line says it is the worker."""
    wait_for_title(process.pid, " -m core worker ")
    an_hour_before_it_started = time.time() - 3600
    assert launcher.still_running(process.pid, an_hour_before_it_started, "worker")
    assert not launcher.still_running(process.pid, an_hour_before_it_started, "robustness")


@pytest.mark.parametrize("process", ["import time; time.sleep(120)"], indirect=True)
def test_another_process_with_a_reused_pid_is_not_the_worker(process):
    assert not launcher.still_running(process.pid, time.time() - 3600, "worker")  # started after: not ours
    assert launcher.still_running(process.pid, time.time(), "worker")  # started before its assignment


@pytest.mark.parametrize("process", ["pass"], indirect=True)
def test_a_process_that_ended_is_not_running(process):
    process.wait()
    assert not launcher.still_running(process.pid, time.time(), "worker")
