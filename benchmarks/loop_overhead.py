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
with it always second), so every other repeat runs the floor's turn first. Printed:

- fastest of the interleaved repeats, turn by turn: for each turn of the epoch, the fastest over the
  repeats, summed over the epoch; the side's sum over the floor's (issue 17's measure, at its finest);
- the median over pairs of repeats (one of each order) of the pair's side seconds over its floor seconds;
- for the worker's epoch ("project"), the training generator alone (no worker, no store), and a
  control: the floor against a second floor in the same turns, which should read 0 and shows the
  method's own error.

A project turn ends once the worker has recorded its group's last batch, so the recorder's work and
any flush that falls inside the epoch are counted; the checkpoints and test after the epoch are not
(pipeline_speed leaves them out too).
"""
from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from core.config import RunConfig, steps_per_epoch
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.runs.trial import READ_BACK_EVERY, run_trial
from core.training.data import Datasets, batches, build_datasets, load_arrays
from core.training.events import BatchEnded
from core.training.loop import prepare, train
from core.training.models import build_model
from core.training.optim import build_optimizer

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
    started, done = time.perf_counter(), 0
    for item in items:
        yield item
        if not isinstance(item, BatchEnded):
            continue
        done += 1
        if done % READ_BACK_EVERY and done < steps:
            continue
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
    """Each side's epochs, `repeats` of them in rotation, each in turns with a fresh floor epoch."""
    sides: dict[str, Side] = {
        "project": lambda c, d, f, i, first: project_epoch(c, runs_root / f"runs-{i}", f, first),
        "generator": lambda c, d, f, i, first: generator_epoch(c, d, f, first),
        "control": lambda c, d, f, i, first: floor_epoch(c, d, f, first),
    }
    epochs: dict[str, list[Turns]] = {name: [] for name in sides}
    for i in range(repeats):
        for name, side in sides.items():
            data = build_datasets(load_arrays("mnist"), 0, config.seed)
            epochs[name].append(side(config, data, floor_turns(config, data), i, i % 2 == 1))
    return epochs


def fastest_turn_by_turn(epochs: list[Turns]) -> float:
    """The side's sum of its fastest turns over the floor's, minus 1."""
    side = sum(min(turns) for turns in zip(*[[s for s, _ in epoch] for epoch in epochs]))
    floor = sum(min(turns) for turns in zip(*[[f for _, f in epoch] for epoch in epochs]))
    return side / floor - 1


def median_of_pairs(epochs: list[Turns]) -> float:
    """The median over pairs of repeats (one with the floor first in each turn, one with it second) of the
    pair's side seconds over its floor seconds, minus 1."""
    pairs = zip(epochs[0::2], epochs[1::2])
    return statistics.median(sum(s for e in pair for s, _ in e) / sum(f for e in pair for _, f in e)
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
    floor_s = sum(min(turns) for turns in zip(*[[f for _, f in e] for e in epochs["control"]]))
    print(f"the floor's epoch, its fastest turns summed: {floor_s:.3f} s\n")
    print(f"{'over the floor':<34} {'fastest, turn by turn':>22} {'median of pairs':>16}")
    labels = {"project": "project (worker, recorder, store)", "generator": "the generator alone",
              "control": "control: a second floor"}
    for name, label in labels.items():
        print(f"{label:<34} {100 * fastest_turn_by_turn(epochs[name]):>+21.2f}% "
              f"{100 * median_of_pairs(epochs[name]):>+15.2f}%")
    print("target (issue 17): the project within 5% of the floor for the MLP")


if __name__ == "__main__":
    main()
