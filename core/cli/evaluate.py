"""`python -m core test`: a checkpoint's accuracy on the test set, per class, and a few samples."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from core.cli.paths import add_data_dir_argument
from core.cli.runs import CHECKPOINT_HELP, checkpoint_file
from core.config import DIGITS, MAX_BATCH_SIZE, ConfigError, RunConfig, class_names
from core.runs.store import default_runs_dir
from core.training.checkpoints import load_model
from core.training.data import DataError, Split
from core.training.datasets import load_test_split
from core.training.evaluation import EVAL_BATCH, evaluate


def register(commands: argparse._SubParsersAction) -> None:
    test = commands.add_parser("test", help="evaluate a checkpoint on its test set (MNIST's, or its CSV's test rows)")
    test.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    test.add_argument("--runs", default=None, help="the run store that holds a run given by its id, and a CSV run's "
                      "table (default: the checkpoint's run store, two folders up, else $MNIST_RUNS_DIR or ./runs)")
    test.add_argument("--batch-size", type=int, default=EVAL_BATCH,
                      help=f"images or rows a forward pass takes at once (default: {EVAL_BATCH})")
    add_data_dir_argument(test)
    test.add_argument("--show-samples", type=int, default=10,
                      help="how many of the first test samples to list with their predictions (default: 10)")
    test.set_defaults(handler=command_test)


def check_counts(args: argparse.Namespace) -> None:
    """--batch-size from 1 to MAX_BATCH_SIZE, --show-samples from 0: one error line otherwise."""
    if not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        raise ConfigError("--batch-size", f"must be from 1 to {MAX_BATCH_SIZE}, got {args.batch_size}")
    if args.show_samples < 0:
        raise ConfigError("--show-samples", f"must be 0 or more, got {args.show_samples}")


def command_test(args: argparse.Namespace) -> int:
    check_counts(args)
    args.checkpoint = str(checkpoint_file(args.checkpoint, args.runs))
    model, config, checkpoint = load_model(args.checkpoint)
    test = test_split(config, args)
    result = evaluate(model, test, batch_size=args.batch_size)
    classes = class_names(config)
    print(f"checkpoint: {args.checkpoint} (model {config.model}, epoch {checkpoint['epoch']})")
    if checkpoint.get("inferred"):
        print(f"note: {checkpoint['inferred']}")
    print(f"test loss {result.loss:.4f}, accuracy {result.accuracy:.2%} "
          f"({round(result.accuracy * len(test))}/{len(test)})")
    print("per-class accuracy:")
    for name, accuracy in zip(classes, result.per_class_accuracy):
        print(f"  {name}: {accuracy:.2%}")
    if args.show_samples:
        print_samples(model, test, min(args.show_samples, len(test)), classes, sample_names(config, args))
    return 0


def sample_names(config: RunConfig, args: argparse.Namespace) -> list[str]:
    """How a test sample is named: an MNIST test image by its number, a table's row by its row in the file (from
    1 below the header, as the checks and the Runs page count them; it was its place in the test split)."""
    if config.csv is None:
        return [f"#{i}" for i in range(args.show_samples)]
    from core.training.tabular import test_row_numbers

    return [f"row {n}" for n in test_row_numbers(config.csv, table_store(args) / "tables")]


def test_split(config: RunConfig, args: argparse.Namespace) -> Split:
    """The checkpoint's test split; a CSV run's from the run store that keeps its table, named if it lacks it."""
    if config.csv is None:
        return load_test_split(config, args.data_dir)
    store_root = table_store(args)
    try:
        return load_test_split(config, args.data_dir, store_root / "tables")
    except DataError as err:
        hint = "" if args.runs else "; pass --runs with the run store the run was trained in"
        raise DataError(f"{err}{hint}") from None


def table_store(args: argparse.Namespace) -> Path:
    """--runs; else the checkpoint's own run store (two folders up), if it is one; else the default store."""
    if args.runs:
        return Path(args.runs)
    beside = Path(args.checkpoint).resolve().parents[1]
    return beside if (beside / "runs.db").exists() else Path(default_runs_dir())


def print_samples(model: torch.nn.Module, test: Split, count: int, classes: tuple[str, ...],
                  names: list[str]) -> None:
    with torch.no_grad():
        probs = model(test.images[:count]).softmax(1)
    print(f"first {count} test {'images' if classes == DIGITS else 'rows'}:")
    for name, p, label in zip(names, probs, test.labels[:count].tolist()):
        predicted = int(p.argmax())
        mark = "ok" if predicted == label else "WRONG"
        print(f"  {name}: true {classes[label]}, predicted {classes[predicted]} ({float(p[predicted]):.1%}) {mark}")
