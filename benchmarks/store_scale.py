"""The run store with many runs: is listing them, and reading one run's metrics, still fast?

    python -m benchmarks.store_scale                  # 200 runs x 5 epochs x 860 steps, as MNIST batch 64 gives
    python -m benchmarks.store_scale --runs 50 --epochs 2

Each run gets what a real one leaves: 4 per-batch train rows per step (loss, accuracy, lr,
samples_per_s), 3 train and 2 val rows per epoch, 2 test rows at the end, a summary and an
evaluation. Rows go in one transaction per run, as a bulk insert. Prints the fill time, the file
sizes, and the fastest of --repeats timings of what the pages do: list_runs(), get_run(), a whole
run's metrics, and a live chart's poll (rows after its cursor, none new); then a worker's flush,
alone and with a reader connected, and the MLP's larger one.
"""
from __future__ import annotations

import argparse
import math
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from core.config import RunConfig
from core.runs.records import Metric, RunSummary
from core.runs.store import RunStore
from core.status import RunStatus
from core.training.evaluation import Evaluation

STATUSES = ("finished", "finished", "finished", "stopped", "diverged", "interrupted")


def run_metrics(epochs: int, steps_per_epoch: int, rng: random.Random) -> list[Metric]:
    """The metric rows of one run, shaped like the worker's."""
    rows, now, step = [], time.time(), 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            step += 1
            loss = 2.3 * math.exp(-step / 500) + 0.05 * rng.random()
            rows += [Metric(step, epoch, "train", "loss", loss, now),
                     Metric(step, epoch, "train", "accuracy", 1 - loss / 2.5, now),
                     Metric(step, epoch, "train", "lr", 1e-3, now),
                     Metric(step, epoch, "train", "samples_per_s", 20_000 + 1000 * rng.random(), now)]
        rows += [Metric(step, epoch, "train", name, value, now) for name, value in
                 (("epoch_loss", 0.1), ("epoch_accuracy", 0.97), ("epoch_seconds", 6.5))]
        rows += [Metric(step, epoch, "val", "loss", 0.08, now), Metric(step, epoch, "val", "accuracy", 0.98, now)]
    return rows + [Metric(step, epochs, "test", "loss", 0.07, now), Metric(step, epochs, "test", "accuracy", 0.98, now)]


def fill_store(store: RunStore, runs: int, epochs: int, steps_per_epoch: int, seed: int = 0) -> list[str]:
    """Add finished-looking runs with their metrics; returns their ids, oldest first."""
    rng, ids = random.Random(seed), []
    for i in range(runs):
        config = RunConfig(model=rng.choice(["mlp", "cnn", "fastcnn"]), dataset="mnist",
                           lr=rng.choice([1e-3, 3e-3, 1e-2]), epochs=epochs, seed=i)
        run_id = store.create_run(config, name=f"run {i:03d}", tags=[config.model, f"batch-{i % 7}"])
        store.add_metrics(run_id, run_metrics(epochs, steps_per_epoch, rng))
        store.set_summary(run_id, RunSummary(RunStatus.FINISHED, epochs_completed=epochs,
                                             steps=epochs * steps_per_epoch, test_accuracy=0.98))
        store.set_evaluation(run_id, Evaluation(0.07, 0.98, [0.98] * 10, [[0] * 10 for _ in range(10)], []))
        store.finish(run_id, STATUSES[i % len(STATUSES)])
        ids.append(run_id)
    return ids


def fastest(action: Callable[[], object], repeats: int) -> float:
    """The fastest of several timings, in seconds."""
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=860, help="steps per epoch")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        started = time.perf_counter()
        ids = fill_store(store, args.runs, args.epochs, args.steps)
        fill_s = time.perf_counter() - started
        rows = len(run_metrics(args.epochs, args.steps, random.Random(0)))
        sizes = {p.name: p.stat().st_size / 2**20 for p in store.root.glob("runs.db*")}
        middle = ids[len(ids) // 2]
        _, cursor = store.read_metrics(middle)
        assert len(store.list_runs()) == args.runs
        print(f"{args.runs} runs x {rows:,} metric rows = {args.runs * rows:,} rows, filled in {fill_s:.1f} s "
              f"({args.runs * rows / fill_s:,.0f} rows/s, one transaction per run)")
        print("files: " + ", ".join(f"{name} {mib:.1f} MiB" for name, mib in sorted(sizes.items())))
        timings = {f"list_runs(), {args.runs} runs": store.list_runs,
                   "get_run(one run)": lambda: store.get_run(middle),
                   f"read_metrics(one run), all {rows:,} rows": lambda: store.read_metrics(middle),
                   "read_metrics(after cursor), no new rows": lambda: store.read_metrics(middle, cursor)}
        print(f"fastest of {args.repeats}:")
        for label, action in timings.items():
            print(f"  {label:<42} {1000 * fastest(action, args.repeats):9.2f} ms")
        print_flush_cost(store, ids[0], args.repeats)


def print_flush_cost(store: RunStore, run_id: str, repeats: int) -> None:
    """A worker's flush (0.5 s of batches), alone and with a reader's connection open.

    Each store call opens its own connection; closing the last one open checkpoints the WAL."""
    rows = run_metrics(1, 100, random.Random(1))[:400]
    alone = fastest(lambda: store.add_metrics(run_id, rows), repeats)
    with closing(sqlite3.connect(store.db_path)) as reader:
        reader.execute("SELECT COUNT(*) FROM runs").fetchone()
        shared = fastest(lambda: store.add_metrics(run_id, rows), repeats)
        # the MLP trains about 1,100 batches in 0.5 s: a flush of 4,400 rows
        mlp_rows = run_metrics(1, 1100, random.Random(2))[:4400]
        mlp = fastest(lambda: store.add_metrics(run_id, mlp_rows), repeats)
    print(f"  {'add_metrics(400 rows), no other connection':<42} {1000 * alone:9.2f} ms")
    print(f"  {'add_metrics(400 rows), a reader connected':<42} {1000 * shared:9.2f} ms")
    print(f"  {'add_metrics(4,400 rows: an MLP flush)':<42} {1000 * mlp:9.2f} ms "
          f"({1e6 * mlp / len(mlp_rows):.2f} us a row)")

if __name__ == "__main__":
    main()
