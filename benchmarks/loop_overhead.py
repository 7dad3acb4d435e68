"""The loop's overhead over the compute floor, with the two taking turns inside their epochs.

    python -m benchmarks.loop_overhead            # the MLP, batch 64, 20 epochs of each
    python -m benchmarks.loop_overhead --repeats 40 --model mlp

pipeline_speed times whole epochs in turn; an MLP epoch lasts 0.4 s, and this shared machine slows
down and speeds up in phases, so one run's fastest epoch moves by five points either way. Here the
worker's epoch (core's training generator consumed by the worker, its recorder and the run store:
pipeline_speed's "project") pauses after every read-back group of READ_BACK_EVERY batches while the
floor (forward, backward and step over the same in-memory data, and the project's optimizer) trains
as many batches; each turn lasts about 20 ms, so both sides of a turn meet the same machine. Whichever
starts an epoch pays for its start (the control below read +1% with its second floor always first, -1%
with it always second), so every other repeat runs the floor's turn first.

What happens at a fixed place in every batch is measured in the turns: the steps, the read-back, the
events and the recorder's row a batch. What happens by the clock is not, since it falls in a different
turn each repeat and the fastest of a turn is the one without it: so the turns run without it, and it is
timed apart and added back (a review found the first version of this benchmark dropped it):
- a read-back group cut short by SYNC_WAIT_S (a stalled machine) would put more or fewer steps in a
  turn than the floor's 50, so the turns run with no deadline (each group has its 50 batches);
- the recorder flushes every FLUSH_INTERVAL_S, about once an MLP epoch: added back, the mean of 40
  flushes of an epoch's rows into one run (one flush an epoch, as a real run makes; a turned epoch,
  twice as long in wall time, would make two), about one in ten paying for SQLite's checkpoint;
- the worker's heartbeat thread writes once a HEARTBEAT_INTERVAL_S: added back, the median of 10 beats
  times the epoch's beats.

Printed, for the worker's epoch ("project"), the training generator alone (no worker, no store, nothing
to add back), and a control (the floor against a second floor in the same turns, which should read 0 and
shows the method's own error):
- fastest of the interleaved repeats, turn by turn: for each turn of the epoch, the fastest over the
  repeats, summed over the epoch, over the floor's sum (issue 17's measure, at its finest);
- the median over pairs of repeats (one of each order) of the pair's side seconds over its floor seconds.
The checkpoints and test after the epoch are not counted (pipeline_speed leaves them out too).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import torch
from torch import nn

from core.config import RunConfig, steps_per_epoch
from core.runs import recorder, supervisor
from core.runs.recorder import batch_row
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.runs.trial import READ_BACK_EVERY, run_trial
from core.training import loop
from core.training.data import Datasets, batches, build_datasets, load_arrays
from core.training.events import BatchEnded
from core.training.loop import prepare, train
from core.training.models import build_model
from core.training.optim import build_optimizer

NEVER_S = 3600.0  # a deadline or interval that never comes within an epoch
Turns = list[tuple[float, float]]  # (this side's seconds, the floor's) for each turn of an epoch


def floor_turns(config: RunConfig, data: Datasets) -> Iterator[None]:
    """pipeline_speed's floor epoch, its model and optimizer built now (as the sides' are before their
    epochs), pausing after every READ_BACK_EVERY batches and after the last."""
    torch.manual_seed(config.seed)
    model = build_model(config)
    optimizer = build_optimizer(config, model)
    return _floor_epoch(model, optimizer, data, config.batch_size, torch.Generator().manual_seed(config.seed))


def _floor_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: Datasets, batch_size: int,
                 order: torch.Generator) -> Iterator[None]:
    criterion = nn.CrossEntropyLoss()
    model.train()
    for index, (images, labels) in enumerate(batches(data.train, batch_size, order), 1):
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        if index % READ_BACK_EVERY == 0:
            yield
    if index % READ_BACK_EVERY:
        yield


def _turn(floor: Iterator[None]) -> float:
    started = time.perf_counter()
    next(floor)
    return time.perf_counter() - started


def taking_turns(items: Iterator, floor: Iterator[None], steps: int, turns: Turns,
                 floor_first: bool = False) -> Iterator:
    """Pass an epoch's items on, pausing for a turn of the floor after every READ_BACK_EVERY batches
    have been consumed, and after the last; then stop, leaving the rest of the run untrained.

    floor_first: the floor's turn comes before the side's instead of after it (from the start of the
    epoch): whichever starts an epoch pays for its start, about 1% here, so the repeats take turns.
    """
    floor_s = _turn(floor) if floor_first else 0.0
    started, done, group_rate = time.perf_counter(), 0, None
    for item in items:
        yield item
        if not isinstance(item, BatchEnded):
            continue
        done += 1
        group_rate = item.samples_per_s if done % READ_BACK_EVERY == 1 else group_rate
        if done % READ_BACK_EVERY and done < steps:
            continue
        if item.samples_per_s != group_rate:  # one read-back's batches share its rate
            raise RuntimeError(f"the turn ending at batch {done} held more than one read-back: its steps are not "
                               "the floor's")
        side_s = time.perf_counter() - started
        if not floor_first:
            floor_s = _turn(floor)
        turns.append((side_s, floor_s))
        if done == steps:
            return
        if floor_first:
            floor_s = _turn(floor)
        started = time.perf_counter()


def project_epoch(config: RunConfig, runs_root: Path, floor: Iterator[None], floor_first: bool) -> Turns:
    """The worker's first epoch (execute_run, its heartbeat, recorder and store), in turns with the floor."""
    turns: Turns = []
    steps = steps_per_epoch(60_000, config.batch_size)

    def source(*args, **kwargs) -> Iterator:
        items = run_trial(*args, **kwargs)
        yield next(items)  # Started: the data is loaded and the model built; the epoch begins next
        yield from taking_turns(items, floor, steps, turns, floor_first)

    store = RunStore(runs_root)
    execute_run(store, store.create_run(config), source=source)
    return turns


def generator_epoch(config: RunConfig, data: Datasets, floor: Iterator[None], floor_first: bool = False) -> Turns:
    """core's training generator alone, read back as a trial does, its events dropped, in turns with the floor."""
    turns: Turns = []
    state = prepare(config, data, torch.device("cpu"))
    events = train(config, data, state, should_stop=lambda: False, sync_every=READ_BACK_EVERY)
    for _ in taking_turns(events, floor, steps_per_epoch(len(data.train), config.batch_size), turns, floor_first):
        pass
    return turns


def floor_epoch(config: RunConfig, data: Datasets, floor: Iterator[None], floor_first: bool) -> Turns:
    """The control: a second floor in the same turns."""
    second, turns = floor_turns(config, data), []
    for _ in range(math.ceil(steps_per_epoch(len(data.train), config.batch_size) / READ_BACK_EVERY)):
        if floor_first:
            floor_s = _turn(floor)
            turns.append((_turn(second), floor_s))
        else:
            second_s = _turn(second)
            turns.append((second_s, _turn(floor)))
    return turns


Side = Callable[[RunConfig, Datasets, Iterator[None], int, bool], Turns]


def measure(config: RunConfig, repeats: int, runs_root: Path) -> dict[str, list[Turns]]:
    """Each side's epochs, `repeats` of them in rotation, each in turns with a fresh floor epoch; nothing by
    the clock (see the module's docstring)."""
    sides: dict[str, Side] = {
        "project": lambda c, d, f, i, first: project_epoch(c, runs_root / f"runs-{i}", f, first),
        "generator": lambda c, d, f, i, first: generator_epoch(c, d, f, first),
        "control": lambda c, d, f, i, first: floor_epoch(c, d, f, first),
    }
    epochs: dict[str, list[Turns]] = {name: [] for name in sides}
    with (mock.patch.object(loop, "SYNC_WAIT_S", NEVER_S), mock.patch.object(recorder, "FLUSH_INTERVAL_S", NEVER_S),
          mock.patch.object(supervisor, "HEARTBEAT_INTERVAL_S", NEVER_S)):
        for i in range(repeats):
            for name, side in sides.items():
                data = build_datasets(load_arrays("mnist"), 0, config.seed)
                epochs[name].append(side(config, data, floor_turns(config, data), i, i % 2 == 1))
    return epochs


def by_the_clock(config: RunConfig, runs_root: Path, epoch_s: float, flushes: int = 40) -> tuple[float, float]:
    """Seconds an epoch of the worker spends on what it does by the clock: one flush of an epoch's rows, the
    mean of `flushes` epochs flushed into one run of a store held open as the worker holds it (the mean, since
    about one in ten pays for SQLite's checkpoint of its write-ahead log: a review found the median dropped
    0.3-0.4 points), and its heartbeats (the median of 10 beats, times the beats in epoch_s)."""
    steps = steps_per_epoch(60_000, config.batch_size)
    store = RunStore(runs_root)
    with store.held_open():
        run_id = store.create_run(config)
        store.claim(run_id, os.getpid())
        flushed = [_timed(store.record_metrics, run_id, [], epoch_rows(config, epoch, steps))  # as the recorder does
                   for epoch in range(flushes)]
        beats = [_timed(store.heartbeat, run_id) for _ in range(10)]
    return statistics.mean(flushed), statistics.median(beats) * epoch_s / supervisor.HEARTBEAT_INTERVAL_S


def epoch_rows(config: RunConfig, epoch: int, steps: int) -> list:
    """An epoch's batch rows as the recorder buffers them, its steps after the epochs before it (pipeline_speed's
    flush too)."""
    return [batch_row(BatchEnded(epoch * steps + step, epoch + 1, 0.5, 0.9, config.lr, 1e5), time.time())
            for step in range(1, steps + 1)]


def _timed(action: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def fastest_turn_by_turn(epochs: list[Turns], added_s: float = 0.0) -> float:
    """The side's sum of its fastest turns, plus added_s, over the floor's, minus 1."""
    side = sum(min(turns) for turns in zip(*[[s for s, _ in epoch] for epoch in epochs]))
    floor = sum(min(turns) for turns in zip(*[[f for _, f in epoch] for epoch in epochs]))
    return (side + added_s) / floor - 1


def median_of_pairs(epochs: list[Turns], added_s: float = 0.0) -> float:
    """The median over pairs of repeats (one with the floor first in each turn, one with it second) of the
    pair's side seconds, plus added_s an epoch, over its floor seconds, minus 1."""
    pairs = zip(epochs[0::2], epochs[1::2])
    return statistics.median((sum(s for e in pair for s, _ in e) + 2 * added_s) / sum(f for e in pair for _, f in e)
                             for pair in pairs) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20, help="epochs of each side; even, half of them floor first")
    args = parser.parse_args()
    if args.repeats < 2 or args.repeats % 2:
        parser.error(f"--repeats must be an even number of 2 or more, not {args.repeats}")
    config = RunConfig(model=args.model, batch_size=args.batch_size, epochs=1, val_size=0, lr=1e-3)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.model}, batch {args.batch_size}, "
          f"{args.repeats} epochs of each side, in turns of {READ_BACK_EVERY} batches with the floor's", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        epochs = measure(config, args.repeats, Path(tmp))
        floor_s = sum(min(turns) for turns in zip(*[[f for _, f in e] for e in epochs["project"]]))
        flush_s, heartbeat_s = by_the_clock(config, Path(tmp) / "clock", floor_s)
    print(f"the floor's epoch, its fastest turns summed: {floor_s:.3f} s; by the clock, added to each epoch of the "
          f"project: a flush of its rows {1e3 * flush_s:.2f} ms, its heartbeats {1e3 * heartbeat_s:.2f} ms\n")
    print(f"{'over the floor':<46} {'fastest, turn by turn':>22} {'median of pairs':>16}")
    rows = [("project: steps, read-back, events, recorder", "project", 0.0),
            ("project with its flush and heartbeats", "project", flush_s + heartbeat_s),
            ("the generator alone", "generator", 0.0), ("control: a second floor", "control", 0.0)]
    for label, name, added_s in rows:
        print(f"{label:<46} {100 * fastest_turn_by_turn(epochs[name], added_s):>+21.2f}% "
              f"{100 * median_of_pairs(epochs[name], added_s):>+15.2f}%")
    print("target (issue 17): the project, with its flush and heartbeats, within 5% of the floor for the MLP")


if __name__ == "__main__":
    main()
