import math
from dataclasses import replace

import pytest
import torch

from core.training.events import BatchEnded, EpochEnded, RunEnded, Validated, diverged
from core.training.loop import (
    BestTracker,
    _any_diverged,
    _correct_counts,
    _early_stop_reason,
    current_lr,
    prepare,
    train,
)
from core.training.optim import build_scheduler


def run_events(config, data, **kwargs):
    return list(train(config, data, prepare(config, data, torch.device("cpu")), **kwargs))


def test_events_come_per_batch_then_per_epoch_then_one_end(tiny_config, tiny_data):
    events = run_events(tiny_config, tiny_data)
    steps_per_epoch = math.ceil(500 / 32)
    kinds = [type(e).__name__ for e in events]
    expected_epoch = ["BatchEnded"] * steps_per_epoch + ["Validated", "EpochEnded"]
    assert kinds == expected_epoch * 2 + ["RunEnded"]
    batch_events = [e for e in events if isinstance(e, BatchEnded)]
    assert [e.step for e in batch_events] == list(range(1, 2 * steps_per_epoch + 1))
    assert all(0 <= e.accuracy <= 1 and e.loss > 0 and e.lr == 1e-3 and e.samples_per_s > 0 for e in batch_events)
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2] and epochs[0].is_best
    assert epochs[1].val_accuracy > 0.9
    assert events[-1] == RunEnded("finished", 2, 2 * steps_per_epoch)
    assert all(isinstance(v, (int, float, bool, str)) for e in events if not isinstance(e, Validated)
               for v in (e._asdict() if isinstance(e, BatchEnded) else vars(e)).values() if v is not None)


def test_each_epoch_yields_the_validation_predictions_and_their_confusion(tiny_config, tiny_data):
    state = prepare(tiny_config, tiny_data, torch.device("cpu"))
    events = list(train(replace(tiny_config, epochs=1), tiny_data, state))
    validated = next(e for e in events if isinstance(e, Validated))
    predicted = state.model(tiny_data.val.images).argmax(1)  # the same weights, directly
    assert validated.epoch == 1 and validated.predictions == bytes(predicted.tolist())
    labels = tiny_data.val.labels.tolist()
    for true in range(10):
        for guess in range(10):
            assert validated.confusion[true][guess] == sum(
                1 for label, p in zip(labels, predicted.tolist()) if (label, p) == (true, guess))
    accuracy = sum(validated.confusion[d][d] for d in range(10)) / len(labels)
    assert accuracy == pytest.approx(next(e for e in events if isinstance(e, EpochEnded)).val_accuracy)


def test_epoch_train_metrics_agree_with_the_batches(tiny_config, tiny_data):
    events = run_events(replace(tiny_config, epochs=1), tiny_data)
    batches = [e for e in events if isinstance(e, BatchEnded)]
    sizes = [32] * 15 + [500 - 15 * 32]
    mean_loss = sum(e.loss * n for e, n in zip(batches, sizes)) / 500
    accuracy = sum(e.accuracy * n for e, n in zip(batches, sizes)) / 500
    epoch = events[-2]
    assert epoch.train_loss == pytest.approx(mean_loss, rel=1e-5)
    assert epoch.train_accuracy == pytest.approx(accuracy, rel=1e-5)


def test_the_same_config_gives_the_same_curve_twice(tiny_config, tiny_data):
    config = replace(tiny_config, augment_shift=1)
    first = [e.loss for e in run_events(config, tiny_data) if isinstance(e, BatchEnded)]
    second = [e.loss for e in run_events(config, tiny_data) if isinstance(e, BatchEnded)]
    third = [e.loss for e in run_events(replace(config, seed=1), tiny_data) if isinstance(e, BatchEnded)]
    assert first == second and first != third


def test_syncing_every_k_steps_yields_the_same_batch_values(tiny_config, tiny_data):
    every = [(e.step, e.loss, e.accuracy) for e in run_events(tiny_config, tiny_data) if isinstance(e, BatchEnded)]
    batched = [(e.step, e.loss, e.accuracy) for e in run_events(tiny_config, tiny_data, sync_every=7)
               if isinstance(e, BatchEnded)]
    assert batched == every


def test_a_group_counts_right_predictions_as_each_batch_alone_would_with_ties_and_nans():
    torch.manual_seed(0)
    logits = [torch.randint(0, 3, (16, 10)).float() for _ in range(6)]  # many tied maxima
    logits[1][3, 2] = math.nan
    logits[2][5] = math.nan
    logits[4][0] = -math.inf
    labels = [torch.randint(0, 10, (16,)) for _ in range(6)]
    alone = [int((batch.argmax(1) == truth).sum()) for batch, truth in zip(logits, labels)]
    assert _correct_counts(logits, labels, [16] * 6) == alone
    short = int((logits[0][:5].argmax(1) == labels[0][:5]).sum())  # a group ending in a short batch
    assert _correct_counts(logits + [logits[0][:5]], labels + [labels[0][:5]], [16] * 6 + [5]) == alone + [short]


@pytest.mark.parametrize("losses", [[], [1.0, 2.0], [100.0], [100.0001], [math.nan], [1.0, math.nan, 2.0],
                                    [math.nan, 1.0], [2.0, math.inf], [-math.inf, math.inf], [1e308, 1e308, 0.5],
                                    [0.1] * 50])
def test_a_group_is_checked_for_divergence_as_each_loss_would_be(losses):
    assert _any_diverged(losses) == any(map(diverged, losses))


def test_a_group_of_batches_is_read_back_once_its_time_is_up(tiny_config, tiny_data):
    """sync_wait_s bounds how long a stop request waits, however large sync_every is."""
    calls = []
    events = run_events(tiny_config, tiny_data, sync_every=10**6, sync_wait_s=0.0,
                        should_stop=lambda: calls.append(1) or len(calls) >= 3)
    assert events[-1].reason == "stopped" and events[-1].step == 3
    grouped = run_events(tiny_config, tiny_data, sync_every=10**6, sync_wait_s=math.inf,
                         should_stop=lambda: calls.append(1) or True)
    # one read, after the whole epoch
    assert grouped[-1].reason == "stopped" and grouped[-1].step == math.ceil(500 / 32)


def test_closing_the_generator_mid_epoch_stops_at_once(tiny_config, tiny_data):
    state = prepare(tiny_config, tiny_data, torch.device("cpu"))
    events = train(tiny_config, tiny_data, state)
    for _ in range(5):
        next(events)
    before = [p.detach().clone() for p in state.model.parameters()]
    events.close()
    with pytest.raises(StopIteration):
        next(events)
    assert all(torch.equal(a, b) for a, b in zip(before, state.model.parameters()))


def test_a_stop_request_ends_the_run_as_stopped(tiny_config, tiny_data):
    calls = []
    events = run_events(tiny_config, tiny_data, should_stop=lambda: calls.append(1) or len(calls) >= 3)
    assert events[-1].reason == "stopped" and events[-1].step == 3
    assert sum(isinstance(e, BatchEnded) for e in events) == 3


def test_a_huge_learning_rate_ends_as_diverged(tiny_config, tiny_data):
    config = replace(tiny_config, optimizer="sgd", lr=10.0, momentum=0.9)
    events = run_events(replace(config, epochs=5), tiny_data)
    end = events[-1]
    assert end.reason == "diverged" and "lower lr" in end.message
    # the batch that diverged comes last, at the step the message names, for the charts to show
    batches = [e for e in events if isinstance(e, BatchEnded)]
    assert diverged(batches[-1].loss) and f"at step {batches[-1].step}" in end.message
    assert all(math.isfinite(e.loss) and not diverged(e.loss) for e in batches[:-1])
    assert not any(isinstance(e, EpochEnded) and not math.isfinite(e.train_loss) for e in events)


def test_early_stopping_after_patience_epochs_without_improvement(tiny_config, tiny_data):
    # min_delta of 1.0 makes every epoch after the first count as no improvement
    config = replace(tiny_config, epochs=10, patience=2, min_delta=1.0)
    events = run_events(config, tiny_data)
    assert events[-1].reason == "early_stopped" and events[-1].epochs_completed == 3
    assert events[-1].message == "validation loss did not improve by more than 1 for 2 epochs"
    # with no min_delta: not "by more than 0 for 1 epochs"
    tracker = BestTracker(min_delta=0.0, stale_epochs=1)
    assert _early_stop_reason(replace(config, min_delta=0.0), tracker) == "validation loss did not improve for 1 epoch"


@pytest.mark.parametrize("scheduler", ["plateau", "step", "cosine", "onecycle"])
def test_schedules_change_the_learning_rate(tiny_config, tiny_data, scheduler):
    config = replace(tiny_config, scheduler=scheduler, epochs=3, step_size=1, plateau_patience=0, min_delta=0)
    lrs = [e.lr for e in run_events(config, tiny_data) if isinstance(e, BatchEnded)]
    if scheduler == "plateau":  # only drops when validation stalls; must not raise it
        assert max(lrs) <= config.lr
    else:
        assert len(set(lrs)) > 1


@pytest.mark.parametrize("scheduler", ["step", "onecycle"])
def test_each_batch_reports_the_lr_it_trained_with(tiny_config, tiny_data, scheduler):
    """Per-epoch schedules are read once an epoch, per-batch ones every batch, with values read back in groups."""
    config = replace(tiny_config, scheduler=scheduler, epochs=3, step_size=1, gamma=0.5)
    events = run_events(config, tiny_data, sync_every=10**6, sync_wait_s=math.inf)
    steps = math.ceil(len(tiny_data.train) / config.batch_size)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
    schedule, expected = build_scheduler(config, optimizer, steps), []
    for _ in range(config.epochs):
        for _ in range(steps):
            expected.append(current_lr(optimizer))
            optimizer.step()
            if scheduler == "onecycle":
                schedule.step()
        if scheduler == "step":
            schedule.step()
    assert [e.lr for e in events if isinstance(e, BatchEnded)] == pytest.approx(expected, rel=1e-12)
    assert len(set(expected)) == (3 if scheduler == "step" else 3 * steps)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_learns_the_synthetic_task(tiny_config, tiny_data, optimizer):
    lr = {"sgd": 0.05, "rmsprop": 1e-3}.get(optimizer, 1e-3)
    config = replace(tiny_config, optimizer=optimizer, lr=lr, weight_decay=1e-4, epochs=3)
    epochs = [e for e in run_events(config, tiny_data) if isinstance(e, EpochEnded)]
    assert epochs[-1].val_accuracy > 0.9
