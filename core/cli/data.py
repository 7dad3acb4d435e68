"""`python -m core download-mnist`: the only way this app reaches the network, and only when asked."""
from __future__ import annotations

import argparse

from core.training.data import DEFAULT_DATA_DIR, download_mnist


def register(commands: argparse._SubParsersAction) -> None:
    download = commands.add_parser("download-mnist", help="download the MNIST files over https (they ship "
                                   "in data/mnist; this is for a copy that lost them)")
    download.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                          help="the folder to put MNIST's four .gz files in (default: data/mnist)")
    download.set_defaults(handler=command_download)


def command_download(args: argparse.Namespace) -> int:
    fetched = download_mnist(args.data_dir)
    print(f"downloaded {len(fetched)} file(s) into {args.data_dir}; all four MNIST files check out")
    return 0
