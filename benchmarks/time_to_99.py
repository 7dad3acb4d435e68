"""Time to 99%: a preset through this project's loop vs the conventional pipeline, on the MNIST test set.

    python -m benchmarks.time_to_99                        # fast-99 on seeds 0 1 2, conventional, floor
    python -m benchmarks.time_to_99 --skip-floor           # the ratio alone: fast-99 processes vs the labs' pipeline
    python -m benchmarks.time_to_99 --preset best --target 0.995 --budget 60 --skip-conventional --skip-floor

- preset (the default): `python -m core train --preset P --seed S` as a whole process, timed from the
  outside, shell to exit (benchmarks.fast99_process); its test accuracy is read from its run store.
- preset with --in-process: core's loop as the worker runs it (per-epoch validation, best weights by
  validation accuracy, test evaluation of those weights); the clock runs from before the MNIST files
  are read to after the test evaluation. The test set is also looked at after every epoch, off the
  clock, to tell when the target was first passed.
- conventional: torchvision MNIST with ToTensor + Normalize(0.1307, 0.3081), DataLoader(batch 64,
  shuffle, num_workers=2), SimpleCNN, Adam 1e-3, tested after every epoch (on the clock) until the
  target or --max-epochs. Unpacking the shipped files for torchvision stands in for its download and
  is off the clock.
- floor: SimpleCNN at batch 64, one epoch of 60,000 images through the worker vs forward, backward and
  optimizer step on ready tensors (benchmarks.pipeline_speed), interleaved --repeats times, fastest kept.
Every figure is wall time on this machine: run it when nothing else is; the
`others` column says how busy the rest of the machine was.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from benchmarks.pipeline_speed import conventional_loader, conventional_train, interleaved, unpack_raw
from core.config import RunConfig
from core.presets import PRESETS
from core.training.data import build_datasets, load_arrays
from core.training.evaluation import evaluate, loss_and_accuracy
from core.training.events import EpochEnded, RunEnded
from core.training.loop import prepare, train
from core.training.models import SimpleCNN


@dataclass(frozen=True)
class Result:
    pipeline: str
    seed: int
    epochs: int
    accuracy: float              # test accuracy of the weights the pipeline reports
    seconds: float               # wall time, data loading to test evaluation
    first_passed: float | None   # seconds on the clock when an epoch's test accuracy first reached the target
    others: float | None = None  # share of the machine's CPU time other processes used meanwhile


def cpu_seconds() -> tuple[float, float, float] | None:
    """(wall clock, CPU seconds busy on the whole machine, CPU seconds of this process and its children)."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except OSError:  # not Linux
        return None
    times = os.times()
    return (time.perf_counter(), (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"),
            times.user + times.system + times.children_user + times.children_system)


def watching_others(run, *args):
    """Call run(*args); return its value and the share of CPU time other processes took meanwhile."""
    before = cpu_seconds()
    value = run(*args)
    after = cpu_seconds()
    if before is None or after is None:
        return value, None
    wall, busy, mine = (b - a for a, b in zip(before, after))
    return value, max(0.0, (busy - mine) / (wall * os.cpu_count()))


def run_preset(name: str, config: RunConfig, target: float) -> Result:
    """One run as the worker does it, on the CPU; test peeks after each epoch are off the clock."""
    started, paused = time.perf_counter(), 0.0
    datasets = build_datasets(load_arrays(config.dataset), config.val_size, config.seed, config.train_samples)
    state = prepare(config, datasets, torch.device("cpu"))
    best, first_passed, end = None, None, None
    for event in train(config, datasets, state):
        if isinstance(event, EpochEnded):
            if event.is_best:
                best = copy.deepcopy(state.model.state_dict())
            peek = time.perf_counter()
            if first_passed is None and loss_and_accuracy(state.model, datasets.test)[1] >= target:
                first_passed = peek - started - paused
            paused += time.perf_counter() - peek
        elif isinstance(event, RunEnded):
            end = event
    if best is not None:
        state.model.load_state_dict(best)
    accuracy = evaluate(state.model, datasets.test).accuracy
    return Result(name, config.seed, end.epochs_completed, accuracy, time.perf_counter() - started - paused,
                  first_passed)


def run_conventional(seed: int, target: float, max_epochs: int, raw_root: Path) -> tuple[Result, list[float]]:
    """The labs' pipeline until its test accuracy reaches the target; also returns its epoch times."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    train_loader = conventional_loader(raw_root, True, 64)
    test_loader = conventional_loader(raw_root, False, 1000)
    model = SimpleCNN().to(memory_format=torch.contiguous_format)  # the labs' NCHW layout
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    epoch_seconds, accuracy, first_passed = [], 0.0, None
    for epoch in range(1, max_epochs + 1):  # noqa: B007 - the epoch reached is returned
        epoch_started = time.perf_counter()
        conventional_train(model, train_loader, optimizer)
        epoch_seconds.append(time.perf_counter() - epoch_started)
        accuracy = conventional_test(model, test_loader)
        if accuracy >= target:
            first_passed = time.perf_counter() - started
            break
    return Result("conventional", seed, epoch, accuracy, time.perf_counter() - started, first_passed), epoch_seconds


@torch.no_grad()
def conventional_test(model: nn.Module, loader) -> float:
    model.eval()
    correct = sum((model(images).argmax(1) == labels).sum().item() for images, labels in loader)
    return correct / len(loader.dataset)


def floor_vs_loop(repeats: int, runs_root: Path) -> tuple[float, float]:
    """SimpleCNN, batch 64, one epoch: (compute floor, project loop), fastest of interleaved repeats."""
    config = RunConfig(model="cnn", batch_size=64, epochs=1, val_size=0, lr=1e-3, device="cpu")
    loops, floors = interleaved(config, repeats, runs_root)
    return min(floors), min(loops)


def describe(r: Result) -> str:
    others = f", others took {r.others:.0%} of the CPU" if r.others is not None else ""
    return f"{r.pipeline} seed {r.seed}: {r.accuracy:.2%} after {r.epochs} epochs in {r.seconds:.1f}s{others}"


def print_results(results: list[Result], target: float, budget: float) -> None:
    print(f"\n{'pipeline':<14} {'seed':>4} {'epochs':>6} {'test acc':>9} {'passed at':>10} {'total':>8} "
          f"{'others':>7}  verdict")
    for r in results:
        passed = f"{r.first_passed:.1f}s" if r.first_passed is not None else "never"
        others = f"{r.others:.0%}" if r.others is not None else "?"
        ok = r.accuracy >= target and (budget <= 0 or r.seconds <= budget or r.pipeline == "conventional")
        print(f"{r.pipeline:<14} {r.seed:>4} {r.epochs:>6} {r.accuracy:>9.2%} {passed:>10} {r.seconds:>7.1f}s "
              f"{others:>7}  {'ok' if ok else 'MISSED'}")
    print("others: the share of this machine's CPU time other processes took during the run; "
          "above a few % the time is inflated")


def print_ratio(results: list[Result], preset: str) -> None:
    mine = [r.seconds for r in results if r.pipeline != "conventional"]
    theirs = [r for r in results if r.pipeline == "conventional"]
    if not mine or not theirs:
        return
    slowest = max(r.seconds for r in theirs)
    reached = all(r.first_passed is not None for r in theirs)
    print(f"conventional / {preset} (median seconds): {'' if reached else '> '}"
          f"{statistics.median(r.seconds for r in theirs) / statistics.median(mine):.1f}x "
          f"({statistics.median(mine):.1f}s vs {statistics.median(r.seconds for r in theirs):.1f}s, "
          f"slowest conventional {slowest:.1f}s)")


def print_floor(floor: float, loop: float, conventional_epochs: list[float], others: float | None) -> None:
    print(f"\nSimpleCNN, batch 64, one epoch of 60,000 images (others took {others or 0:.0%} of the CPU meanwhile)")
    print(f"  compute floor (forward, backward, step on ready tensors) {floor:7.2f}s")
    print(f"  project loop (worker, run store, events)                  {loop:7.2f}s  {loop / floor:.2f}x "
          f"(target <= 1.30x)")
    if conventional_epochs:
        fastest = min(conventional_epochs)
        print(f"  conventional DataLoader epoch (fastest seen)              {fastest:7.2f}s  {fastest / floor:.2f}x")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast-99", choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to reach")
    parser.add_argument("--budget", type=float, default=6.0, help="seconds a preset run may take; 0: none")
    parser.add_argument("--in-process", action="store_true", help="time the preset inside this process (data "
                        "to test evaluation, without Python's start and imports) instead of as a whole process")
    parser.add_argument("--skip-conventional", action="store_true")
    parser.add_argument("--conventional-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-epochs", type=int, default=8, help="conventional epochs at most")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="floor and loop epochs, interleaved; min kept")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    return parser.parse_args()


def run_presets(args: argparse.Namespace) -> list[Result]:
    if not args.in_process:
        return run_preset_processes(args)
    results = []
    for seed in args.seeds:
        config = dataclasses.replace(PRESETS[args.preset].config, seed=seed, device="cpu")
        result, others = watching_others(run_preset, args.preset, config, args.target)
        results.append(dataclasses.replace(result, others=others))
        print(describe(results[-1]), flush=True)
    return results


def run_preset_processes(args: argparse.Namespace) -> list[Result]:
    """The preset as `python -m core train` processes, timed from the outside (benchmarks.fast99_process)."""
    from benchmarks.fast99_process import time_preset

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run = time_preset(args.preset, seed, Path(tmp))
            accuracy = run.accuracy or 0.0
            results.append(Result(f"{args.preset} (process)", seed, run.epochs, accuracy, run.seconds,
                                  run.seconds if accuracy >= args.target else None, run.others))
            print(describe(results[-1]), flush=True)
    return results


def run_conventionals(args: argparse.Namespace, tmp: Path) -> tuple[list[Result], list[float]]:
    raw_root = unpack_raw(tmp / "torchvision")  # stands in for download=True: off the clock
    results, epoch_seconds = [], []
    for seed in args.conventional_seeds:
        (result, epochs), others = watching_others(run_conventional, seed, args.target, args.max_epochs, raw_root)
        results.append(dataclasses.replace(result, others=others))
        epoch_seconds += epochs
        print(describe(results[-1]), "| epochs", ", ".join(f"{s:.1f}s" for s in epochs), flush=True)
    return results, epoch_seconds


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"target {args.target:.1%}", flush=True)
    results = run_presets(args)
    with tempfile.TemporaryDirectory() as tmp:
        conventional, epoch_seconds = ([], []) if args.skip_conventional else run_conventionals(args, Path(tmp))
        floor = None if args.skip_floor else watching_others(floor_vs_loop, args.repeats, Path(tmp))
    print_results(results + conventional, args.target, args.budget)
    print_ratio(results + conventional, args.preset)
    if epoch_seconds and results:
        preset_s = statistics.median(r.seconds for r in results)
        print(f"the labs' first epoch alone ({epoch_seconds[0]:.1f}s) / {args.preset} ({preset_s:.1f}s): "
              f"{epoch_seconds[0] / preset_s:.1f}x (target >= 4x: to 99% it is the ratio above)")
    if floor is not None:
        (floor_s, loop_s), others = floor
        print_floor(floor_s, loop_s, epoch_seconds, others)


if __name__ == "__main__":
    main()
