"""Where a well-kept library replaced a hand-written part: same results, and what each costs.

    python -m benchmarks.library_swaps

Smoothing: the hand-written debiased EMA (kept here as the reference) against pandas' ewm(adjust=True),
now used by core.runs.series.smooth_ema. Liveness: reading /proc by hand (Linux only) against psutil,
now used by core.runs.supervisor.worker_alive. Progress: the CLI's old hand-drawn line against tqdm,
per training step, as `python -m core train` draws it on a terminal. Fastest of several repeats.
"""
from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.config import RunConfig
from core.runs.records import Environment, Run, RunSummary
from core.runs.series import smooth_ema
from core.runs.supervisor import worker_alive
from core.status import RunStatus
from core.training.events import BatchEnded


def hand_ema(values: np.ndarray, weight: float) -> np.ndarray:
    """The EMA as it was written here before: a Python loop over floats."""
    smoothed, last, count = [], 0.0, 0
    for value in values.tolist():
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        last = last * weight + (1.0 - weight) * value
        count += 1
        smoothed.append(last / (1.0 - weight ** count))
    return np.array(smoothed)


def proc_alive(pid: int) -> bool:
    """Process liveness as it was written here before: a signal 0, then /proc/<pid>/stat."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def fastest(action: Callable[[], object], repeats: int = 7) -> float:
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def smoothing() -> None:
    rng = np.random.default_rng(0)
    print("smoothing (weight 0.9; non-finite points kept as they are):")
    for n in (1_000, 17_227, 100_000):
        values = rng.random(n)
        values[::997], values[5] = np.nan, np.inf
        reference, ours = hand_ema(values, 0.9), smooth_ema(values, 0.9)
        same = np.array_equal(np.isfinite(reference), np.isfinite(ours))
        with np.errstate(invalid="ignore"):
            gap = float(np.max(np.abs(np.where(np.isfinite(reference), reference - ours, 0.0))))
        hand = fastest(lambda values=values: hand_ema(values, 0.9))
        pandas = fastest(lambda values=values: smooth_ema(values, 0.9))
        print(f"  {n:>7,} points: hand loop {hand * 1e3:7.2f} ms, pandas ewm {pandas * 1e3:6.2f} ms "
              f"({hand / pandas:4.1f}x); largest difference {gap:.1e}; same gaps: {same}")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class HandDrawnBar:
    """The CLI's progress line as it was written here before (redrawn at most every 0.25 s)."""

    def __init__(self, config: RunConfig, out: io.StringIO):
        self.config, self.out, self.last_draw, self.steps_per_epoch = config, out, 0.0, 860

    def update(self, event: BatchEnded) -> None:
        now = time.monotonic()
        if now - self.last_draw < 0.25 or not self.out.isatty():
            return
        self.last_draw = now
        per_epoch = self.steps_per_epoch
        done = (event.step - 1) % per_epoch + 1
        bar = "#" * int(20 * done / per_epoch)
        left = self.config.epochs * per_epoch - event.step
        eta = f" ETA {left * self.config.batch_size / max(event.samples_per_s, 1e-9):.0f}s"
        print(f"\repoch {event.epoch}/{self.config.epochs} [{bar:<20}] step {event.step} loss {event.loss:.4f} "
              f"acc {event.accuracy:.2%} {event.samples_per_s:,.0f} samples/s{eta}   ",
              end="", file=self.out, flush=True)


def progress() -> None:
    from core.cli.train import ProgressBar

    config = RunConfig(model="mlp", epochs=1)
    events = [BatchEnded(step, 1, 0.5, 0.9, 1e-3, 40_000.0) for step in range(1, 5_001)]

    def draw_all(make: Callable[[], object]) -> None:
        bar = make()
        for event in events:
            bar.update(event)

    hand = fastest(lambda: draw_all(lambda: HandDrawnBar(config, _Terminal())), repeats=3) / len(events)
    ours = fastest(lambda: draw_all(lambda: ProgressBar(config, out=_Terminal())), repeats=3) / len(events)
    print(f"progress line per training step on a terminal: hand-drawn {hand * 1e6:.2f} us, tqdm with the "
          f"shared progress and ETA {ours * 1e6:.2f} us (an MLP step at batch 64 takes about 1,300 us)")


def liveness() -> None:
    run = Run(id="x", name="x", config=RunConfig(), config_error=None, status=RunStatus.RUNNING,
              created_at=time.time(), started_at=time.time(), ended_at=None, environment=Environment(),
              tags=(), notes="", summary=RunSummary(), message="", pid=os.getpid(), heartbeat_at=time.time(),
              stop_requested=False)
    calls = 2_000
    by_proc = fastest(lambda: [proc_alive(os.getpid()) for _ in range(calls)]) / calls
    by_psutil = fastest(lambda: [worker_alive(run) for _ in range(calls)]) / calls
    print(f"liveness of one worker: /proc by hand {by_proc * 1e6:.1f} us, psutil with the pid-reuse check "
          f"{by_psutil * 1e6:.1f} us (checked at most every 5 s per process)")


if __name__ == "__main__":
    smoothing()
    liveness()
    progress()
