"""Issue 6, case 2: two runs train at once in separate processes while the dashboard reads."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from reliability_helpers import REPO, cli_command, train_loss_steps

from core.config import MAX_EPOCHS
from core.runs.store import RunStore

# batch size 1 on the 500 synthetic training images; far more epochs than the test lets them train: it
# stops both once it has read while both trained, however fast or slow the machine starts and trains them
EPOCHS = MAX_EPOCHS
TRAIN = ["train", "--model", "mlp", "--dataset", "synthetic", "--epochs", str(EPOCHS), "--batch-size", "1",
         "--val-size", "100", "--device", "cpu"]


def start_cli_run(reaper, runs: Path, name: str, logs: Path):
    with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
        return reaper.popen(cli_command(*TRAIN, "--runs", str(runs), "--name", name), cwd=REPO, stdout=out,
                            stderr=err, stdin=subprocess.DEVNULL)


def read_like_the_dashboard(store: RunStore, cursors: dict, rows: dict) -> list[str]:
    """One refresh: list the runs, then each run's new metric rows after its cursor."""
    runs = store.list_runs()
    for run in runs:
        new, cursors[run.id] = store.read_metrics(run.id, cursors.get(run.id, 0))
        rows.setdefault(run.id, []).extend(new)
    return [run.status for run in runs]


def test_two_cli_runs_train_at_once_while_a_reader_polls(tmp_path, reaper):
    runs = tmp_path / "runs"  # new: both processes and the reader create the store at the same time
    processes = [start_cli_run(reaper, runs, name, tmp_path) for name in ("left", "right")]
    store = RunStore(runs)
    cursors, rows, errors = {}, {}, []
    reads_while_both_trained = 0
    deadline = time.monotonic() + 120
    while reads_while_both_trained < 3 and any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        try:
            statuses = read_like_the_dashboard(store, cursors, rows)
            reads_while_both_trained += statuses == ["running", "running"] and all(rows.values())  # both have rows
        except Exception as err:
            errors.append(repr(err))
        time.sleep(0.01)
    assert reads_while_both_trained == 3, "the reader never read while both runs trained"
    for run in store.list_runs():
        assert store.request_stop(run.id) == "requested"
    deadline = time.monotonic() + 120
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        read_like_the_dashboard(store, cursors, rows)  # reading on while both stop
        time.sleep(0.01)
    assert all(p.poll() is not None for p in processes), "the runs did not stop within 120 s"
    read_like_the_dashboard(store, cursors, rows)

    outputs = {name: (tmp_path / f"{name}.out").read_text() + (tmp_path / f"{name}.err").read_text()
               for name in ("left", "right")}
    assert errors == []
    assert not any("locked" in text.lower() for text in outputs.values()), outputs
    assert [p.returncode for p in processes] == [0, 0], outputs

    stopped = store.list_runs()
    assert sorted(run.name for run in stopped) == ["left", "right"]
    for run in stopped:
        assert run.status == "stopped" and run.summary.steps > 0
        metrics, _ = store.read_metrics(run.id)
        assert rows[run.id] == metrics  # the cursor reads saw every row exactly once
        assert train_loss_steps(metrics) == list(range(1, run.summary.steps + 1))
        val_epochs = sorted(m.epoch for m in metrics if m.split == "val" and m.name == "loss")
        assert val_epochs == list(range(1, run.summary.epochs_completed + 1))
    left, right = stopped
    assert left.started_at < right.ended_at and right.started_at < left.ended_at  # they overlapped


# Another process writing to the new database file: what a second `train` started at the same
# moment does while it creates the store. Waits for a line on stdin, then holds the lock 0.5 s more.
HOLD_WRITE_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
time.sleep(0.5)
db.execute("COMMIT")
"""


def test_a_new_store_opened_while_another_process_writes_to_it_waits_instead_of_failing(tmp_path, reaper):
    runs = tmp_path / "runs"
    runs.mkdir()
    holder = reaper.popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(runs / "runs.db")], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    started = time.monotonic()  # before "go": the lock is then held 0.5 s more at the least
    holder.stdin.write("go\n")
    holder.stdin.flush()
    store = RunStore(runs)  # switching the new file to WAL meets the lock: it must wait, not fail
    assert time.monotonic() - started >= 0.5  # it did meet the lock
    assert holder.wait(timeout=30) == 0
    assert store.list_runs() == []
