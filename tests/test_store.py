import os
import sqlite3
import sys
import threading
import time
from types import SimpleNamespace

import pytest
import torch

from core.config import RunConfig
from core.runs import supervisor
from core.runs.records import Environment, EvaluationNotRead, Metric, RunSummary, batch_row_metrics
from core.runs.store import BATCHES_PER_INSERT, METRIC_ROWS_PER_INSERT, RunActive, RunNotFound, RunStore
from core.status import RunStatus
from core.training import checkpoints
from core.training.checkpoints import CheckpointError, load_checkpoint, load_model, save_checkpoint
from core.training.evaluation import Evaluation, Misclassified
from core.training.models import build_model


def test_a_new_id_that_is_taken_in_the_index_or_on_disk_is_drawn_again(store, tiny_config, monkeypatch):
    # runs made in the same second differ only in 24 random bits: a repeat must not fail the store
    drawn = iter(["20261202-114301-aaaaaa", "20261202-114301-aaaaaa", "20261202-114301-bbbbbb",
                  "20261202-114301-cccccc"])
    monkeypatch.setattr("core.runs.store.new_run_id", lambda: next(drawn))
    first = store.create_run(tiny_config)
    (store.root / "20261202-114301-bbbbbb").mkdir()  # a folder not in the index (rebuild-index would find it)
    second = store.create_run(tiny_config)
    assert (first, second) == ("20261202-114301-aaaaaa", "20261202-114301-cccccc")
    assert {run.id for run in store.list_runs()} == {first, second}


def test_a_run_round_trips_through_the_store(store, tiny_config):
    run_id = store.create_run(tiny_config, name="first try", tags=["b", "a", "a"])
    run = store.get_run(run_id)
    assert (run.name, run.status, run.tags, run.config) == ("first try", "queued", ("a", "b"), tiny_config)
    assert isinstance(run.status, RunStatus) and run.config_error is None
    assert store.claim(run_id, os.getpid(), Environment(torch="x"))
    assert not store.claim(run_id, os.getpid())  # only a queued run can be claimed
    store.set_summary(run_id, RunSummary(RunStatus.FINISHED, test_accuracy=0.5))
    assert store.finish(run_id, RunStatus.FINISHED)
    assert not store.finish(run_id, RunStatus.INTERRUPTED)  # a final status is never overwritten
    run = store.get_run(run_id)
    assert run.status == "finished" and run.summary == RunSummary(RunStatus.FINISHED, test_accuracy=0.5)
    assert run.environment.torch == "x"
    assert run.ended_at >= run.started_at >= run.created_at
    assert [r.id for r in RunStore(store.root).list_runs()] == [run_id]


def test_the_database_is_in_wal_mode(store):
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_held_open_leaves_the_wal_to_grow_between_writes(store, tiny_config):
    run_id = store.create_run(tiny_config)
    wal = store.root / "runs.db-wal"
    store.add_metrics(run_id, [Metric(1, 1, "train", "loss", 2.3, time.time())])
    assert not wal.exists()  # the last connection to close checkpointed the WAL into runs.db
    with store.held_open():
        store.add_metrics(run_id, [Metric(2, 1, "train", "loss", 2.2, time.time())])
        assert wal.stat().st_size > 0  # a worker's flush is no checkpoint
        assert [m.step for m in store.read_metrics(run_id)[0]] == [1, 2]
    assert not wal.exists()


def test_metrics_are_read_by_cursor(store, tiny_config):
    run_id = store.create_run(tiny_config)
    store.add_metrics(run_id, [Metric(s, 1, "train", "loss", 1.0 / s, time.time()) for s in range(1, 4)])
    first, cursor = store.read_metrics(run_id)
    assert [m.step for m in first] == [1, 2, 3]
    assert store.read_metrics(run_id, after=cursor) == ([], cursor)
    store.add_metrics(run_id, [Metric(4, 1, "val", "accuracy", 0.9, time.time())])
    new, newer = store.read_metrics(run_id, after=cursor)
    assert [(m.step, m.split, m.name, m.value) for m in new] == [(4, "val", "accuracy", 0.9)] and newer > cursor


def test_metric_rows_are_read_by_cursor_as_plain_tuples_in_metric_order(store, tiny_config):
    run_id = store.create_run(tiny_config)
    points = [Metric(s, 1, "train", "loss", 1.0 / s, 100.0 + s) for s in range(1, 4)]
    store.add_metrics(run_id, points)
    rows, cursor = store.read_metric_rows(run_id)
    assert rows == [tuple(m) for m in points] and (rows, cursor) != ([], 0)
    assert store.read_metric_rows(run_id, after=cursor) == ([], cursor)
    assert store.read_metrics(run_id) == (points, cursor)


def test_rows_beyond_one_insert_statement_land_whole_and_in_order(store, tiny_config):
    run_id = store.create_run(tiny_config)
    store.claim(run_id, 1)
    count = 2 * METRIC_ROWS_PER_INSERT + 5  # two full statements and a short one
    points = [Metric(s, 1 + s // 100, "train", ("loss", "accuracy")[s % 2], None if s == 130 else s / 7, 100.0 + s)
              for s in range(count)]
    store.record_metrics(run_id, points[:METRIC_ROWS_PER_INSERT + 1])
    store.add_metrics(run_id, points[METRIC_ROWS_PER_INSERT + 1:])
    store.add_metrics(run_id, [])
    assert store.read_metrics(run_id)[0] == points


@pytest.mark.parametrize("count", [0, 1, BATCHES_PER_INSERT, 2 * BATCHES_PER_INSERT + 11])
def test_batch_rows_land_as_four_rows_each_in_order_and_before_the_other_rows(store, tiny_config, count):
    run_id = store.create_run(tiny_config)
    store.claim(run_id, 1)
    # whole statements, then 8 + 2 + 1 for the rest; a missing value (None) lands as one too
    batches = [(s, 1 + s // 20, s / 7, None if s == 5 else s / 9, 1e-3, 1e4 + s, 100.0 + s)
               for s in range(1, count + 1)]
    epoch_rows = [Metric(count, 3, "train", "epoch_loss", 0.25, 200.0), Metric(count, 3, "val", "loss", 0.5, 200.0)]
    assert store.record_metrics(run_id, epoch_rows, batches) is False
    assert store.read_metrics(run_id)[0] == [row for batch in batches for row in batch_row_metrics(batch)] + epoch_rows


def test_a_listing_without_evaluations_has_the_rest_and_refuses_to_guess_the_evaluation(store, tiny_config):
    run_id = store.create_run(tiny_config, name="tested", tags=["t"])
    evaluation = Evaluation(0.1, 0.9, [0.9] * 10, [[1] * 10 for _ in range(10)], [Misclassified(3, 1, 7, 0.8)])
    store.set_evaluation(run_id, evaluation)
    store.set_summary(run_id, RunSummary(RunStatus.FINISHED, test_accuracy=0.9))
    (full,), (listed,) = store.list_runs(), store.list_runs(evaluations=False)
    assert full.evaluation == evaluation and listed == full  # every other field the same
    with pytest.raises(EvaluationNotRead, match="get_run"):
        listed.evaluation  # noqa: B018 - reading it is the point
    assert store.get_run(run_id).evaluation == evaluation
    assert supervisor.list_runs(store, evaluations=False) == [listed]


def test_listed_runs_follow_their_stored_text_though_parsing_is_shared(store, tiny_config):
    first, second = store.create_run(tiny_config), store.create_run(tiny_config)
    store.set_summary(first, RunSummary(RunStatus.FINISHED, test_accuracy=0.5))
    runs = {run.id: run for run in store.list_runs(evaluations=False)}
    assert runs[first].config is runs[second].config  # the same settings text, parsed once
    assert runs[first].summary.test_accuracy == 0.5 and runs[second].summary.test_accuracy is None
    store.set_summary(first, RunSummary(RunStatus.FINISHED, test_accuracy=0.75))
    assert store.get_run(first).summary.test_accuracy == 0.75


def test_rename_tag_note_and_unknown_run(store, tiny_config):
    run_id = store.create_run(tiny_config)
    store.rename(run_id, "renamed")
    store.set_tags(run_id, [" cnn ", "", "fast"])
    store.set_notes(run_id, "a note")
    run = store.get_run(run_id)
    assert (run.name, run.tags, run.notes) == ("renamed", ("cnn", "fast"), "a note")
    with pytest.raises(RunNotFound):
        store.get_run("nope")
    with pytest.raises(RunNotFound):
        store.rename("nope", "x")


def test_stop_requests_have_defined_outcomes(store, tiny_config):
    queued = store.create_run(tiny_config)
    assert store.request_stop(queued) == "cancelled"
    assert store.get_run(queued).status == "stopped"
    running = store.create_run(tiny_config)
    store.claim(running, os.getpid())
    assert store.record_metrics(running, []) is False  # a worker's flush tells it whether to stop
    assert store.request_stop(running) == "requested"
    assert store.request_stop(running) == "requested"  # twice is the same as once
    assert store.stop_requested(running)
    assert store.record_metrics(running, [Metric(1, 1, "train", "loss", 0.5, 1.0)]) is True
    store.finish(running, "stopped")
    assert store.request_stop(running) == "not active"


def test_delete_removes_rows_and_files_but_refuses_an_active_run(store, tiny_config):
    run_id = store.create_run(tiny_config)
    store.claim(run_id, os.getpid())
    with pytest.raises(RunActive, match="stop it before deleting"):
        store.delete_run(run_id)
    store.finish(run_id, "stopped")
    store.add_metrics(run_id, [Metric(1, 1, "train", "loss", 1.0, time.time())])
    (store.run_dir(run_id) / "best.pt").write_bytes(b"x")
    store.delete_run(run_id)
    assert not store.run_dir(run_id).exists()
    assert store.list_runs() == []
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 0


def test_a_run_whose_worker_is_gone_is_marked_interrupted(store, tiny_config):
    run_id = store.create_run(tiny_config)
    dead_pid = os.fork()
    if dead_pid == 0:
        os._exit(0)
    os.waitpid(dead_pid, 0)
    store.claim(run_id, dead_pid)
    assert store.get_run(run_id).status == "running"  # reading the store changes nothing
    assert supervisor.check_liveness(store, force=True) == [run_id]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and "worker process ended" in run.message


def test_a_pid_reused_by_a_newer_process_is_not_taken_for_the_worker(store, tiny_config):
    run_id = store.create_run(tiny_config)
    store.claim(run_id, os.getpid())
    with sqlite3.connect(store.db_path) as db:  # as if this process had started after the run began
        db.execute("UPDATE runs SET started_at = started_at - 3600, heartbeat_at = heartbeat_at - 3600")
    assert supervisor.check_liveness(store, force=True) == [run_id]


def test_liveness_is_checked_at_a_bounded_rate(store, tiny_config, monkeypatch):
    calls = []
    monkeypatch.setattr(supervisor, "worker_alive", lambda run: calls.append(run.id) or True)
    clock = [1000.0]  # the supervisor's clock, moved by hand: however slowly this test runs
    monkeypatch.setattr(supervisor, "time", SimpleNamespace(monotonic=lambda: clock[0], time=time.time))
    store.claim(store.create_run(tiny_config), os.getpid())
    supervisor.check_liveness(store, force=True)
    for _ in range(20):
        supervisor.list_runs(store)
        clock[0] += supervisor.LIVENESS_INTERVAL_S / 40
    assert len(calls) == 1  # 20 listings within half the interval: no second check
    clock[0] += supervisor.LIVENESS_INTERVAL_S / 2
    supervisor.list_runs(store)
    assert len(calls) == 2  # the interval has passed: checked again


def test_a_silent_but_living_worker_is_not_responding_not_interrupted(store, tiny_config, monkeypatch):
    run_id = store.create_run(tiny_config)
    store.claim(run_id, os.getpid())
    assert not supervisor.not_responding(store.get_run(run_id))
    monkeypatch.setattr(supervisor, "HEARTBEAT_TIMEOUT_S", -1.0)
    assert supervisor.check_liveness(store, force=True) == []
    run = store.get_run(run_id)
    assert run.status == "running" and supervisor.not_responding(run)


def test_run_folders_stay_inside_the_store(store):
    with pytest.raises(ValueError):
        store.run_dir("../outside")
    with pytest.raises(ValueError):
        store.run_dir("a/b")


def test_a_checkpoint_round_trips_with_the_model_that_wrote_it(tmp_path, tiny_config):
    model = build_model(tiny_config)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    optimizer.step()
    path = tmp_path / "best.pt"
    save_checkpoint(path, model, optimizer, tiny_config, epoch=3, loss=0.25, accuracy=0.9)
    loaded, config, data = load_model(path)
    assert config == tiny_config and (data["epoch"], data["loss"], data["accuracy"]) == (3, 0.25, 0.9)
    assert set(data["optimizer_state_dict"]) == {"state", "param_groups"}
    images = torch.randn(4, 1, 28, 28)
    assert torch.equal(loaded(images), model.eval()(images))
    assert not loaded.training


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, tiny_config, monkeypatch):
    model = build_model(tiny_config)
    path = tmp_path / "best.pt"
    save_checkpoint(path, model, None, tiny_config, 1, 0.5, 0.8)
    before = path.read_bytes()

    def disk_full(obj, f):
        f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, model, None, tiny_config, 2, 0.4, 0.9)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left behind


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/should-not-exist",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, tiny_config):
    marker = "/tmp/should-not-exist"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {}, "config": tiny_config.to_dict(), "epoch": 1, "x": Exploit()}, path)
    with pytest.raises(CheckpointError, match="would run code"):
        load_checkpoint(path)
    assert not os.path.exists(marker)


def test_truncated_corrupt_and_missing_checkpoints_are_refused(tmp_path, tiny_config):
    model = build_model(tiny_config)
    good = tmp_path / "good.pt"
    save_checkpoint(good, model, None, tiny_config, 1, 0.5, 0.8)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(2048))
    for path in (truncated, garbage):
        with pytest.raises(CheckpointError, match="corrupt or truncated"):
            load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(1)}, plain)
    with pytest.raises(CheckpointError, match="holds weights but no settings \\(config\\), and they are neither"):
        load_checkpoint(plain)  # no model here fits them (tests/test_lab_checkpoint.py: the labs' do)
    fields = tmp_path / "fields.pt"
    torch.save({"epoch": 1, "loss": 0.5}, fields)
    with pytest.raises(CheckpointError, match="lacks config, model_state_dict"):
        load_checkpoint(fields)


def test_a_checkpoint_for_another_model_is_refused(tmp_path, tiny_config):
    path = tmp_path / "best.pt"
    save_checkpoint(path, build_model(RunConfig(model="cnn")), None, tiny_config, 1, 0.5, 0.8)
    with pytest.raises(CheckpointError, match="does not fit model 'mlp'"):
        load_model(path)


def test_a_claim_that_waited_for_the_write_lock_starts_after_the_run_that_held_it_ended(store, tiny_config):
    ending, queued = store.create_run(tiny_config), store.create_run(tiny_config)
    store.claim(ending, os.getpid())
    claimed = []
    with sqlite3.connect(store.db_path, isolation_level=None) as holder:
        holder.execute("BEGIN IMMEDIATE")  # the ending run's worker, mid-transaction
        claimer = threading.Thread(target=lambda: claimed.append(store.claim_next(os.getpid(), busy_within_s=30)))
        claimer.start()
        deadline = time.monotonic() + 60
        while not inside_a_transaction(claimer):
            assert time.monotonic() < deadline and claimer.is_alive(), "the claim never waited for the lock"
            time.sleep(0.01)
        holder.execute("UPDATE runs SET status='finished', ended_at=? WHERE id=?", (time.time(), ending))
        holder.execute("COMMIT")
    claimer.join(60)
    assert claimed == [queued]
    assert store.get_run(queued).started_at >= store.get_run(ending).ended_at


def inside_a_transaction(thread: threading.Thread) -> bool:
    """The thread has entered RunStore._transaction, whose BEGIN IMMEDIATE waits for the write lock."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "_transaction" and frame.f_code.co_filename.endswith("store.py"):
            return True
        frame = frame.f_back
    return False


def test_the_store_refuses_names_and_tags_it_could_not_show(tmp_path):
    from core.names import MAX_NAME_CHARS, InvalidText

    store = RunStore(tmp_path)
    with pytest.raises(InvalidText, match="at most"):
        store.create_run(RunConfig(), name="x" * (MAX_NAME_CHARS + 1))
    assert store.list_runs() == []
    run_id = store.create_run(RunConfig(), name="  kept  ", tags=[" a ", "a"])
    assert (store.get_run(run_id).name, store.get_run(run_id).tags) == ("kept", ("a",))
    for bad in ("   ", "a\nb"):
        with pytest.raises(InvalidText):
            store.rename(run_id, bad)
    assert store.get_run(run_id).name == "kept"


def test_a_store_opens_and_lists_while_another_process_holds_its_write_lock(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(RunConfig(), name="listed")
    frozen = sqlite3.connect(tmp_path / "runs.db", isolation_level=None)  # a worker frozen mid-transaction
    frozen.execute("BEGIN IMMEDIATE")
    frozen.execute("UPDATE runs SET notes='half written' WHERE id=?", (run_id,))
    try:
        reader = RunStore(tmp_path, busy_timeout_s=0.5)  # took the write lock to check the schema: timed out
        assert [run.name for run in reader.list_runs()] == ["listed"]
    finally:
        frozen.execute("ROLLBACK")
        frozen.close()


def test_a_runs_folder_whose_path_is_too_long_is_named_before_anything_is_made(tmp_path):
    from core.runs.store_errors import MAX_DB_PATH_BYTES, StoreError

    deep = tmp_path.joinpath(*["d" * 100] * 6)  # each name fits; runs.db's whole path is past SQLite's limit
    with pytest.raises(StoreError, match=f"bytes long, and SQLite opens a database on a path of at most "
                                         f"{MAX_DB_PATH_BYTES}"):
        RunStore(deep)
    assert not (tmp_path / ("d" * 100)).exists()
    with pytest.raises(StoreError, match="a name in its path is too long for this system"):
        RunStore(tmp_path / ("x" * 300))
    fits, room = tmp_path, MAX_DB_PATH_BYTES - len(str(tmp_path / "runs.db"))
    while room > 0:  # a path of exactly the limit, in names a filesystem takes
        size = min(200, room - 1)
        name = "f" * (size - 1 if room - size - 1 == 1 else size)  # never a last name of no letters
        fits, room = fits / name, room - len(name) - 1
    assert len(str(fits / "runs.db")) == MAX_DB_PATH_BYTES
    RunStore(fits).create_run(RunConfig())  # the limit itself opens, as measured
