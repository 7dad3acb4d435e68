"""`python -m core sweep`: search many settings with Optuna, the trials run here or on a Ray cluster."""
from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING

from core.cli.output import one_line
from core.cli.paths import add_data_dir_argument, add_runs_argument
from core.cli.runs import existing_store
from core.runs.store import RunStore
from core.status import RunStatus
from core.sweeps.executors import RayUnreachable, check_reachable
from core.sweeps.records import EXECUTORS, PRUNERS, STRATEGIES, SweepPlan, SweepSettingError
from core.sweeps.results import trials_started
from core.sweeps.space import SpaceError, load_space
from core.sweeps.store import SweepNotFound, SweepStore

if TYPE_CHECKING:
    from core.sweeps.driver import TrialEnded


# a sweep's settings on the command line, and the SweepPlan field each sets; only those given are set
PLAN_FIELDS = {"trials": "trials", "strategy": "strategy", "prune": "pruner", "parallel": "parallel",
               "executor": "executor", "ray_address": "ray_address", "storage": "storage", "retries": "retries",
               "seed": "sampler_seed", "name": "name"}
PLAN_OPTION = dict(default=argparse.SUPPRESS)


def register(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser("sweep", help="search settings with Optuna: grid, random or TPE, with pruning",
                                description="Run a sweep: --space FILE starts one, --resume SWEEP_ID goes on "
                                            "with a stopped or interrupted one, --list shows them.")
    start = sweep.add_mutually_exclusive_group(required=True)
    start.add_argument("--space", help="search space, a .toml or .json file (see examples/sweep-quick.toml)")
    start.add_argument("--resume", metavar="SWEEP_ID", help="go on with a stored sweep; finished trials are kept")
    start.add_argument("--stop", metavar="SWEEP_ID", help="ask a running sweep to stop")
    start.add_argument("--list", action="store_true", help="list the stored sweeps")
    sweep.add_argument("--trials", type=int, **PLAN_OPTION, help="how many trials (default: 8)")
    sweep.add_argument("--strategy", **PLAN_OPTION, metavar="{" + ",".join(STRATEGIES) + "}",
                       help="Optuna sampler: grid, random or tpe (default: tpe)")
    sweep.add_argument("--prune", nargs="?", const="median", **PLAN_OPTION, metavar="{median,hyperband}",
                       help="stop poor trials early from their per-epoch validation accuracy (default pruner: "
                            "median)")
    sweep.add_argument("--parallel", type=int, **PLAN_OPTION, help="trials at once (default: 1)")
    sweep.add_argument("--executor", **PLAN_OPTION, metavar="{" + ",".join(EXECUTORS) + "}",
                       help="local: worker processes here; ray: Ray tasks on a cluster (default: local)")
    sweep.add_argument("--ray-address", **PLAN_OPTION, help="a Ray cluster's head, host:port; without it the ray "
                                                         "executor starts Ray on this machine")
    sweep.add_argument("--storage", **PLAN_OPTION, help="Optuna study storage as an RDB URL (default: a journal "
                                                     "file beside runs.db)")
    sweep.add_argument("--retries", type=int, **PLAN_OPTION, help="new attempts for a trial whose worker died")
    sweep.add_argument("--seed", type=int, **PLAN_OPTION, help="the sampler's seed (default: random)")
    sweep.add_argument("--name", **PLAN_OPTION, help="sweep name")
    add_runs_argument(sweep)
    add_data_dir_argument(sweep)
    sweep.set_defaults(handler=command_sweep)


def command_sweep(args: argparse.Namespace) -> int:
    from core.sweeps.driver import SweepBusy  # optuna: imported by sweep commands alone, not by every CLI start

    try:
        if args.list:
            refuse_plan_options(args, "--list shows each sweep with its own")
            return list_sweeps(existing_store(args.runs))
        if args.stop:
            refuse_plan_options(args, "--stop only asks a running sweep to stop")
            return stop_sweep(existing_store(args.runs), args.stop)
        if args.resume:
            refuse_plan_options(args, "--resume goes on with the settings the sweep was started with")
        return run_sweep(args)
    except (SpaceError, SweepSettingError, SweepBusy, RayUnreachable, SweepNotFound) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def plan_from_args(args: argparse.Namespace) -> SweepPlan:
    """The plan from --space and the options given; SweepPlan's defaults for the rest."""
    if getattr(args, "prune", "") not in PRUNERS:
        raise SweepSettingError(f"prune: {args.prune!r} is not one of median, hyperband")
    given = {field: getattr(args, option) for option, field in PLAN_FIELDS.items() if hasattr(args, option)}
    if given.get("ray_address") and given.get("executor") != "ray":
        raise SweepSettingError("ray-address: a Ray cluster's address is for --executor ray")
    return SweepPlan(space=load_space(args.space), **given)


def refuse_plan_options(args: argparse.Namespace, action: str) -> None:
    """A sweep's settings are for a new one: --resume goes on with its stored plan, --list and --stop have none."""
    given = ["--" + option.replace("_", "-") for option in PLAN_FIELDS if hasattr(args, option)]
    if given:
        raise SweepSettingError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for a new sweep "
                                f"(--space); {action}")


def resumed_sweep(args: argparse.Namespace) -> tuple[RunStore, str]:
    """The stored sweep --resume names, refused now, before its header, if another process drives it."""
    from core.sweeps.driver import check_not_driven

    store = existing_store(args.runs)
    sweep = SweepStore(store).get(args.resume)
    check_not_driven(SweepStore(store), sweep)
    return store, sweep.id


def created_sweep(args: argparse.Namespace) -> tuple[RunStore, str]:
    """A new sweep from --space and the options, stored once they, the Ray address and the storage check out."""
    plan = plan_from_args(args)  # a bad space or setting is refused before the store is touched
    if plan.executor == "ray" and plan.ray_address:
        check_reachable(plan.ray_address)  # one line now, not minutes of Ray retrying
    if plan.storage:
        from core.sweeps.study import check_storage

        check_storage(plan.storage)  # one line now, not a traceback and a failed sweep in the list
    store = RunStore(args.runs)
    return store, SweepStore(store).create(plan)


def run_sweep(args: argparse.Namespace) -> int:
    store, sweep_id = resumed_sweep(args) if args.resume else created_sweep(args)
    sweeps = SweepStore(store)
    sweep = sweeps.get(sweep_id)
    print(f"sweep {sweep.id} ({one_line(sweep.name)}) in {store.root}: {sweep.plan.strategy}, "
          f"{sweep.plan.trials} trials, {sweep.plan.parallel} at once on {sweep.plan.executor}", flush=True)
    # Ctrl-C asks for a stop: the trials in flight stop with their checkpoints, and --resume goes on
    received: list[int] = []

    def stop(signum: int, _frame) -> None:
        received.append(signum)
        sweeps.request_stop(sweep_id)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    from core.sweeps.driver import drive

    for ended in drive(store, sweep_id, args.data_dir):
        print(trial_line(ended), flush=True)
    code = print_outcome(sweeps, sweep_id)
    return 128 + received[0] if received else code  # as train exits: `sweep ... && next` goes no further


def trial_line(ended: TrialEnded) -> str:
    params = ", ".join(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
                       for name, value in ended.params.items())
    value = f" val_acc {ended.value:.2%}" if ended.value is not None else ""
    best = f" (best so far: #{ended.best_number} {ended.best_value:.2%})" if ended.best_number is not None else ""
    note = f" - {ended.message}" if ended.message and ended.outcome != "complete" else ""
    return f"trial #{ended.number} {ended.outcome}{value} [{params}]{best}{note}"


def print_outcome(sweeps: SweepStore, sweep_id: str) -> int:
    sweep = sweeps.get(sweep_id)
    print(f"sweep {sweep.status.label}: {sweep.message}")
    if sweep.importance:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in sweep.importance.items())
        print(f"parameter importance: {shares}")
    if sweep.status == RunStatus.STOPPED:
        print(f"resume with: python -m core sweep --resume {sweep.id} --runs {sweeps.runs.root}")
    return 0 if sweep.status in (RunStatus.FINISHED, RunStatus.STOPPED) else 1


def list_sweeps(store: RunStore) -> int:
    from core.sweeps.driver import check_drivers

    sweeps = SweepStore(store)
    check_drivers(sweeps)
    if not sweeps.list():
        print(f"no sweeps yet in {store.root}: start one with "
              "python -m core sweep --space examples/sweep-quick.toml")
        return 0
    for sweep in sweeps.list():
        started = trials_started(store.sweep_runs(sweep.id))  # a finished sweep with one deleted read "3/4"
        print(f"{sweep.id}  {sweep.status:<12} {sweep.plan.strategy:<6} {started:>4}/{sweep.plan.trials:<4} "
              f"{one_line(sweep.name)}  {one_line(sweep.message)}")
    return 0


def stop_sweep(store: RunStore, sweep_id: str) -> int:
    sweeps = SweepStore(store)
    if sweeps.request_stop(sweep_id) == "requested":
        print(f"sweep {sweep_id}: stop requested; its trials in flight stop with their checkpoints")
    else:
        print(f"sweep {sweep_id} is {sweeps.get(sweep_id).status.label}, not running: nothing to stop")
    return 0
