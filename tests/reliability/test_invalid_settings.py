"""Issue 6, case 5: invalid settings are refused before anything starts, with a message naming
the field, and no run is created."""
from __future__ import annotations

import subprocess

import pytest
from reliability_helpers import REPO, cli_command, files_under

import core.cli as cli
from core.cli import train as cli_train
from core.config import MAX_EPOCHS, MODELS
from core.runs.store import RunStore
from tests.pages_helpers import app_store, as_shown, open_page  # noqa: F401

INVALID = [
    (["--lr", "0"], "lr"),
    (["--lr", "-0.1"], "lr"),
    (["--lr", "nan"], "lr"),
    (["--batch-size", "0"], "batch_size"),
    (["--epochs", "101"], "epochs"),  # MAX_EPOCHS is 100
    (["--epochs", "0"], "epochs"),
    (["--model", "resnet"], "model"),
]


@pytest.fixture
def nothing_may_start(monkeypatch):
    """Fail the test if the CLI gets as far as running or queueing anything."""
    started = []
    monkeypatch.setattr(cli_train, "execute_run", lambda *args, **kwargs: started.append(args))
    return started


@pytest.mark.parametrize("args, field", INVALID, ids=[" ".join(a) for a, _ in INVALID])
def test_the_cli_refuses_an_invalid_setting_naming_the_field(tmp_path, capsys, nothing_may_start, args, field):
    runs = tmp_path / "runs"
    code = cli.main(["train", "--dataset", "synthetic", "--val-size", "100", "--runs", str(runs), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: --{field.replace('_', '-')}: ")  # the flag, as typed
    assert nothing_may_start == []
    assert not runs.exists()  # not even an empty store


@pytest.mark.parametrize("args, field", INVALID[::3], ids=[" ".join(a) for a, _ in INVALID[::3]])
def test_an_existing_store_is_left_exactly_as_it_was(tmp_path, capsys, nothing_may_start, tiny_config, args, field):
    store = RunStore(tmp_path / "runs")
    kept = store.create_run(tiny_config, name="kept")
    before = files_under(tmp_path)
    assert cli.main(["train", "--dataset", "synthetic", "--val-size", "100", "--runs", str(store.root), *args]) == 2
    assert f"error: --{field.replace('_', '-')}: " in capsys.readouterr().err
    assert [run.id for run in store.list_runs()] == [kept]
    assert files_under(tmp_path) == before


def test_the_real_command_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = subprocess.run(cli_command("train", "--lr", "0", "--runs", str(tmp_path / "runs")), cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --lr: must be in (0, 10], got 0"
    assert result.stdout == "" and not (tmp_path / "runs").exists()


# The Train page: lr, batch size, epochs and model come from widgets whose ranges and options hold
# only valid values, so those cannot even be entered; what the form can get wrong is refused at Start.
def test_the_train_form_cannot_enter_the_invalid_values(app_store):
    at = open_page("pages/train.py")
    assert min(at.select_slider(key="train_lr").options, key=float) == "1e-05"
    assert max(at.select_slider(key="train_lr").options, key=float) == "1"
    assert min(int(v) for v in at.select_slider(key="train_batch_size").options) == 16
    epochs = at.slider(key="train_epochs")
    assert (epochs.min, epochs.max) == (1, MAX_EPOCHS)  # 101 cannot be entered
    assert at.selectbox(key="train_model").options == list(MODELS)


@pytest.mark.parametrize("settings, field", [
    ({"train_model": "mlp", "train_hidden_sizes": "0"}, "Hidden layer sizes: must be from 1 to 4096"),
    ({"train_model": "mlp", "train_hidden_sizes": "128, x"}, "Hidden layer sizes: write whole numbers"),
    ({"train_dataset": "synthetic", "train_val_size": 5000},
     "Validation images: must be below the 600 training images"),
    ({"train_val_size": 0, "train_patience": 2}, "Early stopping patience: early stopping needs a validation set"),
])
def test_the_train_page_refuses_bad_settings_before_anything_starts(app_store, settings, field):
    at = open_page("pages/train.py")
    for key, value in settings.items():
        widget = at.selectbox(key=key) if key in ("train_model", "train_dataset") else None
        if widget is not None:
            widget.set_value(value).run()
        elif key == "train_hidden_sizes":
            at.text_input(key=key).set_value(value).run()
        else:
            at.number_input(key=key).set_value(value).run()
    at.button(key="train_start").click().run()
    assert any(field in as_shown(error.value) and error.value.startswith("Not started") for error in at.error), \
        [error.value for error in at.error]
    assert app_store.list_runs() == []
