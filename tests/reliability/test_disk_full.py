"""Issue 6, case 7: the disk fills up while a checkpoint is written. The previous checkpoint is
intact and the run records the error.

The full disk is simulated for files opened in the runs folder: once the budget is spent, a
write stores what still fits and raises ENOSPC, as the kernel does; every later write there fails
at once. SQLite is not made to fail: a real full disk may refuse the status update too."""
from __future__ import annotations

import errno
import io
import os
from dataclasses import replace
from pathlib import Path

import pytest
from reliability_helpers import train_loss_steps

from core.runs.supervisor import execute_run
from core.training.checkpoints import load_model


class FullDisk:
    """Room for the first `files_that_fit` files written under `root`, then `partial` bytes more."""

    def __init__(self, root: Path, files_that_fit: int, partial: int):
        self.root, self.files_left, self.bytes_left = root, files_that_fit, partial
        self.real_fdopen, self.real_open = os.fdopen, io.open

    def inside(self, path: str | os.PathLike) -> bool:
        return Path(os.path.abspath(path)).is_relative_to(self.root)

    def wrap(self, file, path: str | os.PathLike, mode: str):
        if not self.inside(path) or not set(mode) & set("wax+"):
            return file
        if self.files_left > 0:
            self.files_left -= 1
            return file
        return _FillingFile(file, self)

    def fdopen(self, fd, mode="r", *args, **kwargs):
        return self.wrap(self.real_fdopen(fd, mode, *args, **kwargs), os.readlink(f"/proc/self/fd/{fd}"), mode)

    def open(self, file, mode="r", *args, **kwargs):
        opened = self.real_open(file, mode, *args, **kwargs)
        return opened if isinstance(file, int) else self.wrap(opened, file, mode)


class _FillingFile:
    """A file on the full disk: writes past the budget are cut short with ENOSPC."""

    def __init__(self, file, disk: FullDisk):
        self._file, self._disk = file, disk

    def write(self, data):
        size = len(data.encode()) if isinstance(data, str) else memoryview(data).nbytes
        if size <= self._disk.bytes_left:
            self._disk.bytes_left -= size
            return self._file.write(data)
        fits, self._disk.bytes_left = self._disk.bytes_left, 0
        if fits and not isinstance(data, str):
            self._file.write(memoryview(data).cast("B")[:fits])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def __getattr__(self, name):
        return getattr(self._file, name)


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one_and_fails_the_run_with_the_reason(
        store, tiny_config, monkeypatch):
    config = replace(tiny_config, epochs=3)
    run_id = store.create_run(config)
    # epoch_001.pt and best.pt fit; epoch_002.pt runs out of room 64 KiB in
    disk = FullDisk(store.root, files_that_fit=2, partial=64 * 1024)
    monkeypatch.setattr(os, "fdopen", disk.fdopen)
    monkeypatch.setattr(io, "open", disk.open)
    best_before = []
    monkeypatch.setattr(store, "record_metrics", _noting_best(store, run_id, best_before))

    assert execute_run(store, run_id) == "failed"

    run = store.get_run(run_id)
    assert run.status == "failed"
    assert run.message == ("CheckpointWriteError: could not write checkpoint epoch_002.pt: [Errno 28] "
                           "No space left on device; the previous checkpoint is intact")
    folder = store.run_dir(run_id)
    assert checkpoint_files(folder) == ["best.pt", "epoch_001.pt"]  # no partial or temporary file left
    assert store.checkpoint_path(run_id, "best").read_bytes() == best_before[-1]
    for name in ("best.pt", "epoch_001.pt"):
        _model, saved_config, checkpoint = load_model(folder / name)
        assert saved_config == config and checkpoint["epoch"] == 1
    # epoch 2's batches up to the failed save are kept; its end (validation) is not, for an epoch's end
    # is recorded only after its checkpoint (which failed)
    metrics, _ = store.read_metrics(run_id)
    assert train_loss_steps(metrics) == list(range(1, 2 * 16 + 1))
    assert [m.epoch for m in metrics if m.split == "val" and m.name == "loss"] == [1]


def checkpoint_files(folder: Path) -> list[str]:
    """Everything in a run folder but the error log (created, though nothing fits in it) and run.json
    (written when the run was created, before the disk filled up)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in ("error.log", "run.json"))


def _noting_best(store, run_id: str, seen: list[bytes]):
    """Wrap the worker's flush to note best.pt's bytes at each one: what it held before the failure."""
    real = store.record_metrics

    def record_metrics(*args):
        best = store.checkpoint_path(run_id, "best")
        if best.exists():
            seen.append(best.read_bytes())
        return real(*args)
    return record_metrics


@pytest.mark.parametrize("files_that_fit", [0, 1])
def test_a_full_disk_from_the_first_checkpoint_on_is_recorded_too(store, tiny_config, monkeypatch, files_that_fit):
    run_id = store.create_run(tiny_config)
    disk = FullDisk(store.root, files_that_fit=files_that_fit, partial=0)
    monkeypatch.setattr(os, "fdopen", disk.fdopen)
    monkeypatch.setattr(io, "open", disk.open)
    assert execute_run(store, run_id) == "failed"
    run = store.get_run(run_id)
    failed_file = ["epoch_001.pt", "best.pt"][files_that_fit]
    assert run.status == "failed" and f"could not write checkpoint {failed_file}" in run.message
    assert "No space left on device" in run.message
    assert checkpoint_files(store.run_dir(run_id)) == ["epoch_001.pt"][:files_that_fit]
