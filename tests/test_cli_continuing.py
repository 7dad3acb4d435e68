"""The CLI's resume, fork, train --seeds and compare, with their refusals."""
from __future__ import annotations

import pytest

from core.cli import build_parser, main
from core.config import RunConfig
from core.runs.store import RunStore

TINY = ["--model", "mlp", "--dataset", "synthetic", "--val-size", "100", "--batch-size", "64", "--device", "cpu"]


def train(runs, *args) -> str:
    assert main(["train", *TINY, "--runs", str(runs), *args]) == 0
    return RunStore(runs).list_runs()[0].id


def train_loss_steps(store, run_id):
    return [m.step for m in store.read_metrics(run_id)[0] if (m.split, m.name) == ("train", "loss")]


def test_resume_continues_the_same_run_to_more_epochs(tmp_path, capsys):
    runs = tmp_path / "runs"
    run_id = train(runs, "--epochs", "1")
    capsys.readouterr()
    assert main(["resume", run_id, "--epochs", "2", "--runs", str(runs)]) == 0
    out = capsys.readouterr()
    assert "resuming" in out.out and "after epoch 1, to epoch 2" in out.out and "status: finished" in out.out
    assert "epoch 2/2" in out.err and "epoch 1/2" not in out.err
    store = RunStore(runs)
    (run,) = store.list_runs()
    assert (run.id, run.config.epochs, run.summary.epochs_completed) == (run_id, 2, 2)
    assert train_loss_steps(store, run_id) == list(range(1, 17))
    assert main(["resume", run_id, "--runs", str(runs)]) == 2
    assert "error: run " in capsys.readouterr().err


def test_fork_starts_a_child_with_changed_settings(tmp_path, capsys):
    runs = tmp_path / "runs"
    parent = train(runs, "--epochs", "2", "--name", "parent")
    capsys.readouterr()
    assert main(["fork", parent, "--epoch", "1", "--lr", "1e-4", "--runs", str(runs), "--name", "slower"]) == 0
    out = capsys.readouterr().out
    child = RunStore(runs).list_runs()[0]
    assert f"forked {parent} at epoch 1 as {child.id}" in out and "status: finished" in out
    assert (child.name, child.parent_id, child.parent_epoch, child.config.lr) == ("slower", parent, 1, 1e-4)
    assert train_loss_steps(RunStore(runs), child.id) == list(range(9, 17))
    main(["runs", "--runs", str(runs)])
    assert f"slower  (fork of {parent} at epoch 1)" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--epoch", "1", "--model", "cnn"], "error: --model: a fork keeps its parent's model ('mlp'): it would change "
                                         "the model's shape"),
    (["--epoch", "3"], "has no checkpoint for epoch 3; epochs with one: 1"),
    (["--epoch", "1", "--epochs", "1"], "error: --epochs: a fork from epoch 1 needs more epochs than that, got 1"),
    (["--epoch", "1", "--device", "mps"], "error: --device: 'mps' is not available here"),  # never on Linux
    (["--epoch", "1", "--plateau-patience", "5"], "error: --plateau-patience: does nothing without --scheduler "
                                                  "plateau"),  # it forked, and trained with no schedule
])
def test_a_bad_fork_is_refused_in_one_line_and_creates_nothing(tmp_path, capsys, args, message):
    runs = tmp_path / "runs"
    parent = train(runs, "--epochs", "1")
    capsys.readouterr()
    assert main(["fork", parent, *args, "--runs", str(runs)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert [run.id for run in RunStore(runs).list_runs()] == [parent]


def test_a_run_on_a_device_this_machine_lacks_is_not_resumed_here(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100, device="mps"))
    assert main(["resume", run_id, "--runs", str(store.root)]) == 2
    assert ("error: device: the run trains on 'mps', which is not available here (available: cpu"
            in capsys.readouterr().err)
    assert store.get_run(run_id).status == "queued"  # untouched


def test_fork_help_says_its_settings_default_to_the_parents():
    help_text = build_parser()._subparsers._group_actions[0].choices["fork"].format_help()
    assert "default: cnn" not in help_text and "default: the parent's" in help_text


def test_unknown_runs_and_missing_stores_are_named(tmp_path, capsys):
    runs = tmp_path / "runs"
    train(runs, "--epochs", "1")
    capsys.readouterr()
    assert main(["resume", "nope", "--runs", str(runs)]) == 2
    # the listing it points to looks in the same store: --runs, as it is not the default one
    assert (f"error: no run has the id 'nope' in {runs} (see python -m core runs --runs {runs})"
            in capsys.readouterr().err)
    assert main(["fork", "nope", "--epoch", "1", "--runs", str(tmp_path / "elsewhere")]) == 2
    assert "error: no run store in" in capsys.readouterr().err and not (tmp_path / "elsewhere").exists()


def test_seeds_queue_a_group_and_compare_tells_whether_one_beats_another(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", *TINY, "--epochs", "1", "--runs", str(runs), "--seeds", "0", "1", "--name", "good"]) == 0
    out = capsys.readouterr().out
    store = RunStore(runs)
    good = sorted(store.list_runs(), key=lambda run: run.config.seed)
    assert [(run.name, run.config.seed) for run in good] == [("good seed 0", 0), ("good seed 1", 1)]
    assert "seeds 0 1: test accuracy" in out and "over 2 of 2 runs" in out
    assert main(["train", *TINY, "--epochs", "1", "--runs", str(runs), "--seeds", "0", "1", "--lr", "1e-6"]) == 0
    bad = [run for run in store.list_runs() if run.config.lr == 1e-6]
    assert sorted(run.name for run in bad) == ["mlp seed 0", "mlp seed 1"]
    capsys.readouterr()
    assert main(["compare", *[run.id for run in good], "--vs", *[run.id for run in bad], "--runs", str(runs)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("A: 2 seeds, test accuracy ") and "\nB: 2 seeds" in out
    assert "A is better." in out  # lr 1e-6 learns nothing in one epoch
    assert main(["compare", good[0].id, "--vs", bad[0].id, "--runs", str(runs)]) == 0
    assert "cannot tell" in capsys.readouterr().out


def test_seed_and_seeds_together_are_refused(tmp_path, capsys):
    assert main(["train", *TINY, "--runs", str(tmp_path / "runs"), "--seed", "1", "--seeds", "2", "3"]) == 2
    assert "error: --seeds: give --seed or --seeds, not both" in capsys.readouterr().err
    assert main(["train", *TINY, "--runs", str(tmp_path / "runs"), "--seeds", "2", "2"]) == 2
    assert "error: --seeds: give each once; 2 came more than once" in capsys.readouterr().err
    assert main(["train", *TINY, "--runs", str(tmp_path / "runs"), "--seeds", "0-100000"]) == 2  # as on the page
    assert "error: --seeds: at most 100 at once, got 100001" in capsys.readouterr().err
    assert main(["train", *TINY, "--runs", str(tmp_path / "runs"), "--seeds", "x"]) == 2
    assert "error: --seeds: " in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_range_of_seeds_queues_one_run_a_seed(tmp_path, capsys):
    assert main(["train", *TINY, "--epochs", "1", "--runs", str(tmp_path / "runs"), "--seeds", "3-4", "7"]) == 0
    assert sorted(run.config.seed for run in RunStore(tmp_path / "runs").list_runs()) == [3, 4, 7]


@pytest.mark.parametrize("args, message", [
    (["a", "a", "b", "--vs", "c"], "error: runs: group A gives a more than once; give each run once"),
    (["a", "--vs", "c", "c"], "error: runs: group B gives c more than once"),
    (["a", "b", "--vs", "b", "a"], "error: runs: a, b are in both groups; a run belongs to one side"),
])
def test_compare_refuses_a_run_counted_twice(tmp_path, capsys, args, message):
    # the bootstrap would take a run given three times for three seeds, and print a verdict on one run
    assert main(["compare", *args, "--runs", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_compare_notes_groups_trained_on_different_data(tmp_path, capsys):
    store = RunStore(tmp_path)
    a = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100))
    b = store.create_run(RunConfig(model="mlp", dataset="mnist"))
    assert main(["compare", a, "--vs", b, "--runs", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("note: the groups trained on different data (A: synthetic; B: mnist)")
    again = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100))  # seed 0 as well
    assert main(["compare", a, again, "--vs", b, "--runs", str(tmp_path)]) == 0
    assert "note: group A's runs share seed 0: runs with one seed repeat one another" in capsys.readouterr().out


def test_resume_after_a_rebuilt_index_goes_on_from_the_last_checkpoint(tmp_path, capsys):
    import hashlib

    from core.runs.rebuild import rebuild_index

    runs = tmp_path / "runs"
    run_id = train(runs, "--epochs", "2")
    kept = {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in (runs / run_id).glob("epoch_*.pt")}
    for suffix in ("", "-wal", "-shm"):
        (runs / f"runs.db{suffix}").unlink(missing_ok=True)
    rebuild_index(runs)  # its metrics are the checkpoints' validation rows: no train epoch rows
    capsys.readouterr()
    assert main(["resume", run_id, "--epochs", "3", "--runs", str(runs)]) == 0
    out = capsys.readouterr()
    assert "after epoch 2, to epoch 3" in out.out and "epoch 3/3" in out.err and "epoch 1/3" not in out.err
    assert {name: hashlib.md5((runs / run_id / name).read_bytes()).hexdigest() for name in kept} == kept


def test_a_run_whose_checkpoints_are_gone_says_so_when_resumed_or_forked(tmp_path, capsys):
    import shutil

    runs = tmp_path / "runs"
    run_id = train(runs, "--epochs", "1", "--name", "gone")
    shutil.rmtree(runs / run_id)
    capsys.readouterr()
    assert main(["resume", run_id, "--epochs", "2", "--runs", str(runs)]) == 2
    assert f"its folder {runs.resolve() / run_id} is missing (deleted outside the app)" in capsys.readouterr().err
    assert main(["fork", run_id, "--epoch", "1", "--runs", str(runs)]) == 2
    assert "has nothing to fork from: its folder" in capsys.readouterr().err
    assert RunStore(runs).get_run(run_id).status == "finished"  # nothing changed


def test_a_folder_that_cannot_be_written_is_refused_before_the_run_changes(tmp_path, capsys, monkeypatch):
    from core.runs import continuation

    runs = tmp_path / "runs"
    run_id = train(runs, "--epochs", "1")
    before = RunStore(runs).get_run(run_id)

    def read_only(*args, **kwargs):  # as a folder on a read-only mount answers (root writes past chmod)
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(continuation.tempfile, "TemporaryFile", read_only)
    capsys.readouterr()
    assert main(["resume", run_id, "--epochs", "2", "--runs", str(runs)]) == 2
    assert "cannot be written (Read-only file system)" in capsys.readouterr().err
    after = RunStore(runs).get_run(run_id)
    assert (after.status, after.summary, after.evaluation) == (before.status, before.summary, before.evaluation)
    assert (runs / run_id / "epoch_001.pt").exists()


def test_a_run_that_diverged_before_its_first_checkpoint_is_told_to_train_again(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", *TINY, "--runs", str(runs), "--optimizer", "sgd", "--lr", "10", "--epochs", "2"]) == 1
    (run,) = RunStore(runs).list_runs()
    assert run.status == "diverged" and not list((runs / run.id).glob("epoch_*.pt"))
    capsys.readouterr()
    assert main(["resume", run.id, "--runs", str(runs)]) == 2
    assert "before its first epoch checkpoint, so train it again with a lower lr" in capsys.readouterr().err
