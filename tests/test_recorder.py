import os

from core.runs import recorder as recording
from core.runs.recorder import Recorder, batch_metrics
from core.runs.records import Metric
from core.runs.store_errors import StoreBusy
from core.training.events import BatchEnded, EpochEnded


def test_a_batch_becomes_its_four_named_rows():
    # the names the charts and exports read, each with its own value: BatchEnded's fields line up with them
    assert batch_metrics(BatchEnded(7, 2, 0.5, 0.25, 1e-3, 900.0), 12.0) == [
        Metric(7, 2, "train", "loss", 0.5, 12.0), Metric(7, 2, "train", "accuracy", 0.25, 12.0),
        Metric(7, 2, "train", "lr", 1e-3, 12.0), Metric(7, 2, "train", "samples_per_s", 900.0, 12.0)]


def test_batches_after_rows_a_busy_store_held_back_are_stored_after_them(store, tiny_config, monkeypatch):
    run_id = store.create_run(tiny_config)
    store.claim(run_id, os.getpid())
    monkeypatch.setattr(recording, "FLUSH_INTERVAL_S", 3600.0)  # flushes only where the recorder must
    recorder, real = Recorder(store, run_id), store.record_metrics
    busy = iter([True])

    def record_metrics(*args):
        if next(busy, False):
            raise StoreBusy("another process holds the write lock")
        return real(*args)

    monkeypatch.setattr(store, "record_metrics", record_metrics)
    recorder.record(BatchEnded(1, 1, 0.9, 0.5, 0.1, 100.0))
    recorder.record(EpochEnded(1, 1, 0.9, 0.5, None, None, 0.1, True, 1.0))  # its flush finds the store busy
    recorder.record(BatchEnded(2, 2, 0.8, 0.6, 0.1, 100.0))
    recorder.flush()
    stored = [(row.step, row.name) for row in store.read_metrics(run_id)[0]]
    assert stored == [(1, "loss"), (1, "accuracy"), (1, "lr"), (1, "samples_per_s"), (1, "epoch_loss"),
                      (1, "epoch_accuracy"), (1, "epoch_seconds"), (2, "loss"), (2, "accuracy"), (2, "lr"),
                      (2, "samples_per_s")]


def test_a_running_run_shows_the_epochs_and_best_accuracy_it_has_reached(store, tiny_config):
    # its summary was written only at its end: the Runs and Sweeps tables and `runs` read 0 epochs until then
    from dataclasses import replace

    from core.runs.supervisor import execute_run

    run_id = store.create_run(replace(tiny_config, epochs=3))
    seen = []

    def at_each_epoch(item) -> None:  # called before the item is recorded: the epochs before it are
        if isinstance(item, EpochEnded):
            run = store.get_run(run_id)
            seen.append((run.status, run.summary.epochs_completed, run.summary.best_val_accuracy is not None))

    assert execute_run(store, run_id, on_item=at_each_epoch) == "finished"
    assert seen == [("running", 0, False), ("running", 1, True), ("running", 2, True)]
    assert store.get_run(run_id).summary.epochs_completed == 3
