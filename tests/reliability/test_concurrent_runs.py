"""Issue 6, case 2: two runs train at once in separate processes while the dashboard reads."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from reliability_helpers import REPO, cli_command, train_loss_steps

from core.runs.store import RunStore

EPOCHS, STEPS_PER_EPOCH = 4, 500  # batch size 1 on the 500 synthetic training images
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
    reads_while_both_ran = 0
    deadline = time.monotonic() + 120
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        try:
            statuses = read_like_the_dashboard(store, cursors, rows)
            reads_while_both_ran += statuses == ["running", "running"]
        except Exception as err:
            errors.append(repr(err))
        time.sleep(0.01)
    assert all(p.poll() is not None for p in processes), "the runs did not end within 120 s"
    read_like_the_dashboard(store, cursors, rows)

    outputs = {name: (tmp_path / f"{name}.out").read_text() + (tmp_path / f"{name}.err").read_text()
               for name in ("left", "right")}
    assert errors == []
    assert not any("locked" in text.lower() for text in outputs.values()), outputs
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert reads_while_both_ran > 0  # the reader read while both trained

    finished = store.list_runs()
    assert sorted(run.name for run in finished) == ["left", "right"]
    for run in finished:
        assert run.status == "finished" and run.summary.steps == EPOCHS * STEPS_PER_EPOCH
        metrics, _ = store.read_metrics(run.id)
        assert rows[run.id] == metrics  # the cursor reads saw every row exactly once
        assert train_loss_steps(metrics) == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
        assert sorted(m.epoch for m in metrics if m.split == "val" and m.name == "loss") == [1, 2, 3, 4]
    left, right = finished
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
    holder.stdin.write("go\n")
    holder.stdin.flush()
    started = time.monotonic()
    store = RunStore(runs)  # switching the new file to WAL meets the lock: it must wait, not fail
    assert time.monotonic() - started >= 0.3  # it did meet the lock
    assert holder.wait(timeout=30) == 0
    assert store.list_runs() == []
