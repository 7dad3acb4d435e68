"""Sweeps: their cost over plain runs, the Ray executor's streaming, and the Sweeps page at 200 trials.

    python -m benchmarks.sweep_speed                    # all three parts
    python -m benchmarks.sweep_speed --parts local      # or ray, page

local: the quick-MLP preset on seeds 0-7 (one MNIST epoch each), as 8 `python -m core train` commands one
after another, then as one `python -m core sweep --strategy grid` over the same 8 seeds with the local
executor (one trial at a time). Both are timed from outside, processes and all; --repeats alternates them.
Target: the sweep at most 15% slower.

ray: the same 8 trials through the ray executor (driver in this process, Ray started by it and timed with
it, one trial at a time as above, and two at once). Each remote trial notes when it made each batch; a
thread polls the store every 10 ms and notes when each batch's row landed: the delay is the difference
(same machine, same clock). Items per second is what the driver received and recorded per second of a
trial's streaming. A flood trial (items made as fast as a generator can, no training) measures what one
driver can record at most. Target: batch-to-row delay under 1 s at the 95th percentile.

page: a sweep of 200 finished trials (runs with summaries, no training) in a fresh store; the Sweeps page
is opened under AppTest (server side, no browser), then rerun. Target: under 2 s.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from core.config import RunConfig
from core.presets import PRESETS
from core.runs.records import Environment, RunSummary
from core.runs.store import RunStore
from core.runs.trial import Started, run_trial
from core.status import RunStatus
from core.sweeps.records import SweepPlan
from core.sweeps.space import parse_space
from core.sweeps.store import SweepStore
from core.training.events import BatchEnded, EpochEnded, RunEnded

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "streamlit_app.py"
SEEDS = list(range(8))
MADE_DIR = Path(tempfile.gettempdir()) / "sweep-speed-made"  # where remote trials note their batch times


def quick_mlp_space() -> dict:
    config = PRESETS["quick-mlp"].config.to_dict()
    return {**config, "device": "cpu", "seed": SEEDS}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "core", *command], cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def cli_runs_seconds(root: Path) -> float:
    """The 8 runs as 8 CLI commands, one after another."""
    return sum(timed(["train", "--preset", "quick-mlp", "--device", "cpu", "--seed", str(seed), "--runs",
                      str(root)]) for seed in SEEDS)


def local_sweep_seconds(root: Path) -> float:
    space = root.parent / "space.json"
    space.write_text(json.dumps(quick_mlp_space()))
    return timed(["sweep", "--space", str(space), "--strategy", "grid", "--trials", "8", "--runs", str(root)])


def local_part(repeats: int) -> None:
    print("local: quick-MLP preset, seeds 0-7, one MNIST epoch each (wall time incl. processes)")
    cli, sweep = [], []
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            cli.append(cli_runs_seconds(Path(folder) / "cli"))
            sweep.append(local_sweep_seconds(Path(folder) / "sweep"))
        print(f"  repeat {repeat + 1}: 8 CLI runs {cli[-1]:6.1f} s, sweep of 8 (local executor) {sweep[-1]:6.1f} s "
              f"({sweep[-1] / cli[-1] - 1:+.1%})")
    ratio = statistics.median(sweep) / statistics.median(cli) - 1
    print(f"  median: CLI {statistics.median(cli):.1f} s, sweep {statistics.median(sweep):.1f} s: {ratio:+.1%} "
          f"(target at most +15%: {'ok' if ratio <= 0.15 else 'MISSED'})")


def timed_trial(config, data_dir=None, should_stop=None):
    """run_trial, noting when each batch was made (runs on a Ray worker; same machine, same clock)."""
    made, first = [], None
    for count, item in enumerate(run_trial(config, data_dir, should_stop=should_stop), start=1):
        if isinstance(item, BatchEnded):
            made.append((item.step, time.time()))
        if isinstance(item, Started):
            first = time.time()
        if isinstance(item, RunEnded):
            note = {"seed": config.seed, "made": made, "items": count, "first": first, "last": time.time()}
            MADE_DIR.mkdir(exist_ok=True)
            (MADE_DIR / f"{config.seed}-{os.getpid()}.json").write_text(json.dumps(note))
        yield item


def flood_trial(config, data_dir=None, should_stop=None, events: int = 200_000):
    """No training: a generator's items as fast as it can make them, to find what one driver can record."""
    yield Started(Environment())
    started = time.time()
    for step in range(1, events + 1):
        yield BatchEnded(step, 1, 0.5, 0.5, 1e-3, 1e4)
    yield EpochEnded(1, events, 0.5, 0.5, 0.5, 0.5, 1e-3, True, time.time() - started)
    yield RunEnded(RunStatus.FINISHED, 1, events)


class RowWatcher(threading.Thread):
    """Polls the store every 10 ms: when each run's per-batch loss rows first showed each step."""

    def __init__(self, store: RunStore):
        super().__init__(daemon=True)
        self.store, self.done = store, threading.Event()
        self.seen: dict[str, dict[int, float]] = {}

    def run(self) -> None:
        while not self.done.wait(0.01):
            for run in self.store.list_runs():
                steps = self.seen.setdefault(run.id, {})
                top = max(steps, default=0)
                now = time.time()
                for (step,) in self._steps_after(run.id, top):
                    steps.setdefault(step, now)

    def _steps_after(self, run_id: str, top: int) -> list[tuple[int]]:
        with self.store.connect() as db:
            return db.execute("SELECT step FROM metrics WHERE run_id=? AND split='train' AND name='loss' "
                              "AND step > ?", (run_id, top)).fetchall()


def ray_sweep(root: Path, parallel: int, trial) -> tuple[float, RunStore, str]:
    """8 trials through the ray executor, Ray started by the driver; seconds from before ray.init."""
    from core.sweeps.driver import drive
    from core.sweeps.executors import RayExecutor

    store = RunStore(root)
    sweep_id = SweepStore(store).create(SweepPlan(parse_space(quick_mlp_space()), strategy="grid", trials=8,
                                                  parallel=parallel, executor="ray"))
    watcher = RowWatcher(store)
    watcher.start()
    started = time.perf_counter()
    executor = RayExecutor(store, None, address="", trial=trial)
    list(drive(store, sweep_id, executor=executor))
    seconds = time.perf_counter() - started
    watcher.done.set()
    watcher.join()
    return seconds, watcher, sweep_id


def delays(watcher: RowWatcher, store: RunStore) -> list[float]:
    """Seconds from a batch made remotely to its row seen in the store, for every batch of every trial."""
    out = []
    runs = {run.config.seed: run.id for run in store.list_runs()}
    for note in MADE_DIR.glob("*.json"):
        made = json.loads(note.read_text())
        seen = watcher.seen.get(runs[made["seed"]], {})
        out += [seen[step] - at for step, at in made["made"] if step in seen]
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def ray_part() -> None:
    import ray

    print("ray: the same 8 trials as Ray tasks on a local Ray instance that the driver starts")
    for parallel in (1, 2):
        for old in MADE_DIR.glob("*.json"):
            old.unlink()
        with tempfile.TemporaryDirectory() as folder:
            seconds, watcher, sweep_id = ray_sweep(Path(folder) / "runs", parallel, timed_trial)
            store = watcher.store
            late = delays(watcher, store)
            notes = [json.loads(p.read_text()) for p in MADE_DIR.glob("*.json")]
            rates = [n["items"] / (n["last"] - n["first"]) for n in notes]
            statuses = {run.status for run in store.sweep_runs(sweep_id)}
        print(f"  {parallel} at once: {seconds:.1f} s in all (Ray's start included), trials {sorted(statuses)}")
        print(f"    items streamed back and recorded: {statistics.median(rates):,.0f}/s per trial (median), "
              f"{sum(n['items'] for n in notes) / seconds:,.0f}/s over the whole sweep")
        print(f"    batch made remotely -> its row in the store: median {statistics.median(late) * 1000:.0f} ms, "
              f"p95 {percentile(late, 0.95) * 1000:.0f} ms, max {max(late) * 1000:.0f} ms over {len(late):,} "
              f"batches (target p95 < 1 s: {'ok' if percentile(late, 0.95) < 1 else 'MISSED'})")
    flood_part()
    ray.shutdown()


def flood_part(events: int = 200_000) -> None:
    """One trial of bare events through the whole path: remote generator, chunks, Ray, recorder, SQLite."""
    from core.runs.supervisor import execute_run
    from core.sweeps import remote

    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        run_id = store.create_run(RunConfig(model="mlp", dataset="synthetic", val_size=100, device="cpu"))
        source = remote.RaySource(remote.new_stop_flags(), run_id, 1, None, trial=flood_trial)
        started = time.perf_counter()
        execute_run(store, run_id, source=source)
        seconds = time.perf_counter() - started
        rows = len(store.read_metrics(run_id)[0])
    print(f"  flood: {events:,} batch events streamed and recorded ({rows:,} rows) in {seconds:.1f} s: "
          f"{events / seconds:,.0f} events/s is what one driver records at most")


def filled_sweep(root: Path, trials: int) -> str:
    """A finished sweep of `trials` runs with plausible summaries, made without training."""
    store, rng = RunStore(root), random.Random(0)
    space = parse_space({"model": ["mlp", "cnn", "fastcnn"], "optimizer": ["adam", "sgd"], "dataset": "mnist",
                         "lr": {"low": 1e-4, "high": 1e-1, "log": True}, "batch_size": [32, 64, 128, 256],
                         "weight_decay": {"low": 0.0, "high": 0.01}, "epochs": 2})
    sweeps = SweepStore(store)
    sweep_id = sweeps.create(SweepPlan(space, trials=trials, name="page benchmark"))
    for number in range(trials):
        config = RunConfig(model=rng.choice(["mlp", "cnn", "fastcnn"]), optimizer=rng.choice(["adam", "sgd"]),
                           lr=10 ** rng.uniform(-4, -1), batch_size=rng.choice([32, 64, 128, 256]),
                           weight_decay=rng.uniform(0, 0.01), epochs=2)
        run_id = store.create_run(config, name=f"page benchmark #{number}", sweep_id=sweep_id, trial_number=number)
        store.claim(run_id, os.getpid())
        accuracy = rng.uniform(0.9, 0.995)
        store.set_summary(run_id, RunSummary(RunStatus.FINISHED, 2, 1720, 2, accuracy, 0.1, 0.1, accuracy))
        store.finish(run_id, rng.choice([RunStatus.FINISHED] * 4 + [RunStatus.PRUNED]))
    sweeps.start(sweep_id, os.getpid())
    sweeps.set_importance(sweep_id, {"lr": 0.5, "model": 0.3, "batch_size": 0.1, "optimizer": 0.05,
                                     "weight_decay": 0.05})
    sweeps.finish(sweep_id, RunStatus.FINISHED, "best: trial #0")
    return sweep_id


def page_part(trials: int) -> None:
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "runs"
        filled_sweep(root, trials)
        os.environ["MNIST_RUNS_DIR"] = str(root)
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        at.switch_page("pages/sweeps.py")
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            at.run()
            seconds.append(time.perf_counter() - started)
            assert not at.exception, at.exception
        assert len(at.dataframe[0].value) == trials and len(at.get("plotly_chart")) == 4
    print(f"page: Sweeps page with {trials} finished trials, script run under AppTest: first {seconds[0]:.2f} s, "
          f"then {seconds[1]:.2f} s, {seconds[2]:.2f} s (target < 2 s: {'ok' if max(seconds) < 2 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["local", "ray", "page"], choices=["local", "ray", "page"])
    parser.add_argument("--repeats", type=int, default=2, help="alternations of CLI runs and sweep (local part)")
    parser.add_argument("--trials", type=int, default=200, help="finished trials on the page")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    if "local" in args.parts:
        local_part(args.repeats)
    if "ray" in args.parts:
        ray_part()
    if "page" in args.parts:
        page_part(args.trials)


if __name__ == "__main__":
    main()
