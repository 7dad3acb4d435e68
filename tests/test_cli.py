import argparse
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.cli import build_parser, main
from core.cli import train as train_command
from core.cli.train import config_from_args
from core.config import CHOICES, RunConfig, default_val_size
from core.presets import PRESETS
from core.runs import supervisor
from core.runs.store import RunStore
from tests.cli_helpers import cli, cli_here

REPO = Path(__file__).resolve().parent.parent


def test_train_then_test_a_tiny_run(tmp_path):
    runs = tmp_path / "runs"
    result = cli("train", "--model", "mlp", "--dataset", "synthetic", "--epochs", "2", "--val-size", "100",
                 "--batch-size", "32", "--runs", str(runs), "--name", "cli run", "--tags", "cli")
    assert result.returncode == 0, result.stderr
    assert "status: finished" in result.stdout and "epoch 2/2" in result.stderr
    assert "test: test_loss " in result.stdout and "(best checkpoint, epoch " in result.stdout  # in percent, as above
    (run,) = RunStore(runs).list_runs()
    assert (run.name, run.tags, run.status) == ("cli run", ("cli",), "finished")
    tested = cli("test", "--checkpoint", str(runs / run.id / "best.pt"), "--show-samples", "3")
    assert tested.returncode == 0, tested.stderr
    assert f"accuracy {run.summary.test_accuracy:.2%}" in tested.stdout
    assert "per-class accuracy:" in tested.stdout and "#2: true" in tested.stdout
    listing = cli("runs", "--runs", str(runs))
    header, line = listing.stdout.splitlines()
    assert header.split() == ["id", "status", "model", "data", "epochs", "test", "acc", "name"]
    assert line.split() == [run.id, "finished", "mlp", "synthetic", "2", f"{run.summary.test_accuracy:.2%}", "cli",
                            "run"]


@pytest.mark.parametrize("args, message", [
    (["--lr", "0"], "error: --lr: must be in (0, 10]"),
    (["--batch-size", "0"], "error: --batch-size: must be from 1 to 8192"),
    (["--epochs", "1000"], "error: --epochs: must be from 1 to 100"),
    (["--model", "resnet"], "error: --model: 'resnet' is not one of"),
    (["--device", "mps"], "error: --device: 'mps' is not available here (available: cpu"),  # never on Linux
    (["--preset", "fast-99", "--patience", "3"],  # the preset keeps no validation split; a setting named as a flag
     "error: --patience: early stopping needs a validation set (--val-size above 0)"),
    (["--tensorboard", "/dev/null"], "error: cannot write TensorBoard files into /dev/null: it is a file"),
    (["--target", "animal"], "error: --target is for a CSV file: give --csv FILE as well, or leave it out"),
    (["--drop-missing", "--test-size", "5"], "error: --drop-missing, --test-size are for a CSV file"),
    (["--csv", "pets.csv", "--target", "animal", "--model", "cnn"],
     "error: a CSV file trains an MLP on its rows: --model cnn does not go with --csv"),
    (["--csv", "pets.csv", "--target", "animal", "--preset", "fast-99"],
     "error: a CSV file trains an MLP on its rows: --preset fast-99 does not go with --csv"),
])
def test_invalid_settings_are_refused_before_anything_starts(tmp_path, args, message):
    result = cli_here("train", "--runs", str(tmp_path / "runs"), *args)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "runs").exists()


def test_runs_a_command_queued_are_cancelled_when_it_fails_on_the_way(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    run_ids = [store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100)) for _ in range(2)]

    def fails(*args):
        raise OSError("disk full")
    monkeypatch.setattr(train_command, "train_here", fails)
    with pytest.raises(OSError):
        train_command.train_in_turn(store, run_ids, "data")
    assert [store.get_run(run_id).status for run_id in run_ids] == ["stopped", "stopped"]  # none left queued


def test_repeated_list_options_add_up():
    args = build_parser().parse_args(["train", "--one-hot", "a", "--one-hot", "b", "--features", "f", "--features",
                                      "g", "--tags", "x", "--tags", "y"])
    assert (args.one_hot, args.features, args.tags) == (["a", "b"], ["f", "g"], ["x", "y"])  # not the last one


def test_an_onnx_file_given_as_a_checkpoint_is_named(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07")
    result = cli_here("test", "--checkpoint", str(tmp_path / "m.onnx"))
    assert result.returncode == 2 and "is an ONNX model; give the .pt checkpoint it was exported from" in result.stderr


def test_a_bad_checkpoint_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    result = cli_here("test", "--checkpoint", str(bad))
    assert result.returncode == 2 and "error: checkpoint is corrupt or truncated" in result.stderr


@pytest.mark.mnist
def test_the_fast_99_preset_reaches_99_percent_from_the_cli(tmp_path):
    runs = tmp_path / "runs"
    # the preset as a user runs it, on every core: nothing else trains while this test waits for it
    result = cli("train", "--preset", "fast-99", "--runs", str(runs), timeout=600, threads=os.cpu_count())
    assert result.returncode == 0, result.stderr
    (run,) = RunStore(runs).list_runs()
    assert run.summary.test_accuracy >= 0.99
    assert (runs / run.id / "best.pt").exists() and (runs / run.id / "epoch_001.pt").exists()
    metrics, _ = RunStore(runs).read_metrics(run.id)
    # one epoch of all 60,000 training images: the preset keeps no validation split
    assert sum(1 for m in metrics if m.name == "loss" and m.split == "train") == math.ceil(60_000 / 128)


def parsed_config(*args: str):
    return config_from_args(build_parser().parse_args(["train", *args]))


def test_a_preset_gives_its_settings_and_any_setting_given_overrides_it():
    preset = PRESETS["quick-mlp"].config
    assert parsed_config("--preset", "quick-mlp") == preset
    overridden = parsed_config("--preset", "quick-mlp", "--lr", "0.02", "--weight-decay", "0", "--dataset", "synthetic",
                               "--val-size", "100")
    assert overridden == replace(preset, lr=0.02, dataset="synthetic", val_size=100)
    assert parsed_config("--lr", "0.02", "--preset", "quick-mlp").lr == 0.02  # wherever the flag stands
    assert parsed_config() == RunConfig()  # no preset: the defaults


@pytest.mark.parametrize("args, says", [
    (["--plateau-patience", "2"], "--plateau-patience: does nothing without --scheduler plateau"),
    (["--preset", "quick-mlp", "--gamma", "0.5"], "--gamma: does nothing without --scheduler step"),
    (["--min-delta", "0.01"], "--min-delta: does nothing without --patience above 0"),
    (["--momentum", "0.5"], "--momentum: does nothing without --optimizer sgd or rmsprop"),
    (["--model", "cnn", "--hidden-sizes", "64"], "--hidden-sizes: does nothing without --model mlp"),
])
def test_a_setting_the_run_would_not_use_is_refused_naming_what_it_needs(tmp_path, capsys, args, says):
    # a learner who gives --plateau-patience to turn on ReduceLROnPlateau got no schedule, and no word
    assert main(["train", *args, "--runs", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {says}: add that, or leave ")
    assert not (tmp_path / "runs").exists()
    assert parsed_config("--scheduler", "plateau", "--plateau-patience", "2").plateau_patience == 2  # with it: kept


def test_the_synthetic_dataset_gets_a_validation_split_that_fits_it():
    assert parsed_config("--dataset", "synthetic").val_size == default_val_size("synthetic") < 600
    assert parsed_config("--dataset", "synthetic", "--val-size", "50").val_size == 50
    assert parsed_config("--dataset", "mnist").val_size == RunConfig().val_size


def test_help_lists_the_allowed_values_of_every_choice_field():
    text = cli_here("train", "--help").stdout
    for field, allowed in CHOICES.items():
        assert f"--{field.replace('_', '-')} {{{','.join(allowed)}}}" in text, field
    assert "{" + ",".join(PRESETS) + "}" in text


def test_presets_are_listed_with_their_measured_figures():
    result = cli_here("presets")
    assert result.returncode == 0
    for name, preset in PRESETS.items():
        assert f"{name}: {preset.title}" in result.stdout and preset.description in result.stdout


def test_a_training_whose_reader_leaves_goes_on_to_its_end(tmp_path):
    # `python -m core train ... | head -1`: the run failed with a BrokenPipeError, and the command exited 0
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "core", "train", "--model", "mlp", "--dataset", "synthetic",
                                "--val-size", "100", "--epochs", "2", "--seeds", "0", "1", "--runs", str(runs)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0 and "Traceback" not in err and "BrokenPipeError" not in err, err
    assert [run.status for run in RunStore(runs).list_runs()] == ["finished", "finished"]
    assert "epoch 2/2" in err  # the progress lines still reach stderr, whose reader stayed


def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(tmp_path):
    # `python -m core presets | head -1`: head exits after its line; here the reader closes before any is written
    process = subprocess.Popen([sys.executable, "-m", "core", "presets"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0 and "Traceback" not in err and "BrokenPipeError" not in err, err


@pytest.mark.parametrize("command", [["runs"], ["runs", "--current"], ["sweep", "--list"], ["sweep", "--stop", "s"],
                                     ["robustness", "r"], ["rebuild-index"], ["export", "tensorboard", "r",
                                                                              "--out", "never-written"]])
def test_commands_that_read_runs_name_a_mistyped_store_and_create_nothing(tmp_path, command):
    for root in (tmp_path / "typo", tmp_path):  # missing, and a folder without a store
        result = cli_here(*command, "--runs", str(root))
        assert result.returncode == 2, result
        assert result.stderr == f"error: no run store in {root} (pass --runs with the folder your runs are in)\n"
    assert list(tmp_path.iterdir()) == [] and not (REPO / "never-written").exists()


def test_robustness_names_an_unknown_run(tmp_path):
    store = RunStore(tmp_path)
    result = cli_here("robustness", "nope", "--runs", str(store.root))
    assert result.returncode == 1 and result.stderr == (f"error: no run has the id 'nope' in {store.root} "
                                                        f"(see python -m core runs --runs {store.root})\n")


def test_worker_names_a_run_that_is_not_queued_instead_of_exiting_silently(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "lower_priority", lambda: None)  # in this process: not the test session's
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100), name="done")
    store.claim(run_id, os.getpid())
    store.finish(run_id, "finished")
    result = cli_here("worker", "--run", run_id, "--runs", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert f"run {run_id} (done) is finished, not queued: nothing to run" in result.stderr
    assert store.get_run(run_id).status == "finished"


def test_worker_evaluate_says_why_there_was_nothing_to_test(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "lower_priority", lambda: None)
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100), name="early")
    store.claim(run_id, os.getpid())
    result = cli_here("worker", "--evaluate", run_id, "--runs", str(tmp_path / "runs"))
    assert result.returncode == 2 and "nothing to test: it is running; it is tested when it ends" in result.stderr
    store.finish(run_id, "stopped")
    result = cli_here("worker", "--evaluate", run_id, "--runs", str(tmp_path / "runs"))
    assert result.returncode == 2 and "it has no checkpoint to test" in result.stderr


def test_delete_names_what_it_changes_asks_and_deletes_each_run_once(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    config = RunConfig(model="mlp", dataset="synthetic", val_size=100)
    parent, other = store.create_run(config, name="parent"), store.create_run(config, name="other")
    for run_id in (parent, other):
        store.claim(run_id, os.getpid())
        store.finish(run_id, "finished")
    store.create_run(config, name="child", parent_id=parent, parent_epoch=1)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    unasked = cli_here("delete", parent, "--runs", str(tmp_path / "runs"))  # no terminal to ask at
    assert unasked.returncode == 1 and "pass --yes" in unasked.stderr and "nothing deleted" in unasked.stderr
    assert "1 run was forked from it (child)" in unasked.stdout
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert cli_here("delete", parent, "--runs", str(tmp_path / "runs")).returncode == 1
    monkeypatch.setattr("builtins.input", lambda question: "y")
    result = cli_here("delete", parent, other, parent, "--runs", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("deleted ") == 2 and not (tmp_path / "runs" / parent).exists()
    assert [run.name for run in store.list_runs()] == ["child"]


def test_delete_refuses_all_when_one_run_is_active_or_unknown(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = RunConfig(model="mlp", dataset="synthetic", val_size=100)
    done, queued = store.create_run(config, name="done"), store.create_run(config, name="waiting")
    store.claim(done, os.getpid())
    store.finish(done, "finished")
    result = cli_here("delete", done, queued, "--yes", "--runs", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert f"stop these runs before deleting them: {queued} ('waiting', queued)" in result.stderr
    result = cli_here("delete", done, "nope", "--yes", "--runs", str(tmp_path / "runs"))
    assert result.returncode == 2 and "no run has the id 'nope'" in result.stderr
    assert len(store.list_runs()) == 2


def test_a_name_too_long_is_refused_before_anything_is_queued(tmp_path):
    result = cli_here("train", "--model", "mlp", "--dataset", "synthetic", "--runs", str(tmp_path / "runs"),
                      "--name", "x" * 101, "--seeds", "0-2")
    assert result.returncode == 2 and "error: name: 101 characters; at most 100" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_the_cli_uses_mnist_runs_dir_as_the_app_does(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "shared"))
    monkeypatch.chdir(tmp_path)
    result = cli_here("train", "--model", "mlp", "--dataset", "synthetic", "--epochs", "1", "--val-size", "100")
    assert result.returncode == 0, result.stderr
    assert len(RunStore(tmp_path / "shared").list_runs()) == 1 and not (tmp_path / "runs").exists()
    assert cli_here("runs").stdout.count("finished") == 1


def test_stop_cancels_a_queued_run_asks_a_running_one_and_names_an_ended_one(tmp_path):
    store = RunStore(tmp_path / "runs")
    config = RunConfig(model="mlp", dataset="synthetic", val_size=100)
    queued, running, ended = (store.create_run(config, name=name) for name in ("queued", "running", "ended"))
    for run_id in (running, ended):
        store.claim(run_id, os.getpid())
    store.finish(ended, "finished")
    result = cli_here("stop", queued, running, ended, "--runs", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Cancelled 'queued': it had not started yet.",
        "Stop requested for 'running': it ends at its next flush and keeps its checkpoints.",
        "Nothing to stop: 'ended' had already ended."]
    assert store.get_run(queued).status == "stopped" and store.stop_requested(running)
    assert cli_here("stop", ended, "--runs", str(tmp_path / "runs")).returncode == 1
    assert cli_here("stop", "nope", "--runs", str(tmp_path / "runs")).returncode == 2


@pytest.mark.parametrize("command", ["runs", "stop", "delete", "rebuild-index"])
def test_a_runs_folder_name_too_long_for_the_system_is_one_error_line(tmp_path, command):
    args = ["x"] if command in ("stop", "delete") else []
    result = cli_here(command, *args, "--runs", str(tmp_path / ("x" * 300)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "a name in its path is too long for this system" in result.stderr


def test_delete_takes_ctrl_d_at_its_question_as_no(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100))
    store.request_stop(run_id)  # cancelled: an ended run

    def ctrl_d(question):
        raise EOFError

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", ctrl_d)
    result = cli_here("delete", run_id, "--runs", str(tmp_path / "runs"))
    assert result.returncode == 1 and "nothing deleted" in result.stderr and "Traceback" not in result.stderr
    assert store.get_run(run_id).status == "stopped"


def test_worker_evaluate_tests_an_untested_run_and_prints_what_it_found(tmp_path, monkeypatch):
    from core.runs.records import RunSummary

    monkeypatch.setattr(supervisor, "lower_priority", lambda: None)
    runs = tmp_path / "runs"
    assert cli_here("train", "--model", "mlp", "--dataset", "synthetic", "--epochs", "1", "--val-size", "100",
                    "--runs", str(runs)).returncode == 0
    store = RunStore(runs)
    (run,) = store.list_runs()
    store.set_summary(run.id, RunSummary(end_reason="interrupted", epochs_completed=1, best_epoch=1))  # untested
    result = cli_here("worker", "--evaluate", run.id, "--runs", str(runs))
    tested = store.get_run(run.id).summary
    assert result.returncode == 0 and tested.test_accuracy is not None
    assert f"test accuracy {tested.test_accuracy:.2%} (best checkpoint, epoch 1)" in result.stdout
    again = cli_here("worker", "--evaluate", run.id, "--runs", str(runs))
    assert again.returncode == 0 and "nothing to test: it was tested already" in again.stderr


def test_an_empty_store_says_so_and_how_to_fill_it(tmp_path):
    RunStore(tmp_path / "runs")
    runs = cli_here("runs", "--runs", str(tmp_path / "runs"))
    assert (runs.returncode, runs.stdout) == (0, f"no runs yet in {tmp_path / 'runs'}: start one with "
                                                 "python -m core train\n")
    sweeps = cli_here("sweep", "--list", "--runs", str(tmp_path / "runs"))  # it printed nothing at all
    assert sweeps.returncode == 0 and sweeps.stdout.startswith(f"no sweeps yet in {tmp_path / 'runs'}: start one")


def test_every_argument_of_every_command_says_what_it_is_in_help():
    def unexplained(parser: argparse.ArgumentParser, command: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    missing += unexplained(sub, f"{command} {name}")
            elif action.help is None:
                missing.append(f"{command}: {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert unexplained(build_parser(), "python -m core") == []  # --data-dir, RUN_ID, --checkpoint had none
