"""Start detached `python -m core ...` processes (workers, sweep drivers, evaluations) that outlive
whoever started them, with their output appended to a log.

A new interpreter spends seconds importing torch before it does anything (4 s on a slow 2-core VM),
so a process that starts many of them (the app server, a sweep driver, the test session) can turn
on the fork server: multiprocessing's forkserver with torch imported once, which forks each new
process with torch already loaded: `python -m core presets` printed in 0.3-0.4 s instead of 3.5 s
here. Such a process runs in a session of its own, as the plain `subprocess` start makes it, and
whoever started it does not wait for it at exit; the fork server lives on until the last of them
ends, and reaps each. Only third-party modules are preloaded, so a process still reads this
project's code, and its settings from the environment, as they are when it starts.
"""
from __future__ import annotations

import functools
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from multiprocessing import forkserver
from multiprocessing import spawn as mp_spawn
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
# imported once by the fork server; what a worker imports besides these is cheap
PRELOAD = ("torch", "torch._dynamo", "numpy", "psutil", "setproctitle")
# the multiprocessing name of the processes started here (see _without_main)
CHILD_NAME = "mnist-lab detached process"
_fork_server_on = False
_fork_server_failed = False  # once it failed, it stays off in this process
_starting = threading.Lock()


def use_fork_server(preload: Iterable[str] = ()) -> bool:
    """Start processes through a fork server from now on (started here, in the background);
    False where the system has none or MNIST_FORK_SERVER=0 turns it off.

    `preload`: more modules to import once.
    """
    global _fork_server_on
    if (_fork_server_failed or os.environ.get("MNIST_FORK_SERVER", "1") == "0"
            or "forkserver" not in multiprocessing.get_all_start_methods()):
        return False
    if not _fork_server_on:
        mp_spawn.get_preparation_data = _without_main(mp_spawn.get_preparation_data)
        multiprocessing.get_context("forkserver").set_forkserver_preload([*PRELOAD, *preload])
        try:
            forkserver.ensure_running()  # spawns the server and returns; it imports meanwhile
        except OSError as err:
            _turn_off_fork_server(f"{type(err).__name__}: {err}")
            return False
        _fork_server_on = True
    return True


def _without_main(get_preparation_data: Callable[[str], dict]) -> Callable[[str], dict]:
    """multiprocessing has each child import its starter's main module again; ours must not: in the
    app that is the Streamlit page being run (Streamlit makes it __main__), in tests the test runner."""

    @functools.wraps(get_preparation_data)
    def preparation_data(name: str) -> dict:
        data = get_preparation_data(name)
        if name == CHILD_NAME:
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
        return data

    return preparation_data


def spawn(args: list[str], log_path: Path) -> int:
    """Start `python -m core ARGS` detached, appending its output to log_path; returns its pid.

    Raises OSError where no process could be started (log_path not writable, no process left).
    """
    open(log_path, "ab").close()  # an unwritable log fails here, in the caller, with its reason
    if _fork_server_on:
        try:
            return _spawn_forked(args, log_path)
        except (OSError, EOFError) as err:  # a broken fork server: the plain way from now on
            _turn_off_fork_server(f"{type(err).__name__}: {err}")
    return _spawn_interpreter(args, log_path)


def _turn_off_fork_server(reason: str) -> None:
    global _fork_server_on, _fork_server_failed
    _fork_server_on, _fork_server_failed = False, True
    print(f"the fork server failed ({reason}); processes start as new interpreters from now on",
          file=sys.stderr, flush=True)


def _spawn_interpreter(args: list[str], log_path: Path) -> int:
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "core", *args], cwd=REPO_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   # its own session: a rerun or restart of the app does not kill it
                                   start_new_session=True)
    return process.pid  # subprocess reaps it once it ends and this Popen is gone


def _spawn_forked(args: list[str], log_path: Path) -> int:
    context = multiprocessing.get_context("forkserver")
    child = context.Process(target=_run_detached, args=(args, dict(os.environ), str(log_path)), name=CHILD_NAME)
    with _starting:  # Streamlit's script threads may start two at once; a restarted server swaps its pipes
        child.start()  # the first one waits for the fork server's imports
    # detached: this process's exit does not wait for it (the fork server reaps it when it ends)
    multiprocessing.process._children.discard(child)
    return child.pid


def _run_detached(args: list[str], env: dict[str, str], log_path: str) -> None:
    """In the fork server's child: become `python -m core ARGS` as started now, here."""
    _redirect_output(log_path)  # first: whatever fails from here on is told in the log
    _show_command(args)
    os.setsid()  # a Ctrl-C or restart of whoever started it does not reach it
    # multiprocessing's temporary folder is its starter's, removed when that one exits; a fork server
    # this process starts (a sweep driver's) needs one of its own
    multiprocessing.process.current_process()._config.pop("tempdir", None)
    multiprocessing.set_start_method(None, force=True)  # the platform's default, as in a new interpreter
    threads_at_fork = os.environ.get("OMP_NUM_THREADS")
    os.environ.clear()
    os.environ.update(env)
    _match_thread_count(threads_at_fork, env.get("OMP_NUM_THREADS"))
    os.chdir(REPO_ROOT)
    sys.path.insert(0, str(REPO_ROOT))
    sys.argv = [str(REPO_ROOT / "core" / "__main__.py"), *args]
    from core.cli import main

    sys.exit(main(args))


def still_running(pid: int, since: float, command: str) -> bool:
    """Whether the process this module started as `python -m core COMMAND ...` with this pid, at or before
    the wall time `since`, still runs (and is not a zombie)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        # a pid reused by a process started later is not ours; but a wall clock stepped forward (a paused VM
        # resumed, an NTP step) makes ours look started later too, so then its command line decides
        return process.create_time() <= since + 1.0 or f" -m core {command}" in " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _show_command(args: list[str]) -> None:
    """`ps` (and whoever looks for workers) sees the command, not the fork server's."""
    try:
        import setproctitle
    except ImportError:  # an environment installed before it was required: the title is all it costs
        return
    setproctitle.setproctitle(" ".join([sys.executable, "-m", "core", *args]))


def _redirect_output(log_path: str) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (log, 1), (log, 2)):
        os.dup2(source, target)
    os.close(log)
    os.close(null)
    sys.stdout.reconfigure(line_buffering=True)  # a log is read while it is written
    sys.stderr.reconfigure(line_buffering=True)


def _match_thread_count(at_fork: str | None, wanted: str | None) -> None:
    """torch read OMP_NUM_THREADS when the fork server imported it; follow the caller's setting."""
    if wanted == at_fork:
        return
    import torch

    if wanted and wanted.isdigit() and int(wanted) > 0:
        torch.set_num_threads(int(wanted))
    else:
        import psutil

        torch.set_num_threads(psutil.cpu_count(logical=False) or os.cpu_count() or 1)
