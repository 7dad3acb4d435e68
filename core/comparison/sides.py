"""Two sides of a comparison (A and B, each a few runs): what each contributes to the verdict, one accuracy per
seed, and what weakens the verdict. The Runs page and `python -m core compare` both say these."""
from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from core.comparison.groups import differing_settings
from core.config import dataset_label
from core.runs.records import Run


def seed_accuracies(runs: Sequence[Run]) -> list[float]:
    """One test accuracy per seed among the tested runs. Runs that share a seed repeat one another (the same
    initial weights and data order): together they are one seed's result, their mean, not more seeds."""
    by_seed: dict[int, list[float]] = {}
    for run in runs:
        if run.summary.test_accuracy is not None:
            by_seed.setdefault(run.config.seed, []).append(run.summary.test_accuracy)
    return [statistics.fmean(values) for values in by_seed.values()]


def caveats(sides: Mapping[str, Sequence[Run]]) -> list[str]:
    """What weakens the verdict: sides on different data, a side whose runs differ in more than their seed, runs
    of a side that share a seed."""
    found = []
    data = {side: sorted({trained_on(run) for run in runs}) for side, runs in sides.items()}
    if len({tuple(labels) for labels in data.values()}) > 1:
        found.append("the groups trained on different data (" + "; ".join(
            f"{side}: {', '.join(labels)}" for side, labels in data.items()) + "): their test accuracies are on "
            "different test sets")
    for side, runs in sides.items():
        differing = differing_settings([run.config.to_dict() for run in runs])
        if differing:
            found.append(f"group {side}'s runs differ in more than their seed ({', '.join(differing)}): the "
                         "verdict mixes those settings' effects with the seeds' luck")
        seeds = [run.config.seed for run in runs]
        shared = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if shared:
            found.append(f"group {side}'s runs share seed{'s' * (len(shared) > 1)} {', '.join(map(str, shared))}: "
                         "runs with one seed repeat one another, so they count as one seed")
    return found


def trained_on(run: Run) -> str:
    """A run's data: 'mnist', 'synthetic', or a CSV's file name and checksum (two files may share a name)."""
    table = run.config.csv
    return dataset_label(run.config) if table is None else f"{dataset_label(run.config)} ({table.sha256[:8]})"
