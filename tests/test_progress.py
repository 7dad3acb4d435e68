"""Progress, ETA and queue order: the one definition the Train page and the CLI share."""
from __future__ import annotations

import dataclasses

import pytest

from core.config import RunConfig, planned_steps
from core.runs.progress import MIN_ETA_SECONDS, StepTime, describe, eta_seconds, format_seconds, progress, status_line
from core.runs.queue import current_run, queue_order
from core.runs.records import Environment, Run, RunSummary
from core.status import RunStatus

CONFIG = RunConfig(model="mlp", dataset="synthetic", val_size=100, epochs=4, batch_size=50)  # 10 steps an epoch


def test_the_eta_starts_at_the_first_step_and_waits_for_a_few_seconds_of_data():
    first = StepTime(step=5, time=1000.0)  # a resumed run, say: its clock starts where its steps start
    assert eta_seconds(first, StepTime(6, 1000.0 + MIN_ETA_SECONDS / 2), 40) is None  # still estimating
    assert eta_seconds(first, first, 40) is None
    assert eta_seconds(None, None, 40) is None
    # 10 steps in 5 s: 0.5 s a step, 25 steps left
    assert eta_seconds(first, StepTime(15, 1005.0), 40) == pytest.approx(12.5)
    assert eta_seconds(first, StepTime(45, 1020.0), 40) == 0.0  # past the plan: nothing left


def test_a_run_created_long_before_its_first_step_does_not_inflate_the_eta():
    # the page once timed from the run's creation: a run queued 6 minutes showed "ETA 6m" at step 21
    shown = progress(CONFIG, RunStatus.RUNNING, StepTime(1, 500.0), StepTime(21, 504.0), 3, 1000.0)
    assert shown.eta_s == pytest.approx(19 * 0.2)
    # 20 steps of 50 in 4 s: the speed the ETA is reckoned at, not the batches' own 1,000 samples/s (a busy
    # machine showed 3,207 samples/s beside an ETA that took a quarter of that)
    assert describe(shown) == "epoch 3/4 - step 21/40 - 250 samples/s - ETA 3.8s"
    short = dataclasses.replace(CONFIG, train_samples=100, batch_size=64)  # 2 steps an epoch: 64 and 36
    assert progress(short, RunStatus.RUNNING, StepTime(1, 500.0), StepTime(21, 504.0), 3, None).samples_per_s == 250


def test_progress_of_a_run_in_each_state():
    running = progress(CONFIG, RunStatus.RUNNING, StepTime(1, 0.0), StepTime(10, 1.0), 1, 500.0)
    assert (running.total_steps, running.fraction, running.eta_s) == (planned_steps(CONFIG), 0.25, None)
    assert describe(running).endswith("ETA estimating")
    stopped = progress(CONFIG, RunStatus.STOPPED, StepTime(1, 0.0), StepTime(10, 9.0), 1, 500.0)
    assert (stopped.fraction, stopped.eta_s) == (0.25, None)
    early = progress(CONFIG, RunStatus.EARLY_STOPPED, StepTime(1, 0.0), StepTime(20, 9.0), 2, 500.0)
    assert early.fraction == 1.0  # it completed its plan by stopping early
    assert progress(CONFIG, RunStatus.QUEUED, None, None, 0, None).fraction == 0.0


@pytest.mark.parametrize("seconds, text", [(None, ""), (12.34, "12.3s"), (65, "1m 05s"), (3725, "1h 02m")])
def test_durations_read_the_same_everywhere(seconds, text):
    assert format_seconds(seconds) == text


def run(run_id: str, status: RunStatus, created_at: float) -> Run:
    return Run(id=run_id, name=run_id, config=CONFIG, config_error=None, status=status, created_at=created_at,
               started_at=None, ended_at=None, environment=Environment(), tags=(), notes="",
               summary=RunSummary(), message="", pid=None, heartbeat_at=None, stop_requested=False)


def test_the_queue_is_the_running_run_then_the_queued_ones_oldest_first():
    runs = [run("new", RunStatus.QUEUED, 30.0), run("done", RunStatus.FINISHED, 5.0),
            run("old", RunStatus.QUEUED, 10.0), run("busy", RunStatus.RUNNING, 20.0),
            run("same-time-b", RunStatus.QUEUED, 10.0)]
    assert [r.id for r in queue_order(runs)] == ["busy", "old", "same-time-b", "new"]


def test_the_store_takes_the_next_run_in_queue_order(store, tiny_config):
    first = store.create_run(tiny_config)
    second = store.create_run(dataclasses.replace(tiny_config, seed=1))
    assert store.next_queued() == first
    store.request_stop(first)
    assert store.next_queued() == second


def ended(run_id: str, status: RunStatus, created_at: float, ended_at: float, started_at: float | None = 1.0) -> Run:
    return dataclasses.replace(run(run_id, status, created_at), ended_at=ended_at, started_at=started_at)


def test_a_live_view_follows_the_running_run_then_the_next_queued_then_the_last_to_end():
    queue = [run("next", RunStatus.QUEUED, 30.0), run("later", RunStatus.QUEUED, 40.0)]
    finished = [ended("first", RunStatus.FINISHED, 10.0, 100.0), ended("second", RunStatus.FINISHED, 11.0, 200.0)]
    # a queue of three with the middle one cancelled while it waited: it ended before the last one ran
    cancelled = ended("cancelled", RunStatus.STOPPED, 12.0, 150.0, started_at=None)
    assert current_run([*queue, run("busy", RunStatus.RUNNING, 50.0), *finished]).id == "busy"
    assert current_run([*queue, *finished]).id == "next"
    assert current_run([*finished, cancelled]).id == "second"
    assert current_run([ended("only", RunStatus.STOPPED, 1.0, 2.0, started_at=None)]).id == "only"
    assert current_run([]) is None


def test_the_status_line_says_how_a_run_ended_and_never_reads_after_nothing():
    shown = progress(CONFIG, RunStatus.STOPPED, StepTime(1, 0.0), StepTime(10, 9.0), 1, 500.0)
    stopped = dataclasses.replace(ended("s", RunStatus.STOPPED, 0.0, 65.0), started_at=0.0)
    assert status_line(stopped, shown) == "stopped after 1m 05s - 10 steps"
    cancelled = ended("c", RunStatus.STOPPED, 0.0, 5.0, started_at=None)
    assert status_line(cancelled, progress(CONFIG, RunStatus.STOPPED, None, None, 1, None)) == \
        "stopped before it started"
    queued = run("q", RunStatus.QUEUED, 0.0)
    assert status_line(queued, progress(CONFIG, RunStatus.QUEUED, None, None, 0, None)) == "waiting in the queue"
    busy = progress(CONFIG, RunStatus.RUNNING, StepTime(1, 0.0), StepTime(10, 1.0), 1, 500.0)
    assert status_line(run("r", RunStatus.RUNNING, 0.0), busy) == describe(busy)
