"""Drawn-style accuracy of the presets: each trained as the worker trains it, on several seeds.

    python -m benchmarks.drawn_style                                   # every preset, seeds 0 1 2
    python -m benchmarks.drawn_style --presets drawn --seeds 0 1 2     # one preset
    python -m benchmarks.drawn_style --presets fast-99 --epochs 3      # a setting changed, for exploring

Each run is `core.runs.trial.run_trial`, the generator the worker iterates: training, the best
weights' test evaluation and their drawn-style accuracy (MNIST's test digits thinned to a skeleton,
redrawn with the Draw page's round pen on its 280 px canvas, then through the Draw page's own
preprocessing; see core/insight/drawn.py). The clock runs from before the MNIST files are read to
after the drawn-style evaluation; the drawn-style set is rendered (and cached) before the first run.
Run it on a quiet machine: `flock -x /work/cpu.lock python -m benchmarks.drawn_style`.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from dataclasses import dataclass

from core.config import RunConfig
from core.insight.drawn import drawn_test_set
from core.presets import PRESETS
from core.runs.trial import DrawnStyleTested, Evaluated, run_trial
from core.training.events import RunEnded


@dataclass(frozen=True)
class Result:
    preset: str
    seed: int
    epochs: int
    test_accuracy: float
    drawn_accuracy: float
    seconds: float


def measure(name: str, config: RunConfig) -> Result:
    """One run through the trial generator, timed end to end."""
    started = time.perf_counter()
    test = drawn = None
    for item in run_trial(config):
        if isinstance(item, Evaluated):
            test = item.evaluation.accuracy
        elif isinstance(item, DrawnStyleTested):
            drawn = item.accuracy
        elif isinstance(item, RunEnded):
            epochs = item.epochs_completed
    return Result(name, config.seed, epochs, test, drawn, time.perf_counter() - started)


def report(results: list[Result]) -> None:
    print(f"{'preset':<10} {'seed':>4} {'epochs':>6} {'test acc':>9} {'drawn acc':>9} {'seconds':>8}")
    for r in results:
        print(f"{r.preset:<10} {r.seed:>4} {r.epochs:>6} {r.test_accuracy:>9.2%} {r.drawn_accuracy:>9.2%} "
              f"{r.seconds:>8.1f}")
    for name in dict.fromkeys(r.preset for r in results):
        mine = [r for r in results if r.preset == name]
        print(f"{name}: test {min(r.test_accuracy for r in mine):.2%}-{max(r.test_accuracy for r in mine):.2%}, "
              f"drawn-style {min(r.drawn_accuracy for r in mine):.2%}-{max(r.drawn_accuracy for r in mine):.2%} "
              f"(mean {statistics.mean(r.drawn_accuracy for r in mine):.2%}), "
              f"{min(r.seconds for r in mine):.0f}-{max(r.seconds for r in mine):.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override a setting of every preset, e.g. epochs=3 (JSON values)")
    args = parser.parse_args()
    overrides = dict(_parse(item) for item in args.set)
    drawn_test_set()  # rendered once, before any clock starts
    results = []
    for name in args.presets:
        for seed in args.seeds:
            config = dataclasses.replace(PRESETS[name].config, seed=seed, device="cpu", **overrides)
            results.append(measure(name, config))
            print(results[-1], flush=True)
    report(results)


def _parse(item: str) -> tuple[str, object]:
    import json

    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


if __name__ == "__main__":
    main()
