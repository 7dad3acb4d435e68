"""Issue 16, case 5: a broken run store. runs.db deleted (while the app runs, and while a worker
trains), emptied, overwritten with garbage, a table or column dropped or added, read-only, its
folder read-only, a folder in its place, written by a newer version, MNIST_RUNS_DIR naming a file.
Each gives one message saying what is wrong and what to do: on the pages (no traceback) and as the
CLI's one `error:` line. A runs.db is never silently made anew beside run folders it has lost:
the pages and the CLI offer to rebuild the index from those folders, and the rebuild brings the
runs back (with what the old runs.db still holds, if it can be read at all)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from pages_helpers import app_store, as_shown, finished_run, open_page  # noqa: F401
from reliability_helpers import REPO, cli_command, one_error_line, read_only, wait_for, wait_until_dead

from core.cli import main
from core.runs.rebuild import rebuild_index
from core.runs.records import Metric
from core.runs.store import RunStore
from core.runs.store_errors import StoreDamaged, StoreError
from core.runs.supervisor import execute_run, launch


def remove_db(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (root / f"runs.db{suffix}").unlink(missing_ok=True)


def sql(root: Path, statement: str) -> None:
    with sqlite3.connect(root / "runs.db") as db:
        db.execute(statement)


def garbage(root: Path) -> None:
    remove_db(root)
    (root / "runs.db").write_bytes(os.urandom(16384))


def emptied(root: Path) -> None:
    remove_db(root)
    (root / "runs.db").write_bytes(b"")


# break -> what the message says; every one of these is mended by rebuilding the index
REBUILDABLE = {
    "deleted": (remove_db, "runs.db is missing from"),
    "emptied": (emptied, "runs.db is missing from"),
    "garbage": (garbage, "is damaged or was changed by another program (file is not a database)"),
    "column dropped": (lambda root: sql(root, "ALTER TABLE runs DROP COLUMN notes"), "lacks column(s) notes"),
    "table dropped": (lambda root: sql(root, "DROP TABLE metrics"), "metrics"),
}


@pytest.fixture
def kept(app_store) -> dict:
    """A finished run with tags and notes, and what the store held for it."""
    run_id = finished_run(app_store, "kept **run**", epochs=3)
    app_store.set_tags(run_id, ["tag one", "tag two"])
    app_store.set_notes(app_store.get_run(run_id).id, "a note to keep")
    return {"id": run_id, "run": app_store.get_run(run_id), "metrics": app_store.read_metrics(run_id)[0]}


def cli_error(capsys, *args: str) -> str:
    capsys.readouterr()  # what the pages' AppTest logged before
    assert main(list(args)) == 2
    return one_error_line(capsys.readouterr().err)


def val_points(metrics: list[Metric]) -> list[tuple[int, str, float]]:
    return sorted((m.epoch, m.name, m.value) for m in metrics if m.split == "val")


@pytest.mark.parametrize("break_it", list(REBUILDABLE))
def test_a_broken_index_is_explained_and_rebuilt_from_the_run_folders(app_store, kept, capsys, break_it):
    root = app_store.root
    at = open_page("pages/runs.py")
    assert "1 of 1 runs" in at.caption[0].value
    breaker, says = REBUILDABLE[break_it]
    breaker(root)

    with pytest.raises(StoreDamaged, match="rebuild-index") as refused:
        RunStore(root)
    assert says in str(refused.value)
    assert says in cli_error(capsys, "runs", "--runs", str(root))
    at.run()  # the same page, as a user's next click reruns it
    assert not at.exception
    assert any(says in as_shown(error.value) for error in at.error)
    if break_it == "deleted":
        assert not (root / "runs.db").exists()  # not silently made anew, empty, beside the run folder

    at.button(key="runs_rebuild").click().run()
    assert not at.exception and any("restored 1 run(s)" in as_shown(s.value) for s in at.success)
    assert "1 of 1 runs" in at.caption[0].value
    run = RunStore(root).get_run(kept["id"])
    before = kept["run"]
    assert (run.name, run.tags, run.config) == (before.name, before.tags, before.config)
    assert (run.status, run.summary) == (before.status, before.summary)  # from its outcome.json
    assert run.evaluation == before.evaluation
    if break_it != "column dropped":  # notes is the column that was dropped: it comes from run.json
        assert run.notes == "a note to keep"
    metrics = RunStore(root).read_metrics(run.id)[0]
    if break_it == "column dropped":  # the old runs.db still reads: every metric comes back
        assert metrics == kept["metrics"]
    else:  # per-epoch validation results from the checkpoints
        assert val_points(metrics) == pytest.approx(val_points(kept["metrics"]))


def test_a_worker_whose_store_is_deleted_stops_and_keeps_what_it_could_not_store(store, endless_config, reaper):
    run_id = launch(store, endless_config, name="orphaned")
    wait_for(lambda: store.epoch_checkpoints(run_id), timeout=120, what="a first epoch checkpoint")
    pid = store.get_run(run_id).pid
    remove_db(store.root)
    wait_until_dead(pid, timeout=120)  # it stops, saves, and ends: no store to take the next run from

    folder = store.run_dir(run_id)
    assert (folder / "last.pt").exists() and (folder / "unsaved-metrics.jsonl").stat().st_size > 0
    log = (store.root / "worker.log").read_text()
    assert "Traceback" not in log and "the run store failed" in log
    assert "error: runs.db is missing from" in log  # the worker's own exit: one line
    assert not (store.root / "runs.db").exists()

    report = rebuild_index(store.root)
    assert report.restored == (run_id,)
    run = RunStore(store.root).get_run(run_id)
    assert run.status == "stopped" and "the run store failed during the run" in run.message
    assert run.name == "orphaned" and run.summary.epochs_completed >= 1
    steps = [m.step for m in RunStore(store.root).read_metrics(run_id)[0] if (m.split, m.name) == ("train", "loss")]
    assert steps and steps == sorted(steps) and steps[-1] == run.summary.steps  # kept up to its last step


NOT_REBUILDABLE = {
    "read-only runs.db": ("runs.db", "is read-only"),
    "read-only folder": (".", "cannot open"),
}


@pytest.mark.parametrize("what", list(NOT_REBUILDABLE))
def test_a_read_only_store_is_explained(app_store, kept, capsys, what):
    target, says = NOT_REBUILDABLE[what]
    with read_only(app_store.root / target):
        with pytest.raises(StoreError, match=says) as refused:
            RunStore(app_store.root)
        assert not refused.value.can_rebuild
        assert says in cli_error(capsys, "runs", "--runs", str(app_store.root))
        at = open_page("pages/runs.py")
        assert not at.exception and any(says in as_shown(error.value) for error in at.error)
        assert not [button for button in at.button if button.key == "runs_rebuild"]
    assert RunStore(app_store.root).get_run(kept["id"]) == kept["run"]  # nothing was lost meanwhile


def test_other_unusable_places_are_explained(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    folder_db = tmp_path / "folder-db"
    (folder_db / "runs.db").mkdir(parents=True)
    too_new = tmp_path / "too-new"
    RunStore(too_new)
    sql(too_new, "PRAGMA user_version = 99")
    cases = {a_file: "is a file, not a folder", folder_db: "is a folder, not a database file",
             too_new: "has schema version 99"}
    for root, says in cases.items():
        with pytest.raises(StoreError, match=says):
            RunStore(root)
        assert says in cli_error(capsys, "runs", "--runs", str(root))
        monkeypatch.setenv("MNIST_RUNS_DIR", str(root))
        for page in ("pages/train.py", "pages/runs.py", "pages/draw.py"):
            at = open_page(page)
            assert any(says in as_shown(error.value) for error in at.error), (root, page)


def test_a_column_added_by_another_program_is_harmless(app_store, kept):
    sql(app_store.root, "ALTER TABLE runs ADD COLUMN colour TEXT NOT NULL DEFAULT 'blue'")
    store = RunStore(app_store.root)
    store.rename(kept["id"], "renamed")
    assert store.get_run(kept["id"]).name == "renamed"
    assert finished_run(store, "another")


def test_the_real_cli_prints_one_line_and_no_traceback(tmp_path):
    root = tmp_path / "runs"
    RunStore(root)
    garbage(root)
    result = subprocess.run(cli_command("runs", "--runs", str(root)), cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert "is damaged or was changed by another program" in one_error_line(result.stderr)


def test_a_rebuild_keeps_fork_links_sweep_trials_and_failures(app_store, kept):
    def fails(*args, **kwargs):
        raise RuntimeError("boom")
        yield  # a trial source is a generator
    failed = app_store.create_run(kept["run"].config, name="failed")
    assert execute_run(app_store, failed, source=fails) == "failed"
    fork = app_store.create_run(kept["run"].config, name="fork", parent_id=kept["id"], parent_epoch=2)
    trial = app_store.create_run(kept["run"].config, name="trial", sweep_id="s1", trial_number=0)
    garbage(app_store.root)  # nothing of the old runs.db can be read
    rebuild_index(app_store.root)
    store = RunStore(app_store.root)
    assert (store.get_run(failed).status, store.get_run(failed).message) == ("failed", "RuntimeError: boom")
    assert (store.get_run(fork).parent_id, store.get_run(fork).parent_epoch) == (kept["id"], 2)
    assert (store.get_run(trial).sweep_id, store.get_run(trial).trial_number) == ("s1", 0)


def test_a_rebuild_brings_back_sweeps_from_their_files(app_store, kept):
    from core.sweeps.records import SweepPlan
    from core.sweeps.space import parse_space
    from core.sweeps.store import SweepStore

    sweeps = SweepStore(app_store)
    space = parse_space({"model": "mlp", "dataset": "synthetic", "val_size": 100, "lr": [0.1, 0.01]})
    ended = sweeps.create(SweepPlan(space, strategy="grid", trials=2, name="lr grid"))
    sweeps.start(ended, os.getpid())
    sweeps.set_importance(ended, {"lr": 1.0})
    sweeps.finish(ended, "finished", "best trial #1")
    running = sweeps.create(SweepPlan(space, strategy="random", trials=3, name="left running"))
    sweeps.start(running, os.getpid())
    (app_store.root / "sweeps" / "sweep-20261203-000000-000000.json").write_text("{not json")
    before = sweeps.get(ended)
    garbage(app_store.root)
    report = rebuild_index(app_store.root)
    assert report.sweeps == tuple(sorted((ended, running)))
    assert "restored 2 sweep(s)" in report.describe() and "not a sweep's file" in report.describe()
    again = SweepStore(RunStore(app_store.root))
    after = again.get(ended)
    assert (after.name, after.status, after.message, after.importance) == ("lr grid", "finished", "best trial #1",
                                                                        {"lr": 1.0})
    assert (after.plan.space, after.plan.strategy, after.duration) == (before.plan.space, "grid", before.duration)
    assert again.get(running).status == "interrupted" and "resume it" in again.get(running).message
    assert rebuild_index(app_store.root).sweeps == ()  # the index has them now


def test_a_rebuild_names_runs_whose_folder_is_gone(app_store, kept):
    import shutil

    shutil.rmtree(app_store.run_dir(kept["id"]))
    report = rebuild_index(app_store.root)  # the index itself is sound: nothing to restore
    assert report.restored == () and report.folderless == (kept["id"],)
    assert f"1 run(s) in the index have no folder (deleted outside the app), so no checkpoints: {kept['id']}" \
        in report.describe()
