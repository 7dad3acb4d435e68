"""How long a detached `python -m core ...` process takes to do its first work: from the fork server
(core.runs.launcher, torch imported once) against a new interpreter.

    python -m benchmarks.process_start            # 5 starts each of `python -m core presets`

Each start is timed from the call to launcher.spawn until the command's output is in its log. The
fork server's own start (its imports) is paid once, before the first timed start, and reported apart.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from core.runs import launcher

DONE_TEXT = "fast-99"  # in `python -m core presets`'s output


def time_start(log: Path) -> float:
    log.write_text("")
    started = time.perf_counter()
    launcher.spawn(["presets"], log)
    while DONE_TEXT not in log.read_text():
        time.sleep(0.005)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    log = Path(tempfile.mkdtemp(prefix="process-start-")) / "out.log"
    assert launcher.use_fork_server(), "the fork server is off here (MNIST_FORK_SERVER=0, or no forkserver)"
    print(f"fork server's own start and first process: {time_start(log):.2f} s")
    forked = [time_start(log) for _ in range(args.starts)]
    launcher._fork_server_on = False  # the plain way: a new interpreter each time
    fresh = [time_start(log) for _ in range(args.starts)]
    for name, seconds in (("fork server", forked), ("new interpreter", fresh)):
        print(f"{name}: median {statistics.median(seconds):.2f} s, "
              f"range {min(seconds):.2f}-{max(seconds):.2f} s over {len(seconds)} starts")


if __name__ == "__main__":
    main()
