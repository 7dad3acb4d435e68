"""The driver's bookkeeping with Optuna, state by state: pruning asked epoch by epoch, a resumed driver's
trials in flight, and the trials a killed driver had asked for but not started."""
from __future__ import annotations

import os
import time

import optuna
from sweep_helpers import TINY, make_sweep

from core.runs.records import Metric
from core.sweeps.driver import Active, SweepLoop
from core.sweeps.store import SweepStore
from core.sweeps.study import PRUNER_STARTUP_TRIALS, distributions, open_study

GOOD_EPOCHS, SEEN_AT_ONCE = 30, 40
SPACE = {**TINY, "lr": [0.1, 1e-4], "epochs": [GOOD_EPOCHS, 100]}


class Adopting:
    """An executor whose trials in flight outlive the driver: a resumed driver adopts them."""

    def adopt(self, run_id: str) -> bool:
        return True


def sweep_with_finished_trials(sweep_store):
    """A median-pruned sweep whose first trials finished at 0.9 every epoch; its loop and study."""
    sweep_id = make_sweep(sweep_store, SPACE, strategy="tpe", pruner="median", trials=PRUNER_STARTUP_TRIALS + 1)
    sweeps = SweepStore(sweep_store)
    sweep = sweeps.get(sweep_id)
    study = open_study(sweep_id, sweep.plan, sweeps.journal_path(sweep_id))
    for _ in range(PRUNER_STARTUP_TRIALS):
        good = study.ask()
        for epoch in range(1, GOOD_EPOCHS + 1):
            good.report(0.9, epoch)
        study.tell(good, 0.9)
    loop = SweepLoop(sweep_store, sweeps, sweep, executor=Adopting())
    loop.study, loop.space = study, distributions(sweep.plan.space)
    return loop, study


def running_trial_run(sweep_store, loop: SweepLoop, epochs: int) -> str:
    """A run in flight that has stored this many trailing epochs (0.1) since the driver last looked."""
    run_id = sweep_store.create_run(loop.sweep.plan.space.config({"lr": 1e-4, "epochs": 100}))
    sweep_store.claim(run_id, os.getpid())
    sweep_store.add_metrics(run_id, [Metric(epoch * 16, epoch, "val", "accuracy", 0.1, time.time())
                                     for epoch in range(1, epochs + 1)])
    return run_id


def test_a_trial_whose_epochs_arrive_all_at_once_is_pruned_at_the_first_that_trailed(sweep_store):
    loop, study = sweep_with_finished_trials(sweep_store)
    run_id = running_trial_run(sweep_store, loop, SEEN_AT_ONCE)
    active = Active(study.ask(), run_id)

    loop.report(active, sweep_store.get_run(run_id))

    # the median at epoch 40 is nobody's (the others stopped at 30): asked there alone, it would go on
    assert active.pruned_at == 1 and active.reported == SEEN_AT_ONCE
    assert sweep_store.stop_requested(run_id)
    assert study.trials[-1].intermediate_values == {1: 0.1}  # nothing told past the epoch it was pruned at


def test_a_resumed_driver_asks_the_pruner_only_about_epochs_optuna_has_not_got(sweep_store):
    loop, study = sweep_with_finished_trials(sweep_store)
    trial = study.ask()
    for epoch in (1, 2, 3):  # told by the previous driver, which died before it asked the pruner
        trial.report(0.1, epoch)
    run_id = running_trial_run(sweep_store, loop, 4)
    frozen = study.trials[-1]
    list(loop.resume_trial(frozen, sweep_store.get_run(run_id)))
    active = loop.active[frozen.number]

    loop.report(active, sweep_store.get_run(run_id))

    # epochs 1-3 read again are not judged again (the pruner would judge epoch 3 and call it epoch 1)
    assert active.pruned_at == 4 and active.last_step == 4
    assert study.trials[-1].intermediate_values == {1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1}


def test_asked_but_unstarted_trials_run_once_unless_refused_or_half_asked(sweep_store):
    loop, study = sweep_with_finished_trials(sweep_store)
    whole = study.ask(loop.space)
    refused = study.ask(loop.space)
    refused.set_user_attr("refused", "lr: out of range")  # the previous driver died refusing it
    half = study.ask({"lr": loop.space["lr"]})  # ... or drawing its settings: epochs was never drawn
    made = loop.made
    for frozen in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
        list(loop.resume_trial(frozen, None))
    assert [(p.trial.number, p.attempt) for p in loop.pending] == [(whole.number, 1)]
    assert loop.made == made + 1  # the refused one was counted when found; the half-asked one is asked anew
    states = {t.number: t.state for t in study.trials}
    assert states[refused.number] == states[half.number] == optuna.trial.TrialState.FAIL
    assert states[whole.number] == optuna.trial.TrialState.RUNNING
