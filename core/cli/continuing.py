"""`python -m core resume` and `fork`: a run goes on from its last epoch, or a new one from any epoch."""
from __future__ import annotations

import argparse
import dataclasses

from core.cli.paths import add_data_dir_argument, add_runs_argument
from core.cli.runs import existing_store
from core.cli.train import config_arguments, errors_name_flags, refuse_unused, train_in_turn
from core.config import ConfigError, RunConfig
from core.devices import available_devices, require_device
from core.runs import continuation


def register(commands: argparse._SubParsersAction) -> None:
    resume = commands.add_parser("resume", help="continue a stopped, interrupted or finished run from its last "
                                 "epoch checkpoint, in the same run")
    resume.add_argument("run_id", metavar="RUN_ID", help="the run to go on with, as `python -m core runs` lists it")
    resume.add_argument("--epochs", type=int, help="a new total of epochs (default: the run's planned epochs)")
    _store_arguments(resume)
    resume.set_defaults(handler=command_resume)
    fork = commands.add_parser("fork", help="start a new run from an epoch checkpoint of another, with some "
                               "settings changed (not the model's shape, the data, the batch size or the seed)")
    fork.add_argument("run_id", metavar="RUN_ID", help="the run to start from, as `python -m core runs` lists it")
    fork.add_argument("--epoch", type=int, required=True, help="the parent's epoch to start from")
    config_arguments(fork, inherited=True)
    fork.add_argument("--name", default="", help="run name (default: the parent's, with fork@EPOCH)")
    fork.add_argument("--tags", nargs="*", default=[], help="run tags")
    _store_arguments(fork)
    fork.set_defaults(handler=command_fork)


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    add_runs_argument(parser)
    add_data_dir_argument(parser)


def command_resume(args: argparse.Namespace) -> int:
    store = existing_store(args.runs)
    device = store.get_run(args.run_id).config.device
    if device not in ("auto", *available_devices()):
        raise ConfigError("device", f"the run trains on {device!r}, which is not available here (available: "
                          f"{', '.join(available_devices())}); fork it with --device to go on here")
    with errors_name_flags():
        run = continuation.resume(store, args.run_id, args.epochs)
    after = continuation.last_epoch(store, run.id) or run.parent_epoch or 0
    print(f"resuming {run.name!r} after epoch {after}, to epoch {run.config.epochs}", flush=True)
    return train_in_turn(store, [run.id], args.data_dir).exit_code


def command_fork(args: argparse.Namespace) -> int:
    store = existing_store(args.runs)
    changes = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)}
    with errors_name_flags():
        parent = store.get_run(args.run_id).config
        require_device(changes.get("device", parent.device))
        refuse_unused(dataclasses.replace(parent, **changes), changes)  # --plateau-patience on a run without it
        child = continuation.fork(store, args.run_id, args.epoch, changes, name=args.name, tags=args.tags)
    print(f"forked {args.run_id} at epoch {args.epoch} as {child}", flush=True)
    return train_in_turn(store, [child], args.data_dir).exit_code
