"""`python -m core robustness`: a run's robustness curves, computed on its best checkpoint and kept with it."""
from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from core.cli.output import one_line
from core.cli.paths import RUN_IDS_HELP, add_data_dir_argument, add_runs_argument
from core.cli.runs import existing_store
from core.insight import robustness_jobs
from core.runs.store import RunNotFound, RunStore
from core.training.checkpoints import CheckpointError
from core.training.data import DataError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("robustness", help="compute runs' robustness curves (rotation, shift, scale, "
                                 "noise, stroke thickness, FGSM) on their best checkpoints")
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID", help=RUN_IDS_HELP)
    add_runs_argument(parser)
    add_data_dir_argument(parser)
    parser.add_argument("--force", action="store_true", help="compute again even if the curves are current")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (the dashboard's background job)")
    parser.set_defaults(handler=command_robustness)


def command_robustness(args: argparse.Namespace) -> int:
    store, failed = existing_store(args.runs), 0
    for run_id in args.run_ids:
        try:
            failed += not _one_run(store, run_id, args)
        except RunNotFound as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
        except (CheckpointError, DataError, ValueError, OSError) as err:
            print(f"error: {run_id}: {err}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _one_run(store: RunStore, run_id: str, args: argparse.Namespace) -> bool:
    run = store.get_run(run_id)
    reason = robustness_jobs.unmeasurable(store, run)
    if reason is not None:
        print(f"error: {one_line(run.name)}: {reason}", file=sys.stderr)
        return False
    result = None if args.force else robustness_jobs.stored_curves(store, run_id)
    if result is None:
        with tqdm(total=1, desc=one_line(run.name), unit="level", disable=args.quiet, leave=False) as bar:
            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
            result = robustness_jobs.compute(store, run_id, args.data_dir, on_step=advance)
    print(f"{one_line(run.name)} ({run_id}): {result.images:,} test images, {result.seconds:.1f} s")
    for curve in result.curves:
        points = ", ".join(f"{level:g}: {accuracy:.1%}" for level, accuracy in zip(curve.levels, curve.accuracy))
        print(f"  {curve.name} [{curve.unit}]: {points}")
    return True
