"""Issue 6, case 8: run names with `../`, slashes, NUL, unicode and 10,000 characters are stored safely:
a name of one line within 100 characters is stored as given and read back exactly; one with NUL or other
control characters, or of 10,000 characters, is refused with a message naming why (core.names), before
anything is written; and no file lands outside the runs folder."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from reliability_helpers import files_under

from core.cli import main
from core.cli.output import one_line
from core.names import InvalidText
from core.runs.store import RunStore
from core.runs.supervisor import execute_run

NAMES = {
    "parent": "../../../escaped",
    "slashes": "a/b\\c//d/",
    "absolute": "/tmp/absolute-name",
    "nul": "before\x00after",
    "unicode": "Zürich ünïcödé 数字 🚀 \u202eRTL\u202c e\u0301",
    "control": "tab\tnew\nline\rcarriage",
    "long": "x" * 9_990 + "/../../end",
}
REFUSED = {"nul": "one line of text", "control": "one line of text", "long": "10000 characters; at most 100"}
STORED = {label: name for label, name in NAMES.items() if label not in REFUSED}


@pytest.fixture
def nested_store(tmp_path) -> RunStore:
    """A store three folders down: a name that escaped upwards would land inside tmp_path."""
    return RunStore(tmp_path / "a" / "b" / "runs")


def new_files_outside(store: RunStore, tmp_path: Path, before: set[Path]) -> list[Path]:
    inside = store.root.relative_to(tmp_path)
    return sorted(p for p in files_under(tmp_path) - before if inside not in (p, *p.parents))


def test_hostile_names_are_stored_exactly_or_refused_and_write_nothing_outside(tmp_path, nested_store, tiny_config):
    store = nested_store
    before = files_under(tmp_path)
    ids = {}
    for label, name in STORED.items():
        ids[label] = store.create_run(replace(tiny_config, epochs=1), name=name, tags=[name[:40]])
        assert execute_run(store, ids[label]) == "finished"
    for label, why in REFUSED.items():
        with pytest.raises(InvalidText, match=why):
            store.create_run(replace(tiny_config, epochs=1), name=NAMES[label])
    assert new_files_outside(store, tmp_path, before) == []
    listed = {run.id: run for run in store.list_runs()}
    assert len(listed) == len(STORED)
    for label, name in STORED.items():
        run = store.get_run(ids[label])
        assert run.name == name and listed[run.id].name == name and run.tags == (name[:40].strip(),), label
        assert store.checkpoint_path(run.id, "best").parent == store.root / run.id  # folders by id only
    assert sorted(p.name for p in store.root.iterdir() if p.is_dir()) == sorted(ids.values())


def test_renaming_to_a_hostile_name_round_trips_or_is_refused(nested_store, tiny_config):
    run_id = nested_store.create_run(tiny_config, name="plain")
    for name in STORED.values():
        nested_store.rename(run_id, name)
        assert RunStore(nested_store.root).get_run(run_id).name == name
    for label in REFUSED:
        with pytest.raises(InvalidText):
            nested_store.rename(run_id, NAMES[label])
        assert RunStore(nested_store.root).get_run(run_id).name == name  # the last stored one, kept


def test_hostile_names_given_to_the_cli_stay_inside_too(tmp_path, nested_store, capsys):
    before = files_under(tmp_path)
    train = ["train", "--model", "mlp", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "64",
             "--val-size", "100", "--device", "cpu", "--runs", str(nested_store.root), "--name"]
    for name in STORED.values():  # through `train --name` and back out of `runs`
        assert main([*train, name]) == 0
    capsys.readouterr()
    for label in ("control", "long"):  # argv cannot carry NUL
        assert main([*train, NAMES[label]]) == 2
        assert f"error: name: {REFUSED[label]}" in capsys.readouterr().err
    assert new_files_outside(nested_store, tmp_path, before) == []
    assert sorted(run.name for run in nested_store.list_runs()) == sorted(STORED.values())
    assert main(["runs", "--runs", str(nested_store.root)]) == 0
    listing = capsys.readouterr().out
    # a header, then one line a run, each name as one_line shows it
    assert len(listing.splitlines()) == 1 + len(STORED) and all(one_line(name) in listing for name in STORED.values())
