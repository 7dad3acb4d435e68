"""Command line: train, test, list runs, and the worker entry point. The only place that prints."""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

import torch

from core.checkpoints import CheckpointError, load_model
from core.config import ConfigError, RunConfig
from core.data import DEFAULT_DATA_DIR, DataError, build_datasets, load_arrays
from core.evaluation import evaluate
from core.store import RunStore
from core.training import BatchEnded, EpochEnded, Event, RunEnded
from core.worker import drain_queue, execute_run


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    """One --flag per RunConfig field, with the field's default."""
    for field in dataclasses.fields(RunConfig):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        if field.name == "hidden_sizes":
            parser.add_argument(flag, type=int, nargs="+", default=list(default))
        elif isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif field.name == "train_samples":
            parser.add_argument(flag, type=int, default=None, help="use only this many training images")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"default: {default}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Train and test MNIST models.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train one run into the run store")
    _config_arguments(train)
    train.add_argument("--name", default="", help="run name")
    train.add_argument("--tags", nargs="*", default=[], help="run tags")
    train.add_argument("--runs", default="runs", help="run store folder (default: runs)")
    train.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    test = commands.add_parser("test", help="evaluate a checkpoint on the MNIST test set")
    test.add_argument("--checkpoint", required=True)
    test.add_argument("--batch-size", type=int, default=1000)
    test.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    test.add_argument("--show-samples", type=int, default=10)
    listing = commands.add_parser("runs", help="list the runs in a store")
    listing.add_argument("--runs", default="runs")
    worker = commands.add_parser("worker", help="run queued runs (started by the dashboard)")
    worker.add_argument("--runs", default="runs")
    worker.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    return parser


class ProgressBar:
    """One line that redraws: epoch, batch, loss, accuracy, throughput and ETA."""

    def __init__(self, config: RunConfig, out: TextIO = sys.stderr):
        self.config, self.out, self.last_draw, self.steps_per_epoch = config, out, 0.0, 0

    def update(self, event: Event) -> None:
        if isinstance(event, BatchEnded):
            self._draw_batch(event)
        elif isinstance(event, EpochEnded):
            self.steps_per_epoch = event.step // event.epoch
            val = f" val_loss {event.val_loss:.4f} val_acc {event.val_accuracy:.2%}" if event.val_loss is not None else ""
            best = " (best)" if event.is_best else ""
            print(f"\repoch {event.epoch}/{self.config.epochs} train_loss {event.train_loss:.4f} "
                  f"train_acc {event.train_accuracy:.2%}{val} {event.seconds:.1f}s{best}" + " " * 10,
                  file=self.out, flush=True)
        elif isinstance(event, RunEnded):
            print(f"\rrun ended: {event.reason}{' - ' + event.message if event.message else ''}" + " " * 40,
                  file=self.out, flush=True)

    def _draw_batch(self, event: BatchEnded) -> None:
        now = time.monotonic()
        if now - self.last_draw < 0.25 or not self.out.isatty():
            return
        self.last_draw = now
        per_epoch = self.steps_per_epoch or event.step
        done = (event.step - 1) % per_epoch + 1 if self.steps_per_epoch else event.step
        bar = "#" * int(20 * done / per_epoch) if self.steps_per_epoch else ""
        eta = ""
        if self.steps_per_epoch:
            left = self.config.epochs * per_epoch - event.step
            eta = f" ETA {left * self.config.batch_size / max(event.samples_per_s, 1e-9):.0f}s"
        print(f"\repoch {event.epoch}/{self.config.epochs} [{bar:<20}] step {event.step} loss {event.loss:.4f} "
              f"acc {event.accuracy:.2%} {event.samples_per_s:,.0f} samples/s{eta}   ",
              end="", file=self.out, flush=True)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)}
    return RunConfig(**values)


def command_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    store = RunStore(args.runs)
    run_id = store.create_run(config, name=args.name, tags=args.tags)
    print(f"run {run_id} in {store.root}", flush=True)
    # Ctrl-C asks for a stop: the run ends cleanly with its checkpoints
    signal.signal(signal.SIGINT, lambda *_: store.request_stop(run_id))
    status = execute_run(store, run_id, args.data_dir, on_event=ProgressBar(config).update)
    run = store.get_run(run_id)
    print(f"status: {status}{' - ' + run.message if run.message else ''}")
    for key in ("best_epoch", "best_val_accuracy", "test_accuracy", "test_loss"):
        if run.summary.get(key) is not None:
            print(f"{key}: {run.summary[key]:.4f}" if isinstance(run.summary[key], float)
                  else f"{key}: {run.summary[key]}")
    best = store.checkpoint_path(run_id, "best")
    if best.exists():
        print(f"best checkpoint: {best}")
    return 0 if status in ("finished", "stopped") else 1


def command_test(args: argparse.Namespace) -> int:
    model, config, checkpoint = load_model(args.checkpoint)
    arrays = load_arrays(config.dataset, args.data_dir)
    test = build_datasets(arrays, 0, config.seed).test
    result = evaluate(model, test, batch_size=args.batch_size)
    print(f"checkpoint: {args.checkpoint} (model {config.model}, epoch {checkpoint['epoch']})")
    print(f"test loss {result.loss:.4f}, accuracy {result.accuracy:.2%} "
          f"({round(result.accuracy * len(test))}/{len(test)})")
    print("per-class accuracy:")
    for digit, accuracy in enumerate(result.per_class_accuracy):
        print(f"  {digit}: {accuracy:.2%}")
    if args.show_samples:
        _print_samples(model, test, args.show_samples)
    return 0


def _print_samples(model, test, count: int) -> None:
    with torch.no_grad():
        probs = model(test.images[:count]).softmax(1)
    print(f"first {count} test images:")
    for i, (p, label) in enumerate(zip(probs, test.labels[:count].tolist())):
        predicted = int(p.argmax())
        mark = "ok" if predicted == label else "WRONG"
        print(f"  #{i}: true {label}, predicted {predicted} ({float(p[predicted]):.1%}) {mark}")


def command_runs(args: argparse.Namespace) -> int:
    for run in RunStore(args.runs).list_runs():
        test = run.summary.get("test_accuracy")
        print(f"{run.id}  {run.status:<11} {run.config['model']:<8} "
              f"{'' if test is None else f'{test:.2%}':>7}  {run.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"train": command_train, "test": command_test, "runs": command_runs,
                "worker": lambda a: drain_queue(RunStore(a.runs), a.data_dir) or 0}
    try:
        return commands[args.command](args)
    except (ConfigError, CheckpointError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
