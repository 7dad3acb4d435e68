"""Seed groups, bands, the A-vs-B verdict and flipped digits, checked against direct computations."""
from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import replace

import numpy as np
import pytest

from core.comparison.flips import Flip, Side, count_kinds, flips
from core.comparison.groups import MAX_SEEDS, band, final_spreads, parse_seeds, repeat_over_seeds, seed_groups, spread
from core.comparison.sides import caveats, seed_accuracies
from core.comparison.verdict import A_BETTER, B_BETTER, CANT_TELL, bootstrap_interval, seeds_needed, verdict
from core.config import ConfigError, RunConfig
from core.runs.records import Environment, Run, RunSummary
from core.status import RunStatus

# made-up test accuracies over seeds
CLEARLY_BETTER = [0.9912, 0.9905, 0.9918, 0.9909]
CLEARLY_WORSE = [0.9851, 0.9862, 0.9848, 0.9857]
SAME_A = [0.9900, 0.9880, 0.9910, 0.9890]
SAME_B = [0.9896, 0.9904, 0.9884, 0.9897]


def exact_bootstrap_interval(a, b, confidence=0.95):
    """The bootstrap by enumeration: every resample of each side, each equally likely, no randomness."""
    means_a = [statistics.fmean(pick) for pick in itertools.product(a, repeat=len(a))]
    means_b = [statistics.fmean(pick) for pick in itertools.product(b, repeat=len(b))]
    differences = sorted(x - y for x in means_a for y in means_b)
    tail = (1 - confidence) / 2
    return (differences[math.floor(tail * (len(differences) - 1))],
            differences[math.ceil((1 - tail) * (len(differences) - 1))])


@pytest.mark.parametrize("a, b", [(CLEARLY_BETTER, CLEARLY_WORSE), (SAME_A, SAME_B),
                                  ([0.97, 0.99, 0.98], [0.975, 0.985])])
def test_the_bootstrap_interval_matches_the_exact_bootstrap(a, b):
    low, high = bootstrap_interval(a, b)
    exact_low, exact_high = exact_bootstrap_interval(a, b)
    width = exact_high - exact_low
    assert low == pytest.approx(exact_low, abs=0.05 * width)
    assert high == pytest.approx(exact_high, abs=0.05 * width)


def test_clearly_different_groups_get_a_winner_either_way_round():
    forward = verdict(CLEARLY_BETTER, CLEARLY_WORSE)
    exact_low, _ = exact_bootstrap_interval(CLEARLY_BETTER, CLEARLY_WORSE)
    assert forward.outcome == A_BETTER and exact_low > 0
    assert forward.difference == pytest.approx(statistics.fmean(CLEARLY_BETTER) - statistics.fmean(CLEARLY_WORSE))
    assert forward.low > 0 and forward.counts == (4, 4)
    assert forward.explanation.startswith("A is better.") and "+0.57 points" in forward.explanation
    backward = verdict(CLEARLY_WORSE, CLEARLY_BETTER)
    assert backward.outcome == B_BETTER and backward.high < 0


def test_clearly_the_same_groups_cannot_be_told_apart_and_say_what_it_would_take():
    same = verdict(SAME_A, SAME_B)
    exact_low, exact_high = exact_bootstrap_interval(SAME_A, SAME_B)
    assert exact_low < 0 < exact_high
    assert same.outcome == CANT_TELL and same.low < 0 < same.high
    difference = statistics.fmean(SAME_A) - statistics.fmean(SAME_B)
    direct = math.ceil(1.959964 ** 2 * (statistics.variance(SAME_A) + statistics.variance(SAME_B)) / difference ** 2)
    assert same.seeds_needed == seeds_needed(SAME_A, SAME_B) == direct
    assert same.explanation.startswith("Can't tell yet.") and "includes zero" in same.explanation
    assert "more than 1,000 seeds per group" in same.explanation  # a difference lost in the noise


def test_a_close_call_names_roughly_how_many_more_seeds():
    a, b = [0.990, 0.984, 0.992], [0.985, 0.988, 0.983]
    close = verdict(a, b)
    assert close.outcome == CANT_TELL
    needed = math.ceil(1.959964 ** 2 * (statistics.variance(a) + statistics.variance(b))
                       / (statistics.fmean(a) - statistics.fmean(b)) ** 2)
    assert close.seeds_needed == needed
    assert f"about {needed} seeds per group" in close.explanation
    assert f"({needed - 3} more for A, {needed - 3} more for B)" in close.explanation


@pytest.mark.parametrize("a, b", [([0.99], [0.98]), ([0.99], CLEARLY_WORSE), ([], [0.98, 0.97])])
def test_too_few_seeds_cannot_tell_and_say_why(a, b):
    result = verdict(a, b)
    assert result.outcome == CANT_TELL and result.low is None and result.seeds_needed is None
    assert "cannot tell" in result.explanation and "luck of its seed" in result.explanation


def test_equal_means_need_no_seeds_count():
    result = verdict([0.98, 0.99], [0.99, 0.98])
    assert result.outcome == CANT_TELL and result.seeds_needed is None
    assert "no number of seeds" in result.explanation


def test_the_verdict_is_the_same_every_time():
    assert verdict(SAME_A, SAME_B) == verdict(SAME_A, SAME_B)


def made_up_run(run_id: str, test_accuracy: float | None, parent: str | None = None, **settings) -> Run:
    config = RunConfig(**{"model": "mlp", "dataset": "synthetic", "val_size": 100, **settings})
    return Run(id=run_id, name=run_id, config=config, config_error=None, status=RunStatus.FINISHED, created_at=0.0,
               started_at=0.0, ended_at=1.0, environment=Environment(), tags=(), notes="",
               summary=RunSummary(RunStatus.FINISHED, 2, 10, test_accuracy=test_accuracy, test_loss=0.1),
               message="", pid=None, heartbeat_at=None, stop_requested=False, parent_id=parent,
               parent_epoch=1 if parent else None)


def test_runs_group_by_their_settings_minus_the_seed_and_device():
    runs = [made_up_run("a0", 0.98, lr=1e-3, seed=0), made_up_run("b0", 0.97, lr=1e-2, seed=0),
            made_up_run("a1", 0.99, lr=1e-3, seed=1, device="cpu"), made_up_run("a2", None, lr=1e-3, seed=2),
            made_up_run("f0", 0.96, parent="a0", lr=1e-3, seed=0)]
    groups = seed_groups(runs)
    assert [[run.id for run in group.runs] for group in groups] == [["a0", "a1", "a2"], ["b0"], ["f0"]]
    assert [group.label for group in groups] == ["lr=0.001", "lr=0.01", "lr=0.001, fork of a0 at epoch 1"]
    assert groups[0].seeds == [0, 1, 2]
    accuracy = final_spreads(groups[0])["test accuracy"]
    assert (accuracy.mean, accuracy.std, accuracy.count) == (pytest.approx(0.985), pytest.approx(0.00707, abs=1e-5), 2)
    assert str(accuracy) == "0.985 ± 0.0071"
    assert seed_groups(runs[:1])[0].label == "same settings"


def test_spread_of_one_value_has_no_std():
    assert spread([0.5, None]) == replace(spread([0.5]), count=1) and spread([0.5]).std is None
    assert spread([None]) is None


def test_band_is_the_mean_and_its_min_max_or_std_at_each_x():
    series = [(np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0])), (np.array([1, 2, 3]), np.array([3.0, 4.0, np.nan])),
              (np.array([1, 2]), np.array([2.0, 6.0]))]
    minmax = band(series)
    assert minmax.x.tolist() == [1, 2, 3]
    assert minmax.mean.tolist() == [2.0, 4.0, 3.0] and minmax.count.tolist() == [3, 3, 1]
    assert minmax.low.tolist() == [1.0, 2.0, 3.0] and minmax.high.tolist() == [3.0, 6.0, 3.0]
    std = band(series, "std")
    assert std.high[0] == pytest.approx(2.0 + statistics.stdev([1.0, 3.0, 2.0])) and std.low[2] == std.high[2] == 3.0
    with pytest.raises(ValueError, match="kind"):
        band(series, "iqr")


def test_seeds_are_parsed_and_repeated_once_each():
    assert parse_seeds("0 1, 2 5-7") == [0, 1, 2, 5, 6, 7]
    config = RunConfig()
    assert [c.seed for c in repeat_over_seeds(config, [3, 1])] == [3, 1]
    assert all(replace(c, seed=0) == config for c in repeat_over_seeds(config, [3, 1]))
    with pytest.raises(ConfigError, match="seeds: write whole numbers or ranges such as 0-4, got 'x'"):
        parse_seeds("1 x")
    with pytest.raises(ConfigError, match="got '4-2'"):
        parse_seeds("4-2")
    with pytest.raises(ConfigError, match="seeds: give each once; 1 came more than once"):
        repeat_over_seeds(config, [1, 2, 1])
    with pytest.raises(ConfigError, match="seeds: give at least one$"):
        repeat_over_seeds(config, [])
    assert len(parse_seeds(f"5 1-{MAX_SEEDS - 1}")) == MAX_SEEDS
    with pytest.raises(ConfigError, match="seed: must be from 0"):
        repeat_over_seeds(config, [2**32])


def test_a_huge_seed_range_is_refused_by_its_size_before_it_is_spelled_out():
    # a range of 10**12 seeds would take the machine's memory, and repeats checked pairwise its CPU for hours
    with pytest.raises(ConfigError, match=f"seeds: at most {MAX_SEEDS} at once, got 1000000000001"):
        parse_seeds("0-999999999999 7")
    with pytest.raises(ConfigError, match=f"seeds: at most {MAX_SEEDS} at once, got 101"):
        repeat_over_seeds(RunConfig(), range(101))


def test_flips_between_epochs_compare_every_digit():
    images, labels = [10, 11, 12, 13], [1, 2, 3, 4]
    before = Side(images, labels, bytes([1, 0, 3, 9]))
    after = Side(images, labels, bytes([1, 2, 5, 8]))
    changed, shared = flips(before, after)
    assert shared == 4
    assert changed == [Flip(11, 2, 0, 2), Flip(12, 3, 3, 5), Flip(13, 4, 9, 8)]
    assert [flip.kind for flip in changed] == ["fixed", "broken", "still wrong"]
    assert count_kinds(changed) == {"fixed": 1, "broken": 1, "still wrong": 1}


def test_flips_between_runs_compare_only_the_digits_both_validated():
    before = Side([5, 6, 7], [0, 1, 2], bytes([0, 1, 2]))
    after = Side([7, 8, 5], [2, 3, 0], bytes([1, 3, 0]))
    changed, shared = flips(before, after)
    assert shared == 2 and changed == [Flip(7, 2, 2, 1)]


def test_runs_that_share_a_seed_count_as_one_seed_and_the_verdict_says_it_cannot_tell():
    # three runs of one seed each side: "A is better, over 3 and 3 seeds" with a zero-width interval
    a = [made_up_run(f"a{i}", 0.95, lr=1e-3, seed=0) for i in range(3)]
    b = [made_up_run(f"b{i}", 0.91, lr=5e-4, seed=0) for i in range(3)]
    assert seed_accuracies(a) == [pytest.approx(0.95)] and seed_accuracies(b) == [pytest.approx(0.91)]
    result = verdict(seed_accuracies(a), seed_accuracies(b))
    assert result.outcome == CANT_TELL and result.counts == (1, 1) and "With 1 and 1 seeds" in result.explanation
    assert caveats({"A": a, "B": b}) == [
        "group A's runs share seed 0: runs with one seed repeat one another, so they count as one seed",
        "group B's runs share seed 0: runs with one seed repeat one another, so they count as one seed"]
    mixed = [made_up_run("m0", 0.9, seed=0), made_up_run("m1", 0.8, seed=1, model="cnn", train_samples=500),
             made_up_run("m2", None, seed=2)]
    assert seed_accuracies(mixed) == [0.9, 0.8]  # the untested run is left out
    assert caveats({"A": mixed, "B": b})[:2] == [
        "group A's runs differ in more than their seed (model, train_samples): the verdict mixes those "
        "settings' effects with the seeds' luck",
        "group B's runs share seed 0: runs with one seed repeat one another, so they count as one seed"]


def test_a_group_trained_on_all_the_images_is_labelled_so_not_none():
    groups = seed_groups([made_up_run("all", 0.9), made_up_run("some", 0.8, train_samples=500)])
    assert [group.label for group in groups] == ["train_samples=all", "train_samples=500"]
