"""`python -m core train`: one run into the store, with a progress bar, a preset or any setting."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

from tqdm import tqdm

from core.cli.output import quiet_when_closed
from core.cli.paths import add_data_dir_argument, add_runs_argument, writable_folder
from core.comparison.groups import MAX_SEEDS, parse_seeds, repeat_over_seeds, spread
from core.config import (
    CHOICES,
    MAX_CSV_MB,
    ONE_HOT_MAX_VALUES,
    ConfigError,
    RunConfig,
    default_val_size,
    planned_steps,
    unused_settings,
)
from core.devices import require_device
from core.names import checked_name, checked_tags, derived_name
from core.presets import PRESETS
from core.runs.final_test import describe_test
from core.runs.progress import StepTime, describe, progress
from core.runs.store import RunStore
from core.runs.supervisor import execute_run
from core.runs.trial import TrialItem
from core.status import RunStatus
from core.training.data import DataError, require_files
from core.training.events import BatchEnded, EpochEnded, RunEnded

REDRAW_S = 0.25


# what a setting does, where "default: X" alone does not say it
FIELD_HELP = {
    "hidden_sizes": "the MLP's hidden layer widths, e.g. 256 128 (--model mlp only)",
    "momentum": "momentum of sgd and rmsprop", "nesterov": "Nesterov momentum (sgd with momentum above 0 only)",
    "weight_decay": "L2 penalty on the weights (decoupled for adamw)",
    "step_size": "with --scheduler step: multiply the lr by --gamma every this many epochs",
    "gamma": "with --scheduler step: the lr's factor at each step",
    "plateau_patience": "with --scheduler plateau (ReduceLROnPlateau): epochs without a better validation loss "
                        "before the lr is cut",
    "plateau_factor": "with --scheduler plateau: the lr's factor at each cut",
    "patience": "early stopping: epochs without a better validation loss before the run stops; 0 turns it off",
    "min_delta": "early stopping (--patience above 0): the least drop in validation loss that counts",
    "val_size": "training images held out for validation (the best epoch and early stopping use them)",
    "augment_shift": "random shift of each training image, in pixels each way",
    "augment_rotate": "random rotation, in degrees each way", "augment_scale": "random zoom within 1 +- this",
    "augment_thickness": "random stroke thickening or thinning, a share of one erosion or dilation step",
    "augment_elastic": "random smooth elastic distortion, in pixels",
    "label_smoothing": "cross-entropy's label smoothing (the training loss includes it; validation's does not)",
    "seed": "initial weights, data order and augmentations",
    "device": "auto: the accelerator if there is one, else cpu",
}


def config_arguments(parser: argparse.ArgumentParser, inherited: bool = False) -> None:
    """One --flag per RunConfig field; only the flags given are set (they override a preset, or with
    inherited, the parent run's settings: the help says so instead of the defaults)."""
    for field in dataclasses.fields(RunConfig):
        flag, default = "--" + field.name.replace("_", "-"), field.default
        shown = "the parent's" if inherited else (" ".join(map(str, default)) if isinstance(default, tuple)
                                                  else default)
        given_only = dict(dest=field.name, default=argparse.SUPPRESS)
        if field.name == "csv":
            continue  # a table comes with --csv FILE --target COLUMN (table_arguments)
        if field.name == "hidden_sizes":
            parser.add_argument(flag, type=int, nargs="+", help=_help(field.name, shown), **given_only)
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=_help(field.name, shown),
                                **given_only)
        elif field.name in CHOICES:
            # validated by RunConfig, which names the field in one line; argparse's choices would not
            parser.add_argument(flag, metavar="{" + ",".join(CHOICES[field.name]) + "}",
                                help=f"one of {', '.join(CHOICES[field.name])}; default: {shown}", **given_only)
        elif field.name == "train_samples":
            parser.add_argument(flag, type=int, help="use only this many training images (default: "
                                f"{shown if inherited else 'all'})", **given_only)
        else:
            parser.add_argument(flag, type=type(default), help=_help(field.name, shown), **given_only)


def _help(name: str, shown: object) -> str:
    text = FIELD_HELP.get(name)
    return f"{text} (default: {shown})" if text else f"default: {shown}"


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train one run into the run store")
    train.add_argument("--preset", choices=list(PRESETS), help="start from a preset's settings; any setting "
                       "given as well overrides it (see `python -m core presets`)")
    config_arguments(train)
    table_arguments(train)
    train.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files into "
                       "DIR/<run> as the run goes (open them with `tensorboard --logdir DIR`)")
    train.add_argument("--seeds", nargs="+", metavar="SEED",
                       help="queue the same settings once per seed (a seed group), then train them in turn: "
                            f"seeds such as 0 1 2, or a range such as 0-4; at most {MAX_SEEDS}")
    train.add_argument("--name", default="", help="run name")
    train.add_argument("--tags", nargs="*", action="extend", default=[], help="run tags")
    add_runs_argument(train)
    add_data_dir_argument(train)
    train.set_defaults(handler=command_train)


def table_arguments(parser: argparse.ArgumentParser) -> None:
    """A CSV file of your own instead of MNIST: the file, its target column and the feature columns."""
    table = parser.add_argument_group("your own CSV data (instead of MNIST; an MLP trains on it)")
    table.add_argument("--csv", metavar="FILE", help=f"a CSV file of at most {MAX_CSV_MB} MB, one row per example")
    table.add_argument("--target", metavar="COLUMN", help="the column of class labels to predict")
    table.add_argument("--features", metavar="COLUMN", nargs="+", action="extend",
                       help="the input columns (default: all others)")
    table.add_argument("--one-hot", metavar="COLUMN", nargs="+", action="extend", default=[],
                       help=f"text columns of at most {ONE_HOT_MAX_VALUES} values to encode as one 0/1 column each")
    table.add_argument("--drop-missing", action="store_true", help="leave out rows with a missing value")
    table.add_argument("--test-size", type=int, metavar="ROWS", help="rows held out for testing (default: 15%%); "
                       "--val-size sets the validation rows (default: 15%%)")


def config_from_args(args: argparse.Namespace, table: bytes | None = None) -> RunConfig:
    """The preset's config (or the defaults) with every setting given on the command line.

    With --csv, table is the file's bytes: checked here, and the run trains an MLP on them.
    """
    base = PRESETS[args.preset].config if args.preset else RunConfig()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig) if hasattr(args, f.name)}
    if table is not None:
        given = {**given, **table_settings(args, table, given)}
    elif "dataset" in given and "val_size" not in given:  # the synthetic set is too small for MNIST's split
        given["val_size"] = default_val_size(given["dataset"])
    config = RunConfig(**{**base.to_dict(), **given})
    refuse_unused(config, given)
    return config


def refuse_unused(config: RunConfig, given: Iterable[str]) -> None:
    """ConfigError naming the first setting given that the run would not use, and what it needs."""
    for name, needs in unused_settings(config, given).items():
        raise ConfigError(name, f"does nothing without --{needs}: add that, or leave {SETTING_FLAGS[name]} out")


def read_csv_argument(args: argparse.Namespace) -> bytes | None:
    """The bytes of --csv FILE, read once (what is checked is what is kept), or None without --csv."""
    if not getattr(args, "csv", None):
        refuse_table_options(args)
        return None
    refuse_image_options(args)
    if not args.target:
        raise DataError("--csv needs --target COLUMN: the column of class labels to predict")
    try:
        return Path(args.csv).read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {args.csv}: {err.strerror or err}") from None


def refuse_table_options(args: argparse.Namespace) -> None:
    """DataError naming the table's options given without --csv: they mean nothing for MNIST."""
    given = {"--target": args.target, "--features": args.features, "--one-hot": args.one_hot,
             "--drop-missing": args.drop_missing, "--test-size": args.test_size is not None}
    named = [flag for flag, value in given.items() if value]
    if named:
        one = len(named) == 1
        raise DataError(f"{', '.join(named)} {'is' if one else 'are'} for a CSV file: give --csv FILE as "
                        f"well, or leave {'it' if one else 'them'} out to train on MNIST")


def refuse_image_options(args: argparse.Namespace) -> None:
    """DataError naming a preset, model or dataset given with --csv: a table trains an MLP on its rows."""
    given = (("--preset", args.preset), ("--model", getattr(args, "model", None)),
             ("--dataset", getattr(args, "dataset", None)))
    clashes = [f"{flag} {value}" for flag, value in given if value not in (None, "mlp", "csv")]
    if clashes:
        raise DataError(f"a CSV file trains an MLP on its rows: {' and '.join(clashes)} "
                        f"{'does' if len(clashes) == 1 else 'do'} not go with --csv")


def table_settings(args: argparse.Namespace, data: bytes, given: dict) -> dict:
    """The settings a CSV brings: its checked table, an MLP, and 15% validation rows unless given."""
    # imported here, as the TensorBoard writer below: pandas would cost every `train` a slower start
    from core.training.tabular import describe_table, left_out_note, read_table, split_size

    name = Path(args.csv).name
    frame = read_table(data)
    if left_out_note(frame):
        print(f"{name}: {left_out_note(frame)}", flush=True)
    features = tuple(args.features or [c for c in frame.columns if c != args.target])
    table, checked = describe_table(data, name, args.target, features, tuple(args.one_hot), args.drop_missing)
    if table is None:
        raise DataError(f"{name} cannot train as chosen:\n" + "\n".join(
            f"  - {problem.message}{FLAG_HINTS.get(problem.fix, '').format(' '.join(problem.columns))}"
            for problem in checked.problems))
    if args.test_size is not None:
        table = dataclasses.replace(table, test_size=args.test_size)
    val_size = given.get("val_size", split_size(table.rows, 0.15))
    return {"dataset": "csv", "csv": table, "model": "mlp", "augment_shift": 0, "val_size": val_size}


FLAG_HINTS = {"one_hot": " (to encode it: --one-hot {})", "drop_missing": " (to leave them out: --drop-missing)"}


class ProgressBar:
    """A tqdm bar over the run's steps, with the same progress line and ETA as the Train page."""

    def __init__(self, config: RunConfig, out: TextIO | None = None):
        self.config, self.out = config, out or sys.stderr  # read when used, so a redirected stderr is seen
        self.first: StepTime | None = None
        self.last_postfix = 0.0
        self.bar = tqdm(total=planned_steps(config), file=self.out, unit="step", dynamic_ncols=True, leave=False,
                        disable=not self.out.isatty(), mininterval=REDRAW_S, bar_format="{l_bar}{bar}| {postfix}")

    def update(self, item: TrialItem) -> None:
        if isinstance(item, BatchEnded):
            self._batch(item)
        elif isinstance(item, EpochEnded):
            self.bar.write(epoch_line(item, self.config), file=self.out)
        elif isinstance(item, RunEnded):
            self.bar.close()
            print(f"run ended: {item.reason.label}{' - ' + item.message if item.message else ''}",
                  file=self.out, flush=True)

    def _batch(self, event: BatchEnded) -> None:
        if self.bar.disable:
            return
        now = time.time()
        self.first = self.first or StepTime(event.step, now)
        if now - self.last_postfix >= REDRAW_S:  # the line is built only when it will be drawn
            self.last_postfix = now
            shown = progress(self.config, RunStatus.RUNNING, self.first, StepTime(event.step, now), event.epoch,
                             event.samples_per_s)
            self.bar.total = shown.total_steps
            self.bar.set_postfix_str(f"{describe(shown)} - loss {event.loss:.4f} acc {event.accuracy:.2%}",
                                     refresh=False)
        self.bar.update(event.step - self.bar.n)


def epoch_line(event: EpochEnded, config: RunConfig) -> str:
    val = (f" val_loss {event.val_loss:.4f} val_acc {event.val_accuracy:.2%}"
           if event.val_loss is not None else "")
    best = " (best)" if event.is_best else ""
    return (f"epoch {event.epoch}/{config.epochs} train_loss {event.train_loss:.4f} "
            f"train_acc {event.train_accuracy:.2%}{val} {event.seconds:.1f}s{best}")


# RunConfig's fields (and a table's test rows) by the flags that set them: errors name what the user typed
SETTING_FLAGS = {field.name: "--" + field.name.replace("_", "-") for field in dataclasses.fields(RunConfig)
                 if field.name != "csv"} | {"csv.test_size": "--test-size", "seeds": "--seeds"}
SETTING_NAMES = re.compile(r"(?<![\w.-])(" + "|".join(name for name in SETTING_FLAGS if "_" in name) + r")\b")


@contextlib.contextmanager
def errors_name_flags() -> Iterator[None]:
    """Within: a ConfigError naming a setting names its flag instead ('--val-size: ...', not 'val_size: ...')."""
    try:
        yield
    except ConfigError as err:
        if err.field not in SETTING_FLAGS:
            raise
        # a setting named in the reason too: "(val_size above 0)" reads "(--val-size above 0)"
        reason = SETTING_NAMES.sub(lambda found: SETTING_FLAGS[found.group(0)], err.reason)
        raise ConfigError(SETTING_FLAGS[err.field], reason) from None


def command_train(args: argparse.Namespace) -> int:
    table = read_csv_argument(args)
    with errors_name_flags():
        config = config_from_args(args, table)
        if args.seeds and hasattr(args, "seed"):
            raise ConfigError("seeds", "give --seed or --seeds, not both")
        configs = repeat_over_seeds(config, parse_seeds(" ".join(args.seeds))) if args.seeds else [config]
        require_device(config.device)  # everything is checked before a run is queued: a failed check queues none
    if config.csv is None:
        require_files(config.dataset, args.data_dir)
    if args.tensorboard:
        writable_folder(args.tensorboard, "TensorBoard files")
    name, tags = checked_name(args.name), checked_tags(args.tags or ())
    store = RunStore(args.runs)
    if table is not None:
        store.add_table(table)
    run_ids = [store.create_run(each, name=_seed_name(name, each) if args.seeds else name, tags=tags)
               for each in configs]
    turns = train_in_turn(store, run_ids, args.data_dir, args.tensorboard)
    if args.seeds:
        print_group(store, run_ids)
    return turns.exit_code


def _seed_name(name: str, config: RunConfig) -> str:
    return derived_name(name or config.model, f"seed {config.seed}")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Turns(NamedTuple):
    """How the runs trained in turn ended, and the stop signal received (Ctrl-C, kill, a closed terminal), if any."""
    statuses: list[RunStatus]
    signal: int | None

    @property
    def exit_code(self) -> int:
        """128 + the signal when one stopped them, as a shell's commands exit (`train && export ...` goes no
        further); else 0 when every run trained to its plan or was stopped on request (the app's Stop, `stop`),
        and 1 when one failed, diverged or was interrupted."""
        if self.signal is not None:
            return 128 + self.signal
        return 0 if all(status.completed or status == RunStatus.STOPPED for status in self.statuses) else 1


def train_in_turn(store: RunStore, run_ids: list[str], data_dir: str, tensorboard: str | None = None) -> Turns:
    """Train queued runs one after another in this process, each with a progress bar and its outcome.

    Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP) ask the current run to stop (it ends cleanly
    with its checkpoints) and cancel the rest. The runs are this process's: killed outright (SIGKILL), its
    queued ones are found interrupted by the next check of the store, not trained later unasked.
    """
    for run_id in run_ids:
        store.assign_worker(run_id, os.getpid())
    statuses = []
    with stopped_by_signals(store, run_ids) as received, quiet_when_closed():  # `train | head -1`: it goes on
        for run_id in run_ids:
            print(f"run {run_id} in {store.root}", flush=True)
            statuses.append(train_here(store, run_id, data_dir, tensorboard))
            print_outcome(store, run_id)
    return Turns(statuses, received[0] if received else None)


@contextlib.contextmanager
def stopped_by_signals(store: RunStore, run_ids: list[str]) -> Iterator[list[int]]:
    """Within: a stop signal asks the runs to stop (the running one stops, the queued are cancelled, the
    ended stay), as does an exception leaving, so that no later worker trains them unasked. Yields the list
    of the signals received."""
    received: list[int] = []

    def stop() -> None:
        for run_id in run_ids:
            store.request_stop(run_id)

    def on_signal(signum: int, _frame) -> None:
        received.append(signum)
        # not in the handler itself: it may have interrupted this thread inside a flush's transaction,
        # and the request would wait on that, its own process's, write lock
        threading.Thread(target=stop, name="stop-request", daemon=True).start()

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield received
    except BaseException:
        stop()
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def train_here(store: RunStore, run_id: str, data_dir: str, tensorboard: str | None) -> RunStatus:
    """One queued run trained in this process, with a progress bar and, if asked, live TensorBoard events."""
    run = store.get_run(run_id)
    consumers = [ProgressBar(run.config).update]
    live = None
    if tensorboard:
        from core.labs.tensorboard import LiveTensorBoard

        live = LiveTensorBoard(tensorboard, run)
    if live is not None:
        consumers.append(live.record)
        print(f"TensorBoard events in {live.folder}", flush=True)
    status = execute_run(store, run_id, data_dir, on_item=lambda item: [use(item) for use in consumers])
    if live is not None:
        live.close(store.get_run(run_id))
    return status


def print_group(store: RunStore, run_ids: list[str]) -> None:
    """A seed group's test accuracy as mean ± std over its runs."""
    runs = [store.get_run(run_id) for run_id in run_ids]
    accuracy = spread(run.summary.test_accuracy for run in runs)
    seeds = " ".join(str(run.config.seed) for run in runs)
    if accuracy is None:
        print(f"seeds {seeds}: no run was tested")
        return
    std = "" if accuracy.std is None else f" ± {accuracy.std:.2%}"
    print(f"seeds {seeds}: test accuracy {accuracy.mean:.2%}{std} over {accuracy.count} of {len(runs)} runs")


def print_outcome(store: RunStore, run_id: str) -> None:
    run = store.get_run(run_id)
    print(f"status: {run.status}{' - ' + run.message if run.message else ''}")
    summary = run.summary
    if summary.best_val_accuracy is not None:
        print(f"best epoch: {summary.best_epoch}, val_acc {summary.best_val_accuracy:.2%}")
    if summary.test_accuracy is not None:  # in the epoch lines' units
        print(f"test: test_loss {summary.test_loss:.4f} test_acc {summary.test_accuracy:.2%} ({describe_test(run)})")
    best = store.checkpoint_path(run_id, "best")
    if best.exists():
        print(f"best checkpoint: {best}")
