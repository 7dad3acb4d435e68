"""Optuna's side of a sweep: its study storage, sampler, pruner, distributions and importance.

The study is kept apart from runs.db (Optuna's FAQ advises against SQLite for parallel workers):
in a journal file beside it, or in the RDB a user names by URL.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from core.sweeps.records import SweepPlan, SweepSettingError
from core.sweeps.space import Choice, SearchSpace, grid_values

optuna.logging.set_verbosity(optuna.logging.WARNING)
# the median pruner waits for this many trials before it prunes anything
PRUNER_STARTUP_TRIALS = 3


def distributions(space: SearchSpace, grid: bool = False) -> dict[str, BaseDistribution]:
    """Each searched setting as an Optuna distribution; a grid sees its values as categories."""
    out: dict[str, BaseDistribution] = {}
    for name, param in space.search.items():
        if grid or isinstance(param, Choice):
            values = grid_values(name, param) if grid else param.values
            out[name] = CategoricalDistribution(list(values))
        elif param.integer:
            out[name] = IntDistribution(int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
        else:
            out[name] = FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    return out


def sampler(plan: SweepPlan, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
    """Optuna's sampler for the strategy; a resumed driver shifts a given seed so it draws anew.

    Not a grid's: GridSampler shuffles its points by the seed, and the study's trials name their point
    by its place in that order, so a resumed driver with another seed would repeat points and skip others.
    """
    if plan.strategy == "grid":
        grid = {name: list(grid_values(name, param)) for name, param in plan.space.search.items()}
        return optuna.samplers.GridSampler(grid, seed=plan.sampler_seed)
    seed = None if plan.sampler_seed is None else plan.sampler_seed + seed_offset
    if plan.strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)  # constant_liar on by default in optuna 5: parallel asks


def pruner(plan: SweepPlan, max_epochs: int) -> optuna.pruners.BasePruner:
    if plan.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0)
    if plan.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1))
    return optuna.pruners.NopPruner()


def max_epochs(space: SearchSpace) -> int:
    param = space.search.get("epochs")
    if param is None:
        return int(space.fixed.get("epochs", 5))
    return int(max(param.values) if isinstance(param, Choice) else param.high)


def storage(url: str, journal: Path) -> optuna.storages.BaseStorage:
    """The RDB at url, or the journal file (made on first use)."""
    if url:
        return optuna.storages.RDBStorage(url)
    journal.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(journal)))


def check_storage(url: str) -> None:
    """SweepSettingError naming the URL and why, unless Optuna can open the RDB there (it makes its tables)."""
    import sqlalchemy.exc

    try:
        optuna.storages.RDBStorage(url)
    except (ValueError, ImportError, sqlalchemy.exc.SQLAlchemyError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise SweepSettingError(f"storage: cannot open {url!r} as Optuna's study storage: {reason} (give an "
                                "RDB URL such as sqlite:///sweeps.db, or leave --storage out)") from None


def open_study(study_name: str, plan: SweepPlan, journal: Path, seed_offset: int = 0) -> optuna.Study:
    """The sweep's study, made on first use; validation accuracy is maximized."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(study_name=study_name, storage=storage(plan.storage, journal),
                                   sampler=sampler(plan, seed_offset),
                                   pruner=pruner(plan, max_epochs(plan.space)), direction="maximize",
                                   load_if_exists=True)


def tell(study: optuna.Study, trial: optuna.Trial | int, value: float | None = None,
         state: optuna.trial.TrialState | None = None) -> None:
    """study.tell, less GridSampler's stop after the last grid point, which ask-and-tell cannot take.

    The grid sampler calls study.stop() when its grid is done, and stop() raises outside
    study.optimize (optuna#4121, #5141; documented). The trial's result is stored all the same.
    """
    try:
        study.tell(trial, value, state=state)
    except RuntimeError as err:
        if not (isinstance(study.sampler, optuna.samplers.GridSampler) and "Study.stop" in str(err)):
            raise


def importance(study: optuna.Study) -> dict[str, float]:
    """Each setting's importance to the objective, by Optuna's PED-ANOVA; empty until it can tell."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2 or len({t.value for t in complete}) < 2:
        return {}
    try:
        return {name: float(share) for name, share in
                optuna.importance.get_param_importances(study, evaluator=evaluator()).items()}
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every setting took one value so far
        return {}


def evaluator() -> Any:
    # PED-ANOVA needs no scikit-learn (fANOVA and mean-decrease-impurity do) and takes 40 ms on 200 trials
    return optuna.importance.PedAnovaImportanceEvaluator()
