"""`python -m core export tensorboard|onnx`: runs as TensorBoard event files, a checkpoint as ONNX."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from core.cli.paths import RUN_IDS_HELP, add_runs_argument, writable_file, writable_folder
from core.cli.runs import CHECKPOINT_HELP, checkpoint_file, existing_store
from core.labs.onnx_export import TOLERANCE, export_checkpoint
from core.labs.tensorboard import export_runs
from core.runs.store import RunNotFound


def register(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export runs to TensorBoard, or a checkpoint to ONNX")
    formats = export.add_subparsers(dest="format", required=True)
    tensorboard = formats.add_parser("tensorboard", help="write runs' metrics as TensorBoard event files, "
                                     "one folder per run (open with `tensorboard --logdir DIR`)")
    tensorboard.add_argument("run_ids", nargs="+", metavar="RUN_ID", help=RUN_IDS_HELP)
    tensorboard.add_argument("--out", required=True, metavar="DIR", help="the folder to write into, a folder per run")
    add_runs_argument(tensorboard)
    tensorboard.set_defaults(handler=command_tensorboard)
    onnx = formats.add_parser("onnx", help="export a checkpoint's model to ONNX, checked with onnxruntime")
    onnx.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    onnx.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    onnx.add_argument("--runs", default=None, help="the run store that holds a run given by its id (default: "
                      "$MNIST_RUNS_DIR, else ./runs)")
    onnx.set_defaults(handler=command_onnx)


def command_tensorboard(args: argparse.Namespace) -> int:
    store = existing_store(args.runs)
    run_ids = list(dict.fromkeys(args.run_ids))  # a run given twice is written once
    try:
        for run_id in run_ids:  # every id is checked before anything is written
            store.get_run(run_id)
    except RunNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    folders = export_runs(store, run_ids, writable_folder(args.out, "TensorBoard files"))
    for folder in folders:
        print(folder)
    print(f"open them with: tensorboard --logdir {shlex.quote(str(Path(args.out)))}")  # a folder with spaces too
    return 0


def command_onnx(args: argparse.Namespace) -> int:
    checkpoint = checkpoint_file(args.checkpoint, args.runs)
    difference, inferred = export_checkpoint(checkpoint, writable_file(args.out, "the ONNX model"))
    if inferred:
        print(f"note: {inferred}")
    print(f"wrote {args.out} from {checkpoint}: onnxruntime matches torch on a batch of 32 to {difference:.2g} "
          f"(allowed: {TOLERANCE:g})")
    return 0
