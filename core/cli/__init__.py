"""Command line: `python -m core <command>`. The only place that prints."""
from __future__ import annotations

import argparse
import sys

from core.cli import compare, continuing, data, evaluate, export, insight, runs, sweep, train
from core.cli.runs import NoStore
from core.config import ConfigError
from core.labs.onnx_export import OnnxExportError
from core.names import InvalidText
from core.runs.continuation import CannotContinue
from core.runs.store import RunActive, RunNotFound
from core.runs.store_errors import StoreError
from core.training.checkpoints import CheckpointError
from core.training.data import DataError

# each module adds its subcommands
COMMANDS = (train, continuing, compare, evaluate, runs, export, sweep, data, insight)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Train and test MNIST models.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(commands)
    return parser


def exits_at_once(argv: list[str]) -> bool:
    """Whether the process may end without Python's teardown after this command line: `train` closes,
    writes and waits for everything it opens (the store, checkpoints, TensorBoard files) before it returns."""
    return bool(argv) and argv[0] == "train"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, CheckpointError, DataError, OnnxExportError, StoreError, CannotContinue, RunActive,
            NoStore, InvalidText) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RunNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
