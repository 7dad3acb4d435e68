"""benchmarks.loop_overhead: a side and the floor take turns of one read-back group, and stop together."""
import math
from dataclasses import replace

import pytest

from benchmarks.loop_overhead import floor_turns, generator_epoch, taking_turns
from core.config import steps_per_epoch
from core.runs.trial import READ_BACK_EVERY
from core.training.data import build_datasets
from core.training.events import BatchEnded


@pytest.mark.parametrize("floor_first, floor_turns_after", [(False, [51, 101, 121]), (True, [0, 51, 101])])
def test_turns_come_after_each_group_consumed_and_after_the_last_batch(floor_first, floor_turns_after):
    passed: list = []
    floor_turn_after: list[int] = []

    def floor():
        while True:
            floor_turn_after.append(len(passed))
            yield

    batches = [BatchEnded(step, 1, 0.5, 0.9, 1e-3, 1.0) for step in range(1, 121)]
    turns: list = []
    for item in taking_turns(iter(["started", *batches, "after the epoch"]), floor(), 120, turns, floor_first):
        passed.append(item)
    # each after the consumer took its group's last batch, or before the group's first
    assert floor_turn_after == floor_turns_after
    assert passed[-1] == batches[-1]  # nothing of the run after the epoch
    assert len(turns) == 3 and all(side > 0 and floor_s > 0 for side, floor_s in turns)


@pytest.mark.parametrize("floor_first", [False, True])
def test_the_generator_and_the_floor_train_the_same_batches_in_the_same_turns(synthetic_arrays, tiny_config,
                                                                              floor_first):
    config = replace(tiny_config, batch_size=4, epochs=1)
    data = build_datasets(synthetic_arrays, config.val_size, config.seed)
    steps = steps_per_epoch(len(data.train), config.batch_size)
    assert steps > 2 * READ_BACK_EVERY  # several turns, the last one short
    floor = floor_turns(config, data)
    assert len(generator_epoch(config, data, floor, floor_first)) == math.ceil(steps / READ_BACK_EVERY)
    assert next(floor, "spent") == "spent"  # the floor's epoch ended with the generator's


def test_a_turn_that_holds_more_than_one_read_back_is_refused():
    """A read-back cut short (a stalled machine) puts more or fewer steps in a turn than the floor's."""
    def floor():
        while True:
            yield

    rates = [1.0] * 30 + [2.0] * 20  # two read-backs within the first 50 batches
    batches = [BatchEnded(step, 1, 0.5, 0.9, 1e-3, rate) for step, rate in enumerate(rates, 1)]
    with pytest.raises(RuntimeError, match="the turn ending at batch 50 held more than one read-back"):
        list(taking_turns(iter(batches), floor(), 50, []))
