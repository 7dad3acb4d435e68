"""The sweeps table: what a sweep's record says about its time."""
from __future__ import annotations

import json
import os

import pytest

from core.runs.store import RunStore
from core.status import RunStatus
from core.sweeps.records import SweepPlan
from core.sweeps.space import parse_space
from core.sweeps.store import SweepStore

SPACE = {"model": "mlp", "dataset": "synthetic", "val_size": 100, "epochs": 1, "lr": [0.1, 0.01]}


def test_a_resumed_sweep_counts_the_time_it_ran_not_the_time_it_sat_stopped(tmp_path):
    runs = RunStore(tmp_path)
    sweeps = SweepStore(runs)
    sweep_id = sweeps.create(SweepPlan(parse_space(SPACE), strategy="grid", trials=2))
    sweeps.start(sweep_id, os.getpid())
    sweeps.finish(sweep_id, RunStatus.STOPPED)
    with runs.transaction() as db:  # it ran for 60 s, then sat stopped for a day
        db.execute("UPDATE sweeps SET started_at=?, ended_at=? WHERE id=?", (1000.0, 1060.0, sweep_id))
    assert sweeps.get(sweep_id).duration == pytest.approx(60.0)
    sweeps.start(sweep_id, os.getpid())
    resumed = sweeps.get(sweep_id)
    assert resumed.ran_before_s == pytest.approx(60.0) and 60.0 <= resumed.duration < 60.0 + 3600
    sweeps.finish(sweep_id, RunStatus.FINISHED)
    ended = sweeps.get(sweep_id)
    assert ended.duration == pytest.approx(60.0 + ended.ended_at - ended.started_at)


def test_a_driver_killed_unnoticed_counts_until_its_last_beat(tmp_path):
    runs = RunStore(tmp_path)
    sweeps = SweepStore(runs)
    killed = sweeps.create(SweepPlan(parse_space(SPACE), strategy="grid", trials=2))
    noticed = sweeps.create(SweepPlan(parse_space(SPACE), strategy="grid", trials=2))
    for sweep_id in (killed, noticed):
        sweeps.start(sweep_id, os.getpid())
        with runs.transaction() as db:  # it ran 100 s, beat for the last time, and was killed a day ago
            db.execute("UPDATE sweeps SET started_at=?, heartbeat_at=? WHERE id=?", (1000.0, 1100.0, sweep_id))
    sweeps.start(killed, os.getpid())  # `sweep --resume` at once: no one marked it interrupted
    assert sweeps.get(killed).ran_before_s == pytest.approx(100.0)
    assert sweeps.mark_interrupted(noticed, "the sweep's driver process ended")  # noticed the next morning
    assert (sweeps.get(noticed).ended_at, sweeps.get(noticed).duration) == (1100.0, pytest.approx(100.0))


def test_a_sweep_stored_before_sweeps_kept_files_gets_its_file_when_listed(tmp_path):
    runs = RunStore(tmp_path)
    sweeps = SweepStore(runs)
    sweep_id = sweeps.create(SweepPlan(parse_space(SPACE), strategy="grid", trials=2))
    (tmp_path / "sweeps" / f"{sweep_id}.json").unlink()  # as an older version left it
    sweeps.list()
    assert json.loads((tmp_path / "sweeps" / f"{sweep_id}.json").read_text())["id"] == sweep_id
