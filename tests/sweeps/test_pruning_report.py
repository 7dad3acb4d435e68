"""The driver asks the pruner epoch by epoch: a poll that finds many new epochs at once still prunes."""
from __future__ import annotations

import os
import time

from sweep_helpers import TINY, make_sweep

from core.runs.records import Metric
from core.sweeps.driver import Active, SweepLoop
from core.sweeps.store import SweepStore
from core.sweeps.study import PRUNER_STARTUP_TRIALS, open_study

GOOD_EPOCHS, SEEN_AT_ONCE = 30, 40


def test_a_trial_whose_epochs_arrive_all_at_once_is_pruned_at_the_first_that_trailed(sweep_store):
    sweep_id = make_sweep(sweep_store, {**TINY, "lr": [0.1, 1e-4], "epochs": [GOOD_EPOCHS, 100]},
                          strategy="tpe", pruner="median", trials=PRUNER_STARTUP_TRIALS + 1)
    sweeps = SweepStore(sweep_store)
    sweep = sweeps.get(sweep_id)
    study = open_study(sweep_id, sweep.plan, sweeps.journal_path(sweep_id))
    for _ in range(PRUNER_STARTUP_TRIALS):  # finished trials: 0.9 at each of their 30 epochs
        good = study.ask()
        for epoch in range(1, GOOD_EPOCHS + 1):
            good.report(0.9, epoch)
        study.tell(good, 0.9)
    trailing = study.ask()
    run_id = sweep_store.create_run(sweep.plan.space.config({"lr": 1e-4, "epochs": 100}))
    sweep_store.claim(run_id, os.getpid())  # running: its worker has stored 40 epochs since the last poll
    sweep_store.add_metrics(run_id, [Metric(epoch * 16, epoch, "val", "accuracy", 0.1, time.time())
                                     for epoch in range(1, SEEN_AT_ONCE + 1)])
    loop = SweepLoop(sweep_store, sweeps, sweep, executor=None)
    loop.study = study
    active = Active(trailing, run_id)

    loop.report(active, sweep_store.get_run(run_id))

    # the median at epoch 40 is nobody's (the others stopped at 30): asked there alone, it would go on
    assert active.pruned_at == 1 and active.reported == SEEN_AT_ONCE
    assert sweep_store.stop_requested(run_id)
    assert study.trials[-1].intermediate_values == dict.fromkeys(range(1, SEEN_AT_ONCE + 1), 0.1)
