"""Where a command writes, checked before anything starts: a bad path is one clear line, not a traceback
and a run left queued."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from core.runs.store import default_runs_dir
from core.training.data import DEFAULT_DATA_DIR, DataError


def writable_folder(path: str | Path, what: str) -> Path:
    """The folder, made if missing; DataError naming the path and the reason if it cannot hold files."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"cannot write {what} into {path}: it is a file; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot write {what} into {path}: {err.strerror or err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"cannot write {what} into {path}: permission denied")
    return folder


def writable_file(path: str | Path, what: str) -> Path:
    """A file path whose folder exists and can be written; DataError naming what is wrong otherwise."""
    file = Path(path)
    if file.is_dir():
        raise DataError(f"cannot write {what} to {path}: it is a folder; give a file name")
    if not file.parent.is_dir():
        raise DataError(f"cannot write {what} to {path}: the folder {file.parent} does not exist")
    if not os.access(file.parent, os.W_OK | os.X_OK):
        raise DataError(f"cannot write {what} to {path}: permission denied")
    return file


def add_runs_argument(parser: argparse.ArgumentParser) -> None:
    """--runs, the run store's folder: $MNIST_RUNS_DIR, as the app's, else ./runs."""
    parser.add_argument("--runs", default=default_runs_dir(),
                        help="the run store's folder (default: $MNIST_RUNS_DIR, else ./runs)")


RUN_IDS_HELP = "runs' ids, as `python -m core runs` lists them"


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """--data-dir, the folder of MNIST's four .gz files."""
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                        help="the folder with MNIST's four .gz files (default: the copy shipped in data/mnist)")
