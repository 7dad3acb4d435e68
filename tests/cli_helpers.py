"""Running `python -m core ...`: as a real process, or in this one (no interpreter start, no torch
import: about 4 s less on a 2-core machine) for the commands that end before anything trains."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

from core.cli import main

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, timeout: float = 600, threads: int | None = None) -> subprocess.CompletedProcess:
    """The real command, from the repository root; threads: torch's, where the session's one (conftest) is
    not what the test needs."""
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def cli_here(*args: str) -> subprocess.CompletedProcess:
    """The same command run by core.cli.main in this process, from the repository root, as the real
    one's terminal would see it (80 columns)."""
    out, err = io.StringIO(), io.StringIO()
    with (contextlib.chdir(REPO), mock.patch.dict(os.environ, {"COLUMNS": "80"}),
          contextlib.redirect_stdout(out), contextlib.redirect_stderr(err)):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse: --help, or a value it refuses
            code = exit_.code
    return subprocess.CompletedProcess(["python", "-m", "core", *args], code, out.getvalue(), err.getvalue())
