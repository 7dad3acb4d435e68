"""Your own CSV data: checks with clear messages, encoding, reproducible splits, and training on it."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tabular_helpers import CLASSES, csv_bytes, pets_config, pets_frame

from core.cli import main
from core.config import ConfigError, RunConfig
from core.runs.supervisor import execute_run
from core.training.checkpoints import load_model
from core.training.data import DataError
from core.training.datasets import load_datasets
from core.training.tabular import (
    MAX_CSV_BYTES,
    CsvError,
    check_table,
    describe_table,
    encode,
    left_out_note,
    load_table,
    read_table,
    sha256,
    split_indices,
)
from core.training.tabular import test_rows as rows_of_the_test_split  # not collected as a test

FEATURES = ("weight", "legs", "colour")


def problems(data: bytes, target: str = "animal", features=FEATURES, **options) -> list:
    return list(check_table(read_table(data), target, tuple(features), **options).problems)


# --- files that are not a usable table ---------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x1c", "not a CSV file: it holds binary data"),
    (bytes(range(1, 32)) * 20, "not a CSV file: it holds binary data"),
    (b"just one column\n1\n2\n3\n", "found one column"),
    (b'a,b\n1,"2\n3,4\n', "not a CSV file"),
    (b"", "the file is empty"),
    (b"  \n\n", "the file is empty"),
    (b"weight,animal\n", "the file has a header but no rows"),
], ids=["png", "control-bytes", "one-column", "unclosed-quote", "empty", "blank", "header-only"])
def test_files_that_are_not_tables_are_refused_with_the_reason(data, message):
    with pytest.raises(CsvError, match=message):
        read_table(data)


@pytest.mark.parametrize("index", [pd.RangeIndex(40), pd.RangeIndex(1, 41)], ids=["pandas", "R"])
def test_a_saved_row_index_is_left_out_and_said(index):
    frame = pets_frame(40).set_index(index)
    read = read_table(frame.to_csv().encode())  # the index, with no name, first: as to_csv writes by default
    pd.testing.assert_frame_equal(read, read_table(csv_bytes(frame)))
    start = index[0]
    assert left_out_note(read).startswith(f"The first column has no name and numbers the rows ({start}, "
                                          f"{start + 1}, {start + 2}, ...): a saved row index")
    assert left_out_note(read_table(csv_bytes(frame))) is None


@pytest.mark.parametrize("data, message", [
    (b",weight,animal\n0,1.5,cat\n2,2.5,dog\n", "column 1 of the header row has no name"),  # skips a number
    (b",weight,animal\n5,1.5,cat\n6,2.5,dog\n", "column 1 of the header row has no name"),  # starts at 5
    (b",weight,animal\nx,1.5,cat\ny,2.5,dog\n", "column 1 of the header row has no name"),  # not numbers
    (b"weight,,animal\n1.5,0,cat\n", "column 2 of the header row has no name"),
    (b",animal\n0,cat\n1,dog\n", "found one column besides the saved row index"),
], ids=["gap", "offset", "text", "second-column", "nothing-else"])
def test_an_unnamed_column_that_is_no_saved_index_is_refused(data, message):
    with pytest.raises(CsvError, match=re.escape(message)):
        read_table(data)

def test_a_file_over_the_size_limit_is_refused_naming_the_limit():
    data = b"a,b\n" + b"1,2\n" * (MAX_CSV_BYTES // 4)
    assert len(data) > MAX_CSV_BYTES
    with pytest.raises(CsvError, match=r"the file is 20\.0 MB; the limit is 20 MB"):
        read_table(data)


def test_semicolons_and_a_byte_order_mark_are_read():
    frame = read_table("\ufeffx;y;label\n1,5;2;a\n3;4;b\n".encode())
    assert list(frame.columns) == ["x", "y", "label"] and len(frame) == 2


def test_text_in_windows_1252_is_read():
    frame = read_table("name,label\ncafé,a\nthé,b\n".encode("cp1252"))
    assert frame["name"].tolist() == ["café", "thé"]


# --- tables whose chosen columns cannot train ---------------------------------------------------------

def test_a_single_class_is_refused():
    frame = pets_frame(40).assign(animal="cat")
    (problem,) = problems(csv_bytes(frame), features=("weight", "legs"))
    assert "the target 'animal' has a single class ('cat' in every row)" in problem.message
    assert problem.fix is None


def test_a_target_with_hundreds_of_values_is_refused():
    frame = pets_frame(300).assign(id=[f"row-{i}" for i in range(300)], price=np.linspace(0, 1, 300))
    (by_id,) = problems(csv_bytes(frame), target="id", features=("weight", "legs"))
    assert "the target 'id' has 300 different values, and at most 50 classes" in by_id.message
    assert "an identifier or free text" in by_id.message
    (by_price,) = problems(csv_bytes(frame), target="price", features=("weight", "legs"))
    assert "a number that varies continuously" in by_price.message


def test_a_text_column_with_few_values_is_named_and_offered_one_hot():
    (problem,) = problems(csv_bytes(pets_frame()))
    assert problem.fix == "one_hot" and problem.columns == ("colour",)
    assert "the feature 'colour' is not numeric" in problem.message
    assert "3 text values ('blue', 'green', 'red')" in problem.message
    assert problems(csv_bytes(pets_frame()), one_hot=("colour",)) == []


def test_a_text_column_with_many_values_is_named_without_an_offer():
    frame = pets_frame(100).assign(owner=[f"owner {i}" for i in range(100)])
    (problem,) = problems(csv_bytes(frame), features=("weight", "owner"))
    assert "the feature 'owner' is not numeric (e.g. 'owner 0' in row 1)" in problem.message
    assert "too many to one-hot encode" in problem.message and problem.fix is None


def test_a_number_column_with_a_stray_word_names_the_word_and_its_row():
    frame = pets_frame(30).astype({"weight": object})
    frame.loc[6, "weight"] = "heavy"
    (problem,) = problems(csv_bytes(frame), features=("weight", "legs"))
    assert "(e.g. 'heavy' in row 7)" in problem.message


def test_missing_values_say_how_many_and_where_and_offer_to_drop_the_rows():
    frame = pets_frame(60)
    frame.loc[[3, 17], "weight"] = np.nan
    frame.loc[[17, 40], "animal"] = None
    (problem,) = problems(csv_bytes(frame), one_hot=("colour",))
    assert problem.fix == "drop_missing"
    assert problem.message.startswith("4 missing values in 3 of 60 rows - ")
    assert "'weight': 2 (rows 4, 18)" in problem.message and "'animal': 2 (rows 18, 41)" in problem.message
    checked = check_table(read_table(csv_bytes(frame)), "animal", FEATURES, one_hot=("colour",), drop_missing=True)
    assert checked.ok and checked.rows == 57


def test_values_too_large_to_train_on_are_named_with_their_rows():
    # inf, or past float32's range: accepted, they made the run's loss NaN at its first step ("try a lower lr")
    frame = pets_frame(60).assign(legs=lambda f: f["legs"].astype(float))
    frame.loc[4, "weight"], frame.loc[[7, 9], "legs"] = np.inf, [1e39, -1e39]
    found = problems(csv_bytes(frame), features=("weight", "legs"))
    assert [p.message for p in found] == [
        "the feature 'weight' has 1 value too large to train on (infinite, or beyond ±3.4e38) in row 5: fix it "
        "in the file, or leave the feature out",
        "the feature 'legs' has 2 values too large to train on (infinite, or beyond ±3.4e38) in rows 8, 10: fix "
        "them in the file, or leave the feature out"]


def test_many_missing_rows_are_counted_not_all_listed():
    frame = pets_frame(60)
    frame.loc[range(0, 60, 5), "legs"] = np.nan
    (problem,) = problems(csv_bytes(frame), one_hot=("colour",))
    assert "'legs': 12 (rows 1, 6, 11, 16, 21 and 7 more)" in problem.message


def test_every_problem_is_reported_at_once():
    frame = pets_frame(60)
    frame.loc[5, "legs"] = np.nan
    fixes = [p.fix for p in problems(csv_bytes(frame))]
    assert sorted(fixes) == ["drop_missing", "one_hot"]


@pytest.mark.parametrize("target, features, message", [
    ("animal", ("weight", "nope"), "no column named 'nope'"),
    ("animal", (), "no feature columns"),
    ("animal", ("animal", "weight"), "the target 'animal' cannot be a feature too"),
])
def test_column_choices_that_make_no_sense_are_named(target, features, message):
    (problem,) = problems(csv_bytes(pets_frame(30)), target=target, features=features)
    assert message in problem.message


def test_too_few_rows_are_refused():
    (problem,) = problems(csv_bytes(pets_frame(6)), one_hot=("colour",))
    assert "6 rows are left to use; at least 10" in problem.message


# --- encoding and splits ------------------------------------------------------------------------------

def test_encoding_one_hot_columns_and_numeric_classes():
    frame = pd.DataFrame({"size": [1.5, 2.5, 3.5, 4.5] * 3, "shape": ["sq", "tri", "sq", "ci"] * 3,
                          "grade": [3.0, 1.0, 2.0, 1.0] * 3})
    data = csv_bytes(frame)
    table_settings, _ = describe_table(data, "t.csv", "grade", ("shape", "size"), one_hot=("shape",),
                                       test_fraction=0.25)
    table = encode(read_table(data), table_settings)
    assert table.classes == ("1", "2", "3")  # by value, and 1.0 reads as 1
    assert table.feature_names == ("shape=ci", "shape=sq", "shape=tri", "size")
    assert table.features[:4].tolist() == [[0, 1, 0, 1.5], [0, 0, 1, 2.5], [0, 1, 0, 3.5], [1, 0, 0, 4.5]]
    assert table.labels[:4].tolist() == [2, 0, 1, 0]
    assert (table_settings.rows, table_settings.inputs, table_settings.test_size) == (12, 4, 3)


def test_the_test_rows_depend_on_the_file_alone_and_the_splits_cover_every_row(store):
    config = pets_config(store)
    _, table = load_table(config.csv, store.tables_dir)
    train, val, test = split_indices(table, config.csv, config.val_size, config.seed)
    _, other_val, other_test = split_indices(table, config.csv, 50, seed=7)
    assert torch.equal(test, other_test) and not torch.equal(val[:36], other_val[:36])
    assert len(test) == config.csv.test_size == 36 and len(val) == 36
    assert sorted(torch.cat([train, val, test]).tolist()) == list(range(config.csv.rows))


def test_a_changed_or_missing_stored_table_is_refused(store):
    config = pets_config(store)
    path = store.tables_dir / f"{config.csv.sha256}.csv"
    path.write_bytes(path.read_bytes().replace(b"cat", b"cow", 1))
    with pytest.raises(DataError, match="was changed"):
        load_datasets(config, tables_dir=store.tables_dir)
    path.unlink()
    with pytest.raises(DataError, match="'pets.csv' is missing from the run store"):
        load_datasets(config, tables_dir=store.tables_dir)


# --- the config ---------------------------------------------------------------------------------------

def test_a_table_config_round_trips_through_json_and_validates(store):
    config = pets_config(store)
    assert RunConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["csv"]["classes"] == list(CLASSES)
    with pytest.raises(ConfigError, match="model: a table's rows are not images"):
        dataclasses.replace(config, model="cnn")
    with pytest.raises(ConfigError, match="augment_shift"):
        dataclasses.replace(config, augment_shift=2)
    with pytest.raises(ConfigError, match="val_size: must be below the 204 rows left after the test rows"):
        dataclasses.replace(config, val_size=204)
    with pytest.raises(ConfigError, match="dataset: 'csv' needs a table"):
        RunConfig(dataset="csv", model="mlp")
    with pytest.raises(ConfigError, match="csv: a table belongs to dataset 'csv'"):
        dataclasses.replace(config, dataset="mnist")
    with pytest.raises(ConfigError, match="sha256"):
        dataclasses.replace(config, csv=dataclasses.replace(config.csv, sha256="abc"))


def test_an_older_stored_config_without_a_table_still_opens():
    stored = RunConfig(model="mlp", dataset="synthetic", val_size=100).to_dict()
    del stored["csv"]
    config, error = RunConfig.from_stored(stored)
    assert error is None and config.csv is None and config.dataset == "synthetic"


def test_a_stored_table_config_that_no_longer_validates_is_shown_not_trained(store):
    stored = pets_config(store).to_dict()
    stored["csv"]["classes"] = ["only"]
    config, error = RunConfig.from_stored(stored)
    assert error == "csv: needs 2 to 50 classes, got 1" and config.csv.classes == ("only",)


# --- training on it -----------------------------------------------------------------------------------

def test_an_mlp_trains_on_a_small_csv_and_its_checkpoint_predicts_raw_rows(store):
    config = pets_config(store, epochs=6)
    run_id = store.create_run(config, name="pets")
    assert execute_run(store, run_id) == "finished", store.get_run(run_id).message
    run = store.get_run(run_id)
    assert run.summary.test_accuracy >= 0.9
    assert len(run.evaluation.confusion) == 3 and len(run.evaluation.per_class_accuracy) == 3
    assert sum(map(sum, run.evaluation.confusion)) == config.csv.test_size
    model, loaded, _ = load_model(store.checkpoint_path(run_id, "best"))
    assert loaded == config
    datasets = load_datasets(config, tables_dir=store.tables_dir)
    # standardised inside the model with the training split's statistics: it takes the file's values
    assert torch.allclose(model.scale.mean, datasets.train.images.mean(0))
    assert torch.allclose(model.scale.std, datasets.train.images.std(0, correction=0))
    with torch.no_grad():
        accuracy = (model(datasets.test.images).argmax(1) == datasets.test.labels).float().mean().item()
    assert accuracy == pytest.approx(run.summary.test_accuracy)


def test_a_table_run_is_reproducible_from_the_store_alone(store):
    config = pets_config(store, epochs=2)
    first, second = store.create_run(config), store.create_run(config)
    for run_id in (first, second):
        assert execute_run(store, run_id) == "finished"
    values = [[(m.split, m.name, m.step, m.value) for m in store.read_metrics(run_id)[0]
               if m.name not in ("samples_per_s", "epoch_seconds")] for run_id in (first, second)]
    assert values[0] == values[1]


def test_deleting_a_run_drops_its_table_once_no_run_uses_it(store):
    config = pets_config(store, epochs=1)
    first, second = store.create_run(config), store.create_run(config)
    path = store.tables_dir / f"{config.csv.sha256}.csv"
    store.request_stop(first), store.request_stop(second)
    store.delete_run(first)
    assert path.exists()
    store.delete_run(second)
    assert not path.exists()


# --- the command line ---------------------------------------------------------------------------------

def test_cli_trains_on_a_csv_with_one_hot_and_dropped_rows(tmp_path, capsys):
    frame = pets_frame(200)
    frame.loc[[2, 9], "legs"] = np.nan
    path = tmp_path / "pets.csv"
    path.write_bytes(csv_bytes(frame))
    code = main(["train", "--csv", str(path), "--target", "animal", "--one-hot", "colour", "--drop-missing",
                 "--epochs", "2", "--batch-size", "16", "--device", "cpu", "--runs", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr()
    from core.runs.store import RunStore

    (run,) = RunStore(tmp_path / "runs").list_runs()
    table = run.config.csv
    assert (run.status, run.config.model, run.config.dataset) == ("finished", "mlp", "csv")
    assert (table.rows, table.test_size, run.config.val_size) == (198, 30, 30)
    assert table.features == ("weight", "legs", "colour") and table.one_hot == ("colour",)
    assert table.sha256 == sha256(path.read_bytes())
    assert (tmp_path / "runs" / "tables" / f"{table.sha256}.csv").read_bytes() == path.read_bytes()


def test_cli_leaves_out_a_saved_row_index_and_says_so(tmp_path, capsys):
    path = tmp_path / "pets.csv"
    path.write_text(pets_frame(60).to_csv())
    code = main(["train", "--csv", str(path), "--target", "animal", "--one-hot", "colour", "--epochs", "1",
                 "--batch-size", "16", "--device", "cpu", "--runs", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pets.csv: The first column has no name and numbers the rows (0, 1, 2, ...)" in out
    from core.runs.store import RunStore

    (run,) = RunStore(tmp_path / "runs").list_runs()
    assert run.config.csv.features == ("weight", "legs", "colour") and run.status == "finished"

@pytest.mark.parametrize("frame_change, extra, message", [
    (lambda f: f, [], "the feature 'colour' is not numeric.*\\(to encode it: --one-hot colour\\)"),
    (lambda f: f.assign(legs=[None] + [4.0] * (len(f) - 1)), ["--one-hot", "colour"],
     "1 missing values in 1 of 40 rows - 'legs': 1 \\(row 1\\).*\\(to leave them out: --drop-missing\\)"),
    (lambda f: f.assign(animal="cat"), ["--one-hot", "colour"], "single class"),
])
def test_cli_refuses_a_bad_csv_and_starts_nothing(tmp_path, capsys, frame_change, extra, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(frame_change(pets_frame(40))))
    code = main(["train", "--csv", str(path), "--target", "animal", *extra, "--runs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: bad.csv cannot train as chosen:\n  - ")
    assert re.search(message, err), err
    from core.runs.store import RunStore

    assert RunStore(tmp_path / "runs").list_runs() == []
    assert not (tmp_path / "runs" / "tables").exists()


def test_cli_refuses_a_table_run_with_no_test_rows(tmp_path, capsys):
    path = tmp_path / "pets.csv"
    path.write_bytes(csv_bytes(pets_frame(40)))
    code = main(["train", "--csv", str(path), "--target", "animal", "--one-hot", "colour", "--test-size", "0",
                 "--runs", str(tmp_path / "runs")])
    assert code == 2 and "error: --test-size: must be from 1 to 39, got 0" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # before, the run was stored and failed at its end


def test_cli_names_a_missing_target_and_an_unreadable_file(tmp_path, capsys):
    assert main(["train", "--csv", str(tmp_path / "nope.csv"), "--target", "x", "--runs", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["train", "--csv", str(tmp_path / "nope.csv"), "--runs", str(tmp_path)]) == 2
    assert "--csv needs --target COLUMN" in capsys.readouterr().err


def test_cli_tests_a_table_checkpoint_on_its_test_rows_with_class_names(store, capsys):
    config = pets_config(store, epochs=2)
    run_id = store.create_run(config)
    assert execute_run(store, run_id) == "finished"
    run = store.get_run(run_id)
    assert main(["test", "--checkpoint", str(store.checkpoint_path(run_id, "best")), "--show-samples", "2"]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {run.summary.test_accuracy:.2%} ({round(run.summary.test_accuracy * 36)}/36)" in out
    assert "  bird: " in out and "  dog: " in out and "first 2 test rows:" in out
    # named by their rows in the file, as the checks and the Runs page count them (it printed #0, #1)
    first_rows = rows_of_the_test_split(*load_table(config.csv, store.tables_dir), config.csv).index[:2].tolist()
    assert re.search(rf"  row {first_rows[0]}: true (bird|cat|dog), predicted (bird|cat|dog)", out)
    assert f"  row {first_rows[1]}: true " in out and "#0" not in out


def test_a_copied_table_checkpoint_finds_its_table_in_the_default_store_or_says_to_pass_runs(
        store, tmp_path, capsys, monkeypatch):
    run_id = store.create_run(pets_config(store, epochs=1))
    assert execute_run(store, run_id) == "finished"
    copy = tmp_path / "home" / "downloads" / "pets.pt"  # two folders up is no run store
    copy.parent.mkdir(parents=True)
    shutil.copy(store.checkpoint_path(run_id, "best"), copy)
    monkeypatch.chdir(copy.parent.parent)
    monkeypatch.delenv("MNIST_RUNS_DIR", raising=False)
    capsys.readouterr()
    assert main(["test", "--checkpoint", str(copy)]) == 2
    err = capsys.readouterr().err  # it named a store at the file system's root, and no way out
    assert f"is missing from the run store: {Path('runs') / 'tables'}" in err  # ./runs, as the other commands
    assert err.rstrip().endswith("pass --runs with the run store the run was trained in")
    monkeypatch.setenv("MNIST_RUNS_DIR", str(store.root))  # as the app and the other commands read it
    assert main(["test", "--checkpoint", str(copy), "--show-samples", "0"]) == 0
