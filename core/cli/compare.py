"""`python -m core compare A... --vs B...`: does one seed group's test accuracy beat another's?"""
from __future__ import annotations

import argparse

from core.cli.output import one_line
from core.cli.paths import add_runs_argument
from core.cli.runs import existing_store
from core.comparison.groups import spread
from core.comparison.sides import caveats, seed_accuracies
from core.comparison.verdict import verdict
from core.config import ConfigError
from core.runs.records import Run


def register(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser("compare", help="does group A's test accuracy beat group B's? (a bootstrap "
                                  "over their seeds)")
    compare.add_argument("a", nargs="+", metavar="RUN_ID", help="the runs of group A")
    compare.add_argument("--vs", nargs="+", required=True, metavar="RUN_ID", help="the runs of group B")
    add_runs_argument(compare)
    compare.set_defaults(handler=command_compare)


def tested(runs: list[Run], side: str) -> list[float]:
    """A side's test accuracies, one per seed (sides.seed_accuracies); the untested runs are named and left out."""
    for run in runs:
        if run.summary.test_accuracy is None:
            print(f"{side}: {run.id} ({run.status.label}) has no test accuracy and is left out")
    return seed_accuracies(runs)


def check_groups(a: list[str], b: list[str]) -> None:
    """ConfigError for a run given twice or on both sides: the bootstrap would count it as more seeds."""
    for side, ids in (("A", a), ("B", b)):
        twice = sorted({run_id for run_id in ids if ids.count(run_id) > 1})
        if twice:
            raise ConfigError("runs", f"group {side} gives {', '.join(twice)} more than once; give each run once")
    both = sorted(set(a) & set(b))
    if both:
        raise ConfigError("runs", f"{', '.join(both)} {'is' if len(both) == 1 else 'are'} in both groups; a run "
                          "belongs to one side")


def command_compare(args: argparse.Namespace) -> int:
    check_groups(args.a, args.vs)
    store = existing_store(args.runs)
    sides = {"A": [store.get_run(run_id) for run_id in args.a], "B": [store.get_run(run_id) for run_id in args.vs]}
    for note in caveats(sides):
        print(f"note: {one_line(note)}")  # a CSV's file name may hold a line break
    accuracies = {side: tested(runs, side) for side, runs in sides.items()}
    for side, values in accuracies.items():
        shown = spread(values)
        print(f"{side}: {len(values)} seed{'s' * (len(values) != 1)}, test accuracy " + ("-" if shown is None else
              f"{shown.mean:.2%}" + ("" if shown.std is None else f" ± {shown.std:.2%}")))
    print(verdict(accuracies["A"], accuracies["B"]).explanation)
    return 0
