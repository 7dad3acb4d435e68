"""`python -m core runs`, `presets`, `worker`, `stop`, `delete` and `rebuild-index`: list what is stored and known,
drain the queue, stop and delete runs, rebuild the index."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.output import one_line
from core.cli.paths import RUN_IDS_HELP, add_data_dir_argument, add_runs_argument
from core.config import data_label
from core.presets import PRESETS
from core.runs import supervisor
from core.runs.deletion import deletable_runs, delete_consequences
from core.runs.final_test import describe_test, evaluate_ended_run, last_good_checkpoint, lost_checkpoints
from core.runs.progress import status_line
from core.runs.queue import current_run
from core.runs.rebuild import rebuild_index
from core.runs.records import Run
from core.runs.run_file import run_folders
from core.runs.store import RUN_ID, RunStore, default_runs_dir
from core.runs.store_errors import folder_error
from core.status import RunStatus
from core.training.checkpoints import CheckpointError


def register(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("runs", help="list the runs in a store")
    add_runs_argument(listing)
    listing.add_argument("--current", action="store_true",
                         help="only the run the dashboard's live panel follows, with its progress line")
    listing.set_defaults(handler=command_runs)
    presets = commands.add_parser("presets", help="list the presets with their measured figures")
    presets.set_defaults(handler=command_presets)
    worker = commands.add_parser("worker", help="run queued runs (started by the dashboard)")
    add_runs_argument(worker)
    add_data_dir_argument(worker)
    worker.add_argument("--run", help="run only this queued run (a sweep's trial) instead of the queue")
    worker.add_argument("--evaluate", metavar="RUN_ID",
                        help="instead: test an ended run's last good checkpoint (one whose worker died)")
    worker.set_defaults(handler=command_worker)
    stop = commands.add_parser("stop", help="stop runs: a running one ends at its next flush with its checkpoints, "
                               "a queued one is cancelled")
    stop.add_argument("run_ids", nargs="+", metavar="RUN_ID", help=RUN_IDS_HELP)
    add_runs_argument(stop)
    stop.set_defaults(handler=command_stop)
    delete = commands.add_parser("delete", help="delete runs with their metrics and checkpoints (asks first)")
    delete.add_argument("run_ids", nargs="+", metavar="RUN_ID", help=RUN_IDS_HELP)
    add_runs_argument(delete)
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    delete.set_defaults(handler=command_delete)
    rebuild = commands.add_parser("rebuild-index", help="rebuild runs.db from the run folders (a damaged "
                                  "runs.db is kept beside it)")
    add_runs_argument(rebuild)
    rebuild.set_defaults(handler=command_rebuild)


class NoStore(RuntimeError):
    """A command that reads runs was pointed at a folder without a run store."""


def require_runs_folder(path: str) -> None:
    """NoStore for a folder that is missing, or holds neither runs.db nor run folders: a mistyped --runs is
    named, not made into a new, empty store. Anything else is the store's to judge (a damaged one says so)."""
    root = Path(path)
    try:
        missing = not root.exists() or (root.is_dir() and not (root / "runs.db").exists() and not run_folders(root))
    except OSError as err:  # a name in the path past 255 bytes
        raise folder_error(root.resolve(), err) from None
    if missing:
        raise NoStore(f"no run store in {root.resolve()} (pass --runs with the folder your runs are in)")


def existing_store(path: str) -> RunStore:
    """The run store in a folder that has one; NoStore, creating nothing, otherwise."""
    require_runs_folder(path)
    return RunStore(path)


CHECKPOINT_HELP = ("a checkpoint file (runs/RUN_ID/best.pt, or one saved by the labs' scripts), or a run's id: its "
                   "best checkpoint, else the one it stopped with, else its latest epoch's")


def checkpoint_file(given: str, runs: str | None) -> Path:
    """--checkpoint as a file: the file given, or for a run's id (not a file here) that run's checkpoint as
    its test uses one (final_test.last_good_checkpoint), in the run store at runs (default: $MNIST_RUNS_DIR,
    else ./runs)."""
    path = Path(given)
    if path.is_file() or not RUN_ID.fullmatch(given):
        return path  # loading names a missing file
    store = existing_store(runs or default_runs_dir())
    run = store.get_run(given)
    found = last_good_checkpoint(store, run.id)
    if found is not None:
        return found.path
    why = lost_checkpoints(store, run) or ("its first epoch has not ended yet" if run.is_active
                                           else "it ended before its first epoch did")
    raise CheckpointError(f"run {run.id} ({one_line(run.name)}, {run.status.label}) has no checkpoint: {why}")


def command_runs(args: argparse.Namespace) -> int:
    store = existing_store(args.runs)
    runs = supervisor.list_runs(store)
    if args.current:
        return print_current(store, runs)
    if not runs:
        print(f"no runs yet in {store.root}: start one with python -m core train")
        return 0
    rows = [run_row(run) for run in runs]
    data_width = max(len("data"), *(len(row[3]) for row in rows))
    print(f"{'id':<22}  {'status':<14} {'model':<9} {'data':<{data_width}}  {'epochs':>9}  {'test acc':>14}  name")
    for run_id, status, model, data, epochs, test, name in rows:
        print(f"{run_id:<22}  {status:<14} {model:<9} {data:<{data_width}}  {epochs:>9}  {test:>14}  {name}")
    return 0


def run_row(run: Run) -> tuple[str, ...]:
    """A run's cells in `runs`: the test accuracy says "(last)" when it is of mid-run weights, not the best."""
    summary, fork = run.summary, f"  (fork of {run.parent_id} at epoch {run.parent_epoch})" if run.parent_id else ""
    test = "" if summary.test_accuracy is None else f"{summary.test_accuracy:.2%}"
    if test and summary.tested_checkpoint == "last":
        test += " (last)"
    return (run.id, supervisor.status_label(run), run.config.model, one_line(data_label(run.config)),
            run.epochs_label, test, one_line(run.name) + fork)


def print_current(store: RunStore, runs: list[Run]) -> int:
    """The run the live panel follows (running, else next queued, else last ended): the same line it shows."""
    run = current_run(runs)
    if run is None:
        print("no runs yet")
        return 0
    from core.runs.series import frame_progress, metrics_frame  # pandas: only `status` pays its import

    frame = metrics_frame(store.read_metrics(run.id)[0])
    print(f"{run.id}  {one_line(run.name)}  {run.status.label}: {status_line(run, frame_progress(run, frame))}")
    print(f"test: {describe_test(run)}")
    return 0


def command_presets(args: argparse.Namespace) -> int:
    for name, preset in PRESETS.items():
        print(f"{name}: {preset.title}\n    {preset.description}")
    return 0


def command_worker(args: argparse.Namespace) -> int:
    supervisor.lower_priority()
    if args.evaluate:
        return evaluate_one(existing_store(args.runs), args.evaluate, args.data_dir)
    if args.run:
        return run_one(existing_store(args.runs), args.run, args.data_dir)
    supervisor.drain_queue(RunStore(args.runs), args.data_dir)
    return 0


def run_one(store: RunStore, run_id: str, data_dir: str) -> int:
    """`worker --run`: train one queued run; a run that is not queued is named with its status, not run."""
    run = store.get_run(run_id)
    if run.status is not RunStatus.QUEUED:
        print(f"run {run.id} ({one_line(run.name)}) is {supervisor.status_label(run)}, not queued: nothing to run",
              file=sys.stderr)
        return 2
    supervisor.execute_run(store, run_id, data_dir)
    return 0


def evaluate_one(store: RunStore, run_id: str, data_dir: str) -> int:
    """`worker --evaluate`: test an ended run's last good checkpoint, or say why there was nothing to test."""
    if evaluate_ended_run(store, run_id, data_dir):
        run = store.get_run(run_id)
        print(f"run {run.id}: test accuracy {run.summary.test_accuracy:.2%} ({describe_test(run)})")
        return 0
    run = store.get_run(run_id)
    print(f"run {run.id} ({one_line(run.name)}): nothing to test: {untested_reason(store, run)}", file=sys.stderr)
    return 0 if run.summary.test_accuracy is not None else 2


def untested_reason(store: RunStore, run: Run) -> str:
    if run.is_active:
        return f"it is {supervisor.status_label(run)}; it is tested when it ends"
    if run.summary.test_accuracy is not None:
        return f"it was tested already ({describe_test(run)})"
    return lost_checkpoints(store, run) or "it has no checkpoint to test (it ended before its first epoch's)"


def command_stop(args: argparse.Namespace) -> int:
    """Stop each run as the pages' Stop does, and say what that did; exit 1 if none was active."""
    store = existing_store(args.runs)
    runs = [store.get_run(run_id) for run_id in dict.fromkeys(args.run_ids)]  # RunNotFound before any stops
    outcomes = [supervisor.stop_run(store, run.id) for run in runs]
    for run, outcome in zip(runs, outcomes):
        print(supervisor.STOP_OUTCOMES[outcome].format(name=repr(one_line(run.name))))
    return 0 if any(outcome != "not active" for outcome in outcomes) else 1


def command_delete(args: argparse.Namespace) -> int:
    """Name each run and what else deleting it changes, ask, then delete them; an active run stops all of it."""
    store = existing_store(args.runs)
    runs = deletable_runs(store, args.run_ids)
    for run in runs:
        print(f"{run.id}  {supervisor.status_label(run):<14} {one_line(run.name)}")
        for consequence in delete_consequences(store, run):
            print(f"    {one_line(consequence)}")
    question = ("Delete this run with its metrics and checkpoints" if len(runs) == 1
                else f"Delete these {len(runs)} runs with their metrics and checkpoints")
    if not args.yes and not confirmed(question):
        print("nothing deleted", file=sys.stderr)
        return 1
    runs = deletable_runs(store, [run.id for run in runs])  # again: one may have been resumed while we asked
    for run in runs:
        store.delete_run(run.id)
        print(f"deleted {run.id} ({one_line(run.name)})")
    return 0


def confirmed(question: str) -> bool:
    """Whether the user at the terminal answers yes; without one, say how to go on without asking."""
    if not sys.stdin.isatty():
        print("error: no terminal to ask at: pass --yes to delete without asking", file=sys.stderr)
        return False
    try:
        return input(f"{question}? This cannot be undone. [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:  # Ctrl-D: no
        print(file=sys.stderr)
        return False


def command_rebuild(args: argparse.Namespace) -> int:
    require_runs_folder(args.runs)
    print(rebuild_index(args.runs).describe())
    return 0
