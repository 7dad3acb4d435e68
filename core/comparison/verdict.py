"""Does A beat B? A percentile bootstrap over seeds of the difference in mean test accuracy.

Written with numpy rather than taken from scipy.stats.bootstrap: the app does not otherwise need
scipy (a 40 MB install), and a two-sample percentile bootstrap is a few vectorized lines whose
result the tests check against the exact bootstrap distribution.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000
MIN_SEEDS = 2  # per side: one run says nothing about how much seeds alone move the result
MOST_SEEDS_WORTH_NAMING = 1000
Z_95 = 1.959964  # the normal quantile behind a two-sided 95% interval
A_BETTER, B_BETTER, CANT_TELL = "A is better", "B is better", "can't tell yet"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # A_BETTER, B_BETTER or CANT_TELL
    difference: float | None  # mean(A) - mean(B)
    low: float | None  # the 95% interval of the difference
    high: float | None
    counts: tuple[int, int]  # values on each side: one per seed (core.comparison.sides.seed_accuracies)
    seeds_needed: int | None  # per group, to resolve the observed difference at the observed spread
    explanation: str  # the verdict in plain words


def bootstrap_interval(a: Sequence[float], b: Sequence[float], resamples: int = RESAMPLES,
                       confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap interval of mean(a) - mean(b), each side resampled on its own."""
    rng = np.random.default_rng(seed)  # seeded: the same runs always get the same verdict
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    means_a = a[rng.integers(0, len(a), (resamples, len(a)))].mean(axis=1)
    means_b = b[rng.integers(0, len(b), (resamples, len(b)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means_a - means_b, [tail, 100 - tail])
    return float(low), float(high)


def seeds_needed(a: Sequence[float], b: Sequence[float]) -> int | None:
    """Seeds per group for a 95% interval as narrow as the observed difference, at the observed spread.

    None when there is no difference to resolve. With n seeds per group the interval's half-width
    is about z * sqrt((var_a + var_b) / n); it equals |difference| at n = z^2 (var_a + var_b) / d^2.
    """
    difference = float(np.mean(a) - np.mean(b))
    if difference == 0:
        return None
    spread = float(np.var(a, ddof=1) + np.var(b, ddof=1))
    return max(MIN_SEEDS, math.ceil(Z_95 ** 2 * spread / difference ** 2))


def verdict(a: Sequence[float], b: Sequence[float]) -> Verdict:
    """Whether group A's test accuracy beats group B's, with the interval and the seeds it would take."""
    counts = (len(a), len(b))
    if min(counts) < MIN_SEEDS:
        return Verdict(CANT_TELL, _difference(a, b), None, None, counts, None, _too_few(counts))
    difference = _difference(a, b)
    low, high = bootstrap_interval(a, b)
    outcome = A_BETTER if low > 0 else B_BETTER if high < 0 else CANT_TELL
    needed = seeds_needed(a, b)
    return Verdict(outcome, difference, low, high, counts, needed,
                   _explain(outcome, difference, low, high, counts, needed))


def _difference(a: Sequence[float], b: Sequence[float]) -> float | None:
    return float(np.mean(a) - np.mean(b)) if len(a) and len(b) else None


def _too_few(counts: tuple[int, int]) -> str:
    return (f"With {counts[0]} and {counts[1]} seeds, this cannot tell: a single run's accuracy mixes the "
            "settings' effect with the luck of its seed (the initial weights and the data order), and one run "
            "per side shows nothing of how large that luck is. Repeat each side with a few more seeds "
            f"(at least {MIN_SEEDS}, better 5).")


def _points(value: float) -> str:
    """An accuracy difference in percentage points: '+0.12 points'."""
    return f"{value * 100:+.2f} points"


def _explain(outcome: str, difference: float, low: float, high: float, counts: tuple[int, int],
             needed: int | None) -> str:
    interval = (f"A's mean test accuracy minus B's is {_points(difference)} (95% interval "
                f"{_points(low)} to {_points(high)}, over {counts[0]} and {counts[1]} seeds).")
    if outcome == A_BETTER:
        return f"A is better. {interval} The interval lies above zero."
    if outcome == B_BETTER:
        return f"B is better. {interval} The interval lies below zero."
    return f"Can't tell yet. {interval} The interval includes zero. {_more_seeds(counts, needed)}"


def _more_seeds(counts: tuple[int, int], needed: int | None) -> str:
    if needed is None:
        return "The two means are equal: no number of seeds would tell them apart."
    if needed > MOST_SEEDS_WORTH_NAMING:
        return (f"At this spread, resolving a difference this small would take more than "
                f"{MOST_SEEDS_WORTH_NAMING:,} seeds per group: it is lost in the seed-to-seed variation.")
    more = [max(needed - count, 0) for count in counts]
    if not any(more):  # the interval only just reaches zero
        return "The difference sits at the edge: a few more seeds per group should settle it."
    return (f"At this spread, about {needed} seeds per group would resolve a difference this large "
            f"({more[0]} more for A, {more[1]} more for B).")
