"""`python -m core train --seeds ...` ended from outside: Ctrl-C, `kill` and a closed terminal stop it, exiting
128 + the signal, and one killed outright leaves no queued run for a later worker to train unasked."""
from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import threading

import pytest
from reliability_helpers import REPO, cli_command, wait_for

from core.runs.store import RunStore
from core.runs.supervisor import check_liveness

# a synthetic run that takes minutes on any machine: the test ends it long before
ENDLESS = ["--model", "mlp", "--dataset", "synthetic", "--val-size", "100", "--batch-size", "1", "--epochs", "100",
           "--device", "cpu", "--seeds", "0-1"]


def start_training(reaper, runs, output=subprocess.DEVNULL) -> subprocess.Popen:
    """The command, once its first seed's run is training (a step is stored)."""
    process = reaper.popen(cli_command("train", *ENDLESS, "--runs", str(runs)), cwd=REPO, stdout=output,
                           stderr=output)
    wait_for(lambda: (runs / "runs.db").exists() and any(
        run.status == "running" and RunStore(runs).read_metrics(run.id)[0] for run in RunStore(runs).list_runs()),
        what="the first seed's run to store a step")
    return process


class Terminal:
    """A pseudo-terminal for the command's output, read (and dropped) by a thread until closed: a full
    terminal would hold the command up."""

    def __init__(self):
        self.master, self.screen = pty.openpty()
        self.closing = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while not self.closing.is_set():
            if select.select([self.master], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    os.read(self.master, 4096)
        os.close(self.master)

    def close(self) -> None:
        """The terminal window is gone: the command's writes to it now fail (EIO)."""
        self.closing.set()
        self.reader.join(timeout=60)


def by_seed(runs) -> dict[int, object]:
    return {run.config.seed: run for run in RunStore(runs).list_runs()}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["Ctrl-C", "kill", "closed terminal"])
def test_kill_and_a_closed_terminal_stop_the_run_and_cancel_the_rest(tmp_path, reaper, signum):
    runs = tmp_path / "runs"
    terminal = Terminal()  # it writes its progress to a terminal, as from a shell
    process = start_training(reaper, runs, output=terminal.screen)
    os.close(terminal.screen)
    if signum == signal.SIGHUP:
        terminal.close()
    process.send_signal(signum)
    assert process.wait(timeout=300) == 128 + signum  # as a shell's commands exit: `train && export` stops here
    terminal.close()
    first, second = by_seed(runs)[0], by_seed(runs)[1]
    assert first.status == "stopped" and "stopped on request" in first.message  # with its checkpoints
    assert second.status == "stopped" and second.started_at is None  # cancelled before it started


def test_a_command_killed_outright_leaves_no_queued_run_behind(tmp_path, reaper):
    runs = tmp_path / "runs"
    process = start_training(reaper, runs)
    process.kill()
    process.wait(timeout=60)
    check_liveness(RunStore(runs), force=True)  # what the pages and every worker do
    assert {seed: run.status for seed, run in by_seed(runs).items()} == {0: "interrupted", 1: "interrupted"}
