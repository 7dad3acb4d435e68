"""A trial as a Ray streaming-generator task: run_trial on a cluster node, its items streamed back in batches.

Only sweeps with the ray executor import this module (and Ray). The driver records the items beside
the store as the local worker does; a stop request reaches the task through a small flags actor that
the task polls, so a stopped trial still ends cleanly with its last checkpoint and its test evaluation.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import ray
import ray.exceptions

from core.config import RunConfig
from core.runs.trial import BatchEnded, TrialInterrupted, TrialItem, run_trial
from core.sweeps.executors import RayUnreachable, check_reachable
from core.training.data import DEFAULT_DATA_DIR  # on a node, the MNIST shipped with the code

REPO_ROOT = Path(__file__).resolve().parents[2]
CHUNK_S = 0.2  # items wait at most this long on the remote side before they cross the network
CHUNK_ITEMS = 512
STOP_POLL_S = 0.25  # how often a task asks whether its trial was told to stop
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024  # Ray's default is 30% of RAM (ray#34613)
# shipped to a cluster with each trial: the code and the shipped MNIST, not the store or the history
SHIPPED_CODE = {"working_dir": str(REPO_ROOT),
                "excludes": ["/.git", "/runs", "/test-artifacts", "__pycache__", ".pytest_cache", "*.journal"]}


def connect(address: str) -> bool:
    """Join the cluster at address, or start a Ray instance on this machine; True if this call started Ray."""
    if ray.is_initialized():
        return False  # this process joined already (a test session's instance, say)
    if address:
        check_reachable(address)
        try:
            # the code travels at the job level: Ray packs a folder only there, once for the whole sweep
            ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env=SHIPPED_CODE)
        except ConnectionError as err:
            raise RayUnreachable(f"Ray is not reachable at {address}: {str(err).splitlines()[0]}") from None
    else:
        # "local": a new instance, even where `ray start` left a cluster address behind
        ray.init(address="local", num_cpus=os.cpu_count(), object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 include_dashboard=False, log_to_driver=False)
    return True


def disconnect(started: bool) -> None:
    if started and ray.is_initialized():
        ray.shutdown()


@ray.remote(num_cpus=0)
class StopFlags:
    """The run ids whose trials were told to stop; tasks ask it every STOP_POLL_S."""

    def __init__(self) -> None:
        self.stopped: set[str] = set()

    def stop(self, run_id: str) -> None:
        self.stopped.add(run_id)

    def is_stopped(self, run_id: str) -> bool:
        return run_id in self.stopped


def new_stop_flags():
    return StopFlags.remote()


def flag_poller(flags, run_id: str) -> Callable[[], bool]:
    """should_stop for run_trial: asks the flags actor at most every STOP_POLL_S, remembers a yes."""
    state = {"asked": 0.0, "stop": False}

    def should_stop() -> bool:
        now = time.monotonic()
        if not state["stop"] and now - state["asked"] >= STOP_POLL_S:
            state["asked"] = now
            state["stop"] = ray.get(flags.is_stopped.remote(run_id))
        return state["stop"]

    return should_stop


def chunked(items: Iterator[TrialItem]) -> Iterator[list[TrialItem]]:
    """Items in lists: batch events gathered up to CHUNK_S or CHUNK_ITEMS; anything else sent at once."""
    chunk: list[TrialItem] = []
    started = time.monotonic()
    for item in items:
        chunk.append(item)
        if (not isinstance(item, BatchEnded) or len(chunk) >= CHUNK_ITEMS
                or time.monotonic() - started >= CHUNK_S):
            yield chunk
            chunk, started = [], time.monotonic()
    if chunk:
        yield chunk


@ray.remote(num_returns="streaming", max_retries=0)
def remote_trial(config: dict, data_dir: str | None, flags, run_id: str, trial=run_trial):
    """Runs on a cluster node: the trial's items, in lists."""
    items = trial(RunConfig.from_dict(config), data_dir or DEFAULT_DATA_DIR, should_stop=flag_poller(flags, run_id))
    yield from chunked(items)


def task_options(cpus: float, shipped: bool) -> dict:
    """On a cluster the job ships the code (and MNIST); on this machine each task finds the repo on its path."""
    return {"num_cpus": cpus} | ({} if shipped else {"runtime_env": {"env_vars": {"PYTHONPATH": str(REPO_ROOT)}}})


class RaySource:
    """A TrialSource for execute_run: starts the remote task and yields its items as they stream back."""

    def __init__(self, flags, run_id: str, cpus: float, data_dir: Path | str | None, shipped: bool = False,
                 trial=run_trial):
        self.flags, self.run_id, self.cpus, self.shipped, self.trial = flags, run_id, cpus, shipped, trial
        self.data_dir = None if data_dir is None else str(data_dir)

    def __call__(self, config: RunConfig, data_dir: object = None, should_stop: Callable[[], bool] | None = None,
                 tables_dir: object = None, origin: object = None) -> Iterator[TrialItem]:
        if origin is not None:  # a sweep's trials start afresh; resuming one is refused before it is queued
            raise ValueError("a resumed or forked run trains on this machine, not on Ray")
        if config.dataset == "csv":  # its table is kept in the driver's run store, which nodes do not see
            raise ValueError("dataset: a CSV table stays in this machine's run store; run its sweep with the "
                             "local executor")
        task = remote_trial.options(**task_options(self.cpus, self.shipped))
        refs = task.remote(config.to_dict(), self.data_dir, self.flags, self.run_id, self.trial)
        told = False
        for ref in refs:
            yield from self._get(ref)
            if not told and should_stop is not None and should_stop():
                self.flags.stop.remote(self.run_id)  # the recorder saw a stop request: pass it on
                told = True

    @staticmethod
    def _get(ref) -> list[TrialItem]:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # the trial raised: fail the run with its own error
            cause = err.cause
            raise (cause if isinstance(cause, Exception) else RuntimeError(str(err).splitlines()[0])) from None
        except ray.exceptions.RayError as err:  # the worker, its node or the objects are gone
            raise TrialInterrupted(f"the Ray worker running this trial died ({type(err).__name__}: "
                                   f"{str(err).splitlines()[0] if str(err) else ''})") from None
