"""`python -m core compare A... --vs B...`: does one seed group's test accuracy beat another's?"""
from __future__ import annotations

import argparse

from core.cli.output import one_line
from core.cli.paths import add_runs_argument
from core.cli.runs import existing_store
from core.comparison.groups import spread
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
    """The test accuracies of a side's runs; the untested ones are named and left out."""
    for run in runs:
        if run.summary.test_accuracy is None:
            print(f"{side}: {run.id} ({run.status.label}) has no test accuracy and is left out")
    return [run.summary.test_accuracy for run in runs if run.summary.test_accuracy is not None]


def trained_on(run: Run) -> str:
    """A run's data: 'mnist', 'synthetic', or a CSV's file name and checksum."""
    table = run.config.csv
    return run.config.dataset if table is None else f"csv {one_line(table.name)} ({table.sha256[:8]})"


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
        print(f"note: {note}")
    accuracies = {side: tested(runs, side) for side, runs in sides.items()}
    for side, values in accuracies.items():
        shown = spread(values)
        print(f"{side}: {len(values)} runs, test accuracy " + ("-" if shown is None else
              f"{shown.mean:.2%}" + ("" if shown.std is None else f" ± {shown.std:.2%}")))
    print(verdict(accuracies["A"], accuracies["B"]).explanation)
    return 0


def caveats(sides: dict[str, list[Run]]) -> list[str]:
    """What weakens the verdict: groups on different data, runs of a group that share a seed."""
    found = []
    data = {side: sorted({trained_on(run) for run in runs}) for side, runs in sides.items()}
    if data["A"] != data["B"]:
        found.append(f"the groups trained on different data (A: {'; '.join(data['A'])}; B: {'; '.join(data['B'])})"
                     ": their test accuracies are on different test sets")
    for side, runs in sides.items():
        seeds = [run.config.seed for run in runs]
        shared = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if shared:
            found.append(f"group {side}'s runs share seed{'s' * (len(shared) > 1)} {', '.join(map(str, shared))}: "
                         "runs with one seed repeat one another, and the bootstrap counts each as a seed of its own")
    return found
