"""The run store: runs and metrics in SQLite (WAL), checkpoints as files beside it."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.names import InvalidText, checked_name, checked_tags
from core.runs.queue import first_waiting
from core.runs.records import (
    BATCH_METRIC_NAMES,
    BatchRow,
    Environment,
    EpochValidation,
    Metric,
    Run,
    RunSummary,
)
from core.runs.run_file import run_folders, write_run_file
from core.runs.schema import check_columns, expected_columns, migrate
from core.runs.store_errors import (
    StoreDamaged,
    folder_error,
    missing_index,
    path_too_long,
    rebuild_hint,
    store_error,
)
from core.status import ACTIVE, RunStatus
from core.training.checkpoints import write_bytes_atomically
from core.training.evaluation import Evaluation


class RunNotFound(KeyError):
    """No run has this id; said naming the store, and where to find the ids."""
    kind, listing = "run", "runs"

    def __init__(self, run_id: str, root: Path | str | None = None):
        super().__init__(run_id)
        self.id, self.root = run_id, root

    def __str__(self) -> str:  # KeyError's would be the id's repr alone
        if self.root is None:
            return f"no {self.kind} has the id {self.id!r} (see python -m core {self.listing})"
        elsewhere = Path(self.root).resolve() != Path(default_runs_dir()).resolve()
        runs = f" --runs {shlex.quote(str(self.root))}" if elsewhere else ""  # the listing looks where this did
        return f"no {self.kind} has the id {self.id!r} in {self.root} (see python -m core {self.listing}{runs})"


class RunActive(RuntimeError):
    """The operation needs a run that is not queued or running."""


class RunNotRunning(RuntimeError):
    """A worker's run was ended or deleted by someone else meanwhile: the worker leaves it alone."""


# how long a write waits for another process's write lock before it gives up (StoreBusy)
BUSY_TIMEOUT_S = float(os.environ.get("MNIST_DB_BUSY_TIMEOUT_S", "30"))
RUNS_DIR_ENV = "MNIST_RUNS_DIR"


def default_runs_dir() -> str:
    """The runs folder when none is given: $MNIST_RUNS_DIR, or ./runs (the app and the CLI alike)."""
    return os.environ.get(RUNS_DIR_ENV) or "runs"


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def _stored_config(text: str | None) -> tuple[RunConfig, str | None]:
    """A run's stored config and why it cannot train, if it cannot (e.g. unreadable JSON)."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return RunConfig.from_stored({}), "stored settings are not readable JSON"
    if not isinstance(data, dict):
        return RunConfig.from_stored({}), f"stored settings are not a mapping of settings: {text[:80]!r}"
    return RunConfig.from_stored(data)


# A page lists every run on each script run, and parsing and validating settings is most of the cost
# of a listing (benchmarks.dashboard_scale: 1,000 runs). Each stored text is parsed once: the records
# made from it are frozen, so runs with the same text can share them.
_config = functools.lru_cache(maxsize=4096)(_stored_config)


@functools.lru_cache(maxsize=4096)
def _summary(text: str | None) -> RunSummary:
    return RunSummary.from_dict(_json(text, {}))


@functools.lru_cache(maxsize=4096)
def _environment(text: str | None) -> Environment:
    return Environment.from_dict(_json(text, {}))


def forget_parsed() -> None:
    """Drop the parsed texts kept for listings: the next listing parses every run again (a cold start)."""
    for cached in (_config, _summary, _environment):
        cached.cache_clear()


# rows per INSERT statement: 7 values each, within the 999 variables older SQLite builds allow
METRIC_ROWS_PER_INSERT = 128
_METRIC_COLUMNS = "INSERT INTO metrics (run_id, step, epoch, split, name, value, wall_time) VALUES "


@functools.cache
def _metrics_insert_sql(rows: int) -> str:
    return _METRIC_COLUMNS + ",".join(["(?,?,?,?,?,?,?)"] * rows)


def _insert_metrics(db: sqlite3.Connection, run_id: str, metrics: Iterable[Metric]) -> None:
    """Insert a run's metric rows in order, many rows a statement.

    An MLP's 0.5 s flush of 4,400 rows takes 5.3 ms, against 9.4 ms with executemany's statement a row
    (benchmarks.store_scale): SQLite steps once per statement and updates AUTOINCREMENT's counter once.
    """
    metrics = list(metrics)
    for start in range(0, len(metrics), METRIC_ROWS_PER_INSERT):
        chunk = metrics[start:start + METRIC_ROWS_PER_INSERT]
        values: list = []
        for metric in chunk:
            values.append(run_id)
            values.extend(metric)
        db.execute(_metrics_insert_sql(len(chunk)), values)


# batches per INSERT statement, then the rest in powers of two: SQLite takes longer to parse a statement
# of numbered variables than its length grows (16 batches 0.15 ms, 64 1.1 ms, 128 3.9 ms), and each
# connection parses a statement once for each length it meets
BATCHES_PER_INSERT = 16


def _batch_chunks(count: int) -> Iterator[tuple[int, int]]:
    """(start, length) pieces of `count` batches: whole statements first, then the rest in powers of two."""
    start, size = 0, BATCHES_PER_INSERT
    while start < count:
        while size > count - start:
            size //= 2
        yield start, size
        start += size


@functools.cache
def _batch_rows_insert_sql(batches: int) -> str:
    """An INSERT of this many batch rows, four Metric rows each: a batch binds its seven values once, the
    run id is ?1 for all, and the split and names are written in (7 values a batch, against 28)."""
    rows = []
    for first in range(2, 2 + 7 * batches, 7):
        step, epoch, wall_time = f"?{first}", f"?{first + 1}", f"?{first + 6}"
        rows += [f"(?1,{step},{epoch},'train','{name}',?{value},{wall_time})"
                 for value, name in enumerate(BATCH_METRIC_NAMES, first + 2)]
    return _METRIC_COLUMNS + ",".join(rows)


def _insert_batch_rows(db: sqlite3.Connection, run_id: str, rows: Sequence[BatchRow]) -> None:
    """Insert batch rows in order, each as its four Metric rows (records.batch_row_metrics)."""
    for start, length in _batch_chunks(len(rows)):
        values: list = [run_id]
        for row in rows[start:start + length]:
            values.extend(row)
        db.execute(_batch_rows_insert_sql(length), values)


def _row_to_run(row: sqlite3.Row) -> Run:
    config, config_error = _config(row["config"])
    read = "evaluation" in row.keys()  # noqa: SIM118 - `in row` would look among the values
    return Run(
        id=row["id"], name=row["name"], config=config, config_error=config_error,
        status=RunStatus(row["status"]), created_at=row["created_at"], started_at=row["started_at"],
        ended_at=row["ended_at"], environment=_environment(row["environment"]),
        tags=tuple(_json(row["tags"], [])), notes=row["notes"], summary=_summary(row["summary"]),
        message=row["message"], pid=row["pid"], heartbeat_at=row["heartbeat_at"],
        stop_requested=bool(row["stop_requested"]), sweep_id=row["sweep_id"], trial_number=row["trial_number"],
        evaluation_json=row["evaluation"] if read else None, evaluation_read=read,
        parent_id=row["parent_id"], parent_epoch=row["parent_epoch"], trained_before_s=row["trained_before_s"])


# a run's columns but its test evaluation (a confusion matrix and a list of misclassified examples)
LISTED_COLUMNS = ("id, name, config, status, created_at, started_at, ended_at, environment, tags, notes, summary, "
                  "message, pid, heartbeat_at, stop_requested, sweep_id, trial_number, parent_id, parent_epoch, "
                  "trained_before_s")


RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")  # new_run_id's: when the run was made, and a random tail


def new_run_id() -> str:
    """A sortable id made only of digits, letters and '-': safe as a folder name."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _switch_to_wal(db: sqlite3.Connection, timeout_s: float = 30.0) -> None:
    """Put the database in WAL mode, waiting out another process doing the same."""
    # on a new file, a second process switching to WAL at the same moment gets "database is
    # locked" at once: SQLite's busy timeout does not cover this pragma, so retry it here
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class RunStore:
    """All runs under one root folder: runs.db plus one folder of checkpoints per run."""

    def __init__(self, root: Path | str = "runs", busy_timeout_s: float = BUSY_TIMEOUT_S, *,
                 allow_unindexed: bool = False) -> None:
        """Open (or create) the store; a StoreError says what is wrong with it and what to do.

        A new runs.db beside run folders it does not know is refused (StoreDamaged), unless
        allow_unindexed: rebuilding the index is about to add them.
        """
        self.root = Path(root).resolve()
        self.db_path = self.root / "runs.db"
        self.busy_timeout_s = busy_timeout_s
        if (too_long := path_too_long(self.db_path)) is not None:
            raise too_long
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise folder_error(self.root, err) from err
        new = not self.db_path.exists()
        empty = new or (self.db_path.is_file() and self.db_path.stat().st_size == 0)
        # never a silently empty index beside the folders of runs it has lost
        if empty and not allow_unindexed and (folders := run_folders(self.root)):
            raise missing_index(self.root, len(folders))
        with self._connect(create=new) as db:
            _switch_to_wal(db)
            self._with_path(migrate, db)
        if not os.access(self.db_path, os.W_OK):  # the schema check only reads an up-to-date runs.db
            raise store_error(sqlite3.OperationalError("attempt to write a readonly database"), self.root)

    def _with_path(self, check: Callable[[sqlite3.Connection], Any], db: sqlite3.Connection) -> None:
        """A schema check whose StoreDamaged names this runs.db and says how to mend it."""
        try:
            check(db)
        except StoreDamaged as err:
            raise StoreDamaged(f"{self.db_path}: {err}; {rebuild_hint(self.root)}") from err

    @contextmanager
    def _connect(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        # mode=rw: a runs.db deleted while the app runs is reported, not silently made anew and empty
        uri = f"{self.db_path.as_uri()}?mode={'rwc' if create else 'rw'}"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_s, isolation_level=None)
        except sqlite3.Error as err:
            raise store_error(err, self.root) from err
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        except sqlite3.Error as err:
            raise store_error(err, self.root) from err
        finally:
            db.close()

    @contextmanager
    def held_open(self) -> Iterator[None]:
        """Keep one idle connection open meanwhile, for a process that writes often (a worker)."""
        # SQLite checkpoints the WAL into runs.db whenever the last connection to it closes; with
        # one held open, a flush's own connection is never the last, which halves a flush's cost.
        # Automatic checkpoints (every 1,000 pages) still run: the held connection reads nothing.
        with self._connect():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # a broken database may have no transaction left
                    db.execute("ROLLBACK")
                raise

    # for records kept in the same database by other packages (core.sweeps)
    connect, transaction = _connect, _transaction

    # --- runs -------------------------------------------------------------------------------
    def create_run(self, config: RunConfig, name: str = "", tags: Iterable[str] = (), sweep_id: str | None = None,
                   trial_number: int | None = None, parent_id: str | None = None, parent_epoch: int | None = None,
                   run_id: str | None = None) -> str:
        """Store a new run as queued (a sweep's trial, or a fork of a parent's epoch); returns its id.

        A caller that puts files in the run's folder before a worker may take the run passes the id.
        """
        with self._transaction() as db:
            run_id = run_id or self._unused_run_id(db)
            db.execute("INSERT INTO runs (id, name, config, status, created_at, tags, sweep_id, trial_number, "
                       "parent_id, parent_epoch) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (run_id, checked_name(name) or f"{config.model}-{run_id[-6:]}", config.to_json(),
                        RunStatus.QUEUED,
                        time.time(), json.dumps(checked_tags(tags)), sweep_id, trial_number, parent_id,
                        parent_epoch))
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        self._write_run_file(run_id)
        return run_id

    def unused_run_id(self) -> str:
        """A new run id that no run in the index and no run folder has yet."""
        with self._connect() as db:
            return self._unused_run_id(db)

    def _unused_run_id(self, db: sqlite3.Connection) -> str:
        # ids made in the same second differ only in 24 random bits: 200 runs made at once drew
        # the same id once (a failed insert that read as a broken store)
        while True:
            run_id = new_run_id()
            taken = db.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone() is not None
            if not taken and not self.run_dir(run_id).exists():
                return run_id

    def _write_run_file(self, run_id: str) -> None:
        """Refresh the run's own copy of its identity (run.json), from which the index can be rebuilt."""
        run = self.get_run(run_id)
        write_run_file(self.run_dir(run_id), {"id": run.id, "name": run.name, "tags": list(run.tags),
                                              "notes": run.notes, "config": run.config.to_dict(),
                                              "created_at": run.created_at, "parent_id": run.parent_id,
                                              "parent_epoch": run.parent_epoch, "sweep_id": run.sweep_id,
                                              "trial_number": run.trial_number})

    def reopen(self, run_id: str, config: RunConfig, after_epoch: int) -> None:
        """Queue an ended run again to continue after an epoch: what came later goes, and its test results.

        Raises RunActive, changing nothing, if the run is queued or running.
        """
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE runs SET status=?, config=?, message='', ended_at=NULL, started_at=NULL, pid=NULL, "
                "heartbeat_at=NULL, stop_requested=0, summary='{}', evaluation=NULL, "
                "trained_before_s = trained_before_s + COALESCE(ended_at - started_at, 0) "
                "WHERE id=? AND status NOT IN (?, ?)", (RunStatus.QUEUED, config.to_json(), run_id, *ACTIVE))
            if cursor.rowcount == 0:
                run = self.get_run(run_id)  # RunNotFound if it is gone
                raise RunActive(f"run {run.name!r} is {run.status}: stop it first")
            db.execute("DELETE FROM metrics WHERE run_id=? AND (epoch>? OR split='test')", (run_id, after_epoch))
            db.execute("DELETE FROM validations WHERE run_id=? AND epoch>?", (run_id, after_epoch))
        self._write_run_file(run_id)

    def children(self, run_id: str) -> list[Run]:
        """The runs forked from this one, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE parent_id = ? ORDER BY created_at", (run_id,)).fetchall()
        return [_row_to_run(row) for row in rows]

    def get_run(self, run_id: str) -> Run:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id, self.root)
        return self._to_runs([row])[0]

    def list_runs(self, evaluations: bool = True) -> list[Run]:
        """All runs, newest first. evaluations=False leaves out their test evaluations, most of a
        listing's bytes, which a table of runs does not show (such a run's .evaluation raises; get_run
        reads it)."""
        columns = "*" if evaluations else LISTED_COLUMNS
        with self._connect() as db:
            rows = db.execute(f"SELECT {columns} FROM runs ORDER BY created_at DESC").fetchall()
        return self._to_runs(rows)

    def check(self) -> None:
        """Raise the StoreError that says what is wrong, if runs.db was deleted, replaced or changed since opening."""
        with self._connect() as db:
            if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:  # emptied under the app
                raise missing_index(self.root, len(run_folders(self.root)))
            self._with_path(check_columns, db)

    def _to_runs(self, rows: list[sqlite3.Row]) -> list[Run]:
        try:
            return [_row_to_run(row) for row in rows]
        except IndexError as err:  # a column dropped by another program while this store was open
            self.check()  # names the column
            raise StoreDamaged(f"{self.db_path} lacks a column this app reads ({err}): it was changed by another "
                               f"program; {rebuild_hint(self.root)}") from err

    def _update(self, run_id: str, **fields) -> None:
        columns = ", ".join(f"{key} = ?" for key in fields)
        with self._transaction() as db:
            cursor = db.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*fields.values(), run_id))
        if cursor.rowcount == 0:
            raise RunNotFound(run_id, self.root)

    def rename(self, run_id: str, name: str) -> None:
        """InvalidText for a name that is empty, of several lines or too long."""
        name = checked_name(name)
        if not name:
            raise InvalidText("name: a run needs a name")
        self._update(run_id, name=name)
        self._write_run_file(run_id)

    def set_tags(self, run_id: str, tags: Iterable[str]) -> None:
        self._update(run_id, tags=json.dumps(checked_tags(tags)))
        self._write_run_file(run_id)

    def set_notes(self, run_id: str, notes: str) -> None:
        self._update(run_id, notes=notes)
        self._write_run_file(run_id)

    def set_summary(self, run_id: str, summary: RunSummary) -> None:
        self._update(run_id, summary=json.dumps(summary.to_dict()))

    def set_evaluation(self, run_id: str, evaluation: Evaluation) -> None:
        self._update(run_id, evaluation=json.dumps(evaluation.to_dict()))

    def claim(self, run_id: str, pid: int, environment: Environment | None = None) -> bool:
        """Move a queued run to running for this worker; False if it is no longer queued."""
        with self._transaction() as db:
            now = time.time()  # taken holding the write lock, as claim_next does
            cursor = db.execute(
                "UPDATE runs SET status='running', pid=?, started_at=?, heartbeat_at=?, environment=? "
                "WHERE id=? AND status='queued' AND stop_requested=0",
                (pid, now, now, json.dumps((environment or Environment()).to_dict()), run_id))
        return cursor.rowcount == 1

    def claim_next(self, pid: int, busy_within_s: float) -> str | None:
        """Claim the oldest queued run for this worker, unless a run is training (beat within busy_within_s).

        The queue runs one run at a time; a run whose worker has not beaten for busy_within_s (frozen,
        say) no longer holds it up. None if nothing was claimed.
        """
        with self._transaction() as db:
            now = time.time()  # once the write lock is ours: a run that ended while we waited for it ended before
            if db.execute("SELECT 1 FROM runs WHERE status='running' AND heartbeat_at > ? LIMIT 1",
                          (now - busy_within_s,)).fetchone():
                return None
            queued = [_row_to_run(row) for row in db.execute("SELECT * FROM runs WHERE status='queued'")]
            run_id = first_waiting(queued)
            if run_id is None:
                return None
            db.execute("UPDATE runs SET status='running', pid=?, started_at=?, heartbeat_at=? WHERE id=?",
                       (pid, now, now, run_id))
        return run_id

    def assign_worker(self, run_id: str, pid: int) -> None:
        """Record the process that will run a queued run, so a dead one is noticed; a claimed run keeps its own."""
        with self._transaction() as db:
            db.execute("UPDATE runs SET pid=?, heartbeat_at=? WHERE id=? AND status='queued'",
                       (pid, time.time(), run_id))

    def fail_queued(self, run_id: str, message: str) -> bool:
        """End a run that never started as failed; False if it is no longer queued (a worker took it)."""
        with self._transaction() as db:
            cursor = db.execute("UPDATE runs SET status='failed', message=?, ended_at=? WHERE id=? AND status='queued'",
                                (message, time.time(), run_id))
        return cursor.rowcount == 1

    def set_environment(self, run_id: str, environment: Environment) -> None:
        self._update(run_id, environment=json.dumps(environment.to_dict()))

    def heartbeat(self, run_id: str) -> None:
        self._update(run_id, heartbeat_at=time.time())

    def finish(self, run_id: str, status: RunStatus, message: str = "", summary: RunSummary | None = None) -> bool:
        """Give an active run its final status (and summary); False (and nothing changed) if it had one already."""
        if RunStatus(status).is_active:
            raise ValueError(f"status: {status!r} is not a final status")
        with self._transaction() as db:
            cursor = db.execute("UPDATE runs SET status=?, message=?, ended_at=? WHERE id=? AND status IN (?, ?)",
                                (RunStatus(status), message, time.time(), run_id, *ACTIVE))
            if cursor.rowcount == 1 and summary is not None:
                db.execute("UPDATE runs SET summary=? WHERE id=?", (json.dumps(summary.to_dict()), run_id))
        return cursor.rowcount == 1

    def active_runs(self) -> list[Run]:
        """The queued and running runs."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE status IN (?, ?)", ACTIVE).fetchall()
        return self._to_runs(rows)

    def next_queued(self) -> str | None:
        """The run the queue takes next, if any."""
        return first_waiting(self.active_runs())

    def request_stop(self, run_id: str) -> str:
        """Ask a run to stop. Returns what happened: 'requested', 'cancelled' or 'not active'.

        A running run stops at its next flush and keeps its checkpoints; a queued run is
        cancelled at once (status 'stopped'); a finished run is left as it is. Asking twice
        is the same as asking once.
        """
        run = self.get_run(run_id)
        if run.status == "queued":
            with self._transaction() as db:
                cursor = db.execute("UPDATE runs SET status='stopped', stop_requested=1, ended_at=?, "
                                    "message='cancelled before it started' WHERE id=? AND status='queued'",
                                    (time.time(), run_id))
            if cursor.rowcount == 1:
                return "cancelled"
            run = self.get_run(run_id)
        if run.status == "running":
            self._update(run_id, stop_requested=1)
            return "requested"
        return "not active"

    def stop_requested(self, run_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT stop_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row["stop_requested"])

    def delete_run(self, run_id: str) -> None:
        """Delete a run, its metrics and its files. A queued or running run must be stopped first."""
        run = self.get_run(run_id)
        if run.is_active:
            raise RunActive(f"run {run.name!r} is {run.status}: stop it before deleting it")
        with self._transaction() as db:
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM validations WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)
        if run.config.csv is not None:
            self._drop_unused_table(run.config.csv.sha256)

    def mark_interrupted(self, run_id: str, message: str) -> bool:
        """An active run whose worker is gone ends as interrupted; False if it had ended already."""
        with self._transaction() as db:
            cursor = db.execute("UPDATE runs SET status=?, ended_at=?, message=? WHERE id=? AND status IN (?, ?)",
                                (RunStatus.INTERRUPTED, time.time(), message, run_id, *ACTIVE))
        return cursor.rowcount == 1

    # --- metrics ----------------------------------------------------------------------------
    def record_metrics(self, run_id: str, metrics: Iterable[Metric], batches: Sequence[BatchRow] = ()) -> bool:
        """A worker's flush: add its running run's batch rows, then its other metrics, and beat; returns
        whether a stop was asked.

        The batch rows go first: a recorder holds no batch newer than its other rows. RunNotRunning if
        the run ended elsewhere. The stop flag is read in the same transaction: a flush opens one
        connection, not two.
        """
        with self._transaction() as db:
            # checked first, in the same transaction: a stopped or deleted run gets no more rows
            cursor = db.execute("UPDATE runs SET heartbeat_at=? WHERE id=? AND status='running'", (time.time(), run_id))
            if cursor.rowcount == 0:
                raise RunNotRunning(run_id)
            _insert_batch_rows(db, run_id, batches)
            _insert_metrics(db, run_id, metrics)
            return bool(db.execute("SELECT stop_requested FROM runs WHERE id = ?", (run_id,)).fetchone()[0])

    def add_metrics(self, run_id: str, metrics: Iterable[Metric]) -> None:
        metrics = list(metrics)
        if not metrics:
            return
        with self._transaction() as db:
            _insert_metrics(db, run_id, metrics)
            db.execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time(), run_id))

    def epoch_values(self, run_id: str, split: str, name: str) -> list[tuple[int, float | None]]:
        """One per-epoch metric as (epoch, value), in the order written: what a pruner reads."""
        with self._connect() as db:
            rows = db.execute("SELECT epoch, value FROM metrics WHERE run_id = ? AND split = ? AND name = ? "
                              "ORDER BY id", (run_id, split, name)).fetchall()
        return [(row[0], row[1]) for row in rows]

    def relabel(self, run_id: str, old: RunStatus, new: RunStatus, message: str) -> bool:
        """Change an ended run's status (a stopped trial that a sweep pruned); False if it was not `old`."""
        with self._transaction() as db:
            cursor = db.execute("UPDATE runs SET status=?, message=? WHERE id=? AND status=?",
                                (RunStatus(new), message, run_id, RunStatus(old)))
        return cursor.rowcount == 1

    def sweep_runs(self, sweep_id: str) -> list[Run]:
        """A sweep's trials, every attempt, by trial number then age."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE sweep_id = ? ORDER BY trial_number, created_at",
                              (sweep_id,)).fetchall()
        return [_row_to_run(row) for row in rows]

    def read_metrics(self, run_id: str, after: int = 0) -> tuple[list[Metric], int]:
        """Metrics written after the cursor, and the new cursor: a live chart reads only new rows."""
        rows, cursor = self.read_metric_rows(run_id, after)
        return [Metric._make(row) for row in rows], cursor

    def read_metric_rows(self, run_id: str, after: int = 0) -> tuple[list[tuple], int]:
        """read_metrics' rows as plain tuples in Metric's field order, for a table of a whole run's
        points (series.metrics_frame): 2.4x faster for 40,000 rows (benchmarks.dashboard_scale)."""
        with self._connect() as db:
            db.row_factory = None  # plain tuples: a run has tens of thousands of rows, read 3x faster
            rows = db.execute("SELECT id, step, epoch, split, name, value, wall_time FROM metrics "
                              "WHERE run_id = ? AND id > ? ORDER BY id", (run_id, after)).fetchall()
        return [row[1:] for row in rows], rows[-1][0] if rows else after

    def completed_epochs(self, run_id: str) -> int:
        """The last epoch whose end is recorded (its epoch_loss row), 0 if none."""
        with self._connect() as db:
            row = db.execute("SELECT MAX(epoch) FROM metrics WHERE run_id=? AND split='train' AND "
                             "name='epoch_loss'", (run_id,)).fetchone()
        return row[0] or 0

    # --- per-epoch validation ---------------------------------------------------------------
    def add_validation(self, run_id: str, validation: EpochValidation) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO validations (run_id, epoch, confusion, predictions) VALUES (?,?,?,?)",
                       (run_id, validation.epoch, json.dumps(validation.confusion), validation.predictions))

    def validations(self, run_id: str, epochs: Iterable[int] | None = None) -> list[EpochValidation]:
        """The run's per-epoch validation predictions, by epoch: all of them, or those epochs'."""
        query = "SELECT epoch, confusion, predictions FROM validations WHERE run_id=?"
        wanted = [] if epochs is None else list(epochs)
        if epochs is not None:
            query += f" AND epoch IN ({', '.join('?' * len(wanted))})"
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY epoch", (run_id, *wanted)).fetchall()
        return [EpochValidation(row["epoch"], json.loads(row["confusion"]), bytes(row["predictions"]))
                for row in rows]

    def validated_epochs(self, run_id: str) -> list[int]:
        """The epochs whose validation predictions are stored (without reading them)."""
        with self._connect() as db:
            rows = db.execute("SELECT epoch FROM validations WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall()
        return [row["epoch"] for row in rows]

    # --- the index and its folders ----------------------------------------------------------
    def run_ids(self) -> set[str]:
        with self._connect() as db:
            return {row[0] for row in db.execute("SELECT id FROM runs")}

    def unindexed_folders(self) -> list[Path]:
        """Run folders (with a run.json or a checkpoint) that no run in runs.db owns."""
        known = self.run_ids()
        return [folder for folder in run_folders(self.root) if folder.name not in known]

    def restore_run(self, row: dict[str, Any], metrics: Iterable[Metric]) -> bool:
        """Put a run recovered from its folder back in the index; False if its id is there already."""
        columns = [key for key in row if key in expected_columns()["runs"]]
        with self._transaction() as db:
            cursor = db.execute(f"INSERT OR IGNORE INTO runs ({', '.join(columns)}) "
                                f"VALUES ({', '.join('?' * len(columns))})", [row[key] for key in columns])
            if cursor.rowcount == 0:
                return False
            _insert_metrics(db, row["id"], metrics)
        return True

    def restore_sweep(self, row: dict[str, Any]) -> bool:
        """Put a sweep recovered from its file back in the index; False if its id is there already.

        sqlite3.IntegrityError for a row that lacks a column the table needs."""
        columns = [key for key in row if key in expected_columns()["sweeps"]]
        with self._transaction() as db:
            cursor = db.execute(f"INSERT OR IGNORE INTO sweeps ({', '.join(columns)}) "
                                f"VALUES ({', '.join('?' * len(columns))})", [row[key] for key in columns])
        return cursor.rowcount == 1

    # --- files ------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        path = (self.root / run_id).resolve()
        if path.parent != self.root:
            raise ValueError(f"run id {run_id!r} does not name a folder inside the runs folder")
        return path

    def checkpoint_path(self, run_id: str, which: str | int = "best") -> Path:
        """'best', 'last' or an epoch number."""
        name = f"epoch_{which:03d}.pt" if isinstance(which, int) else f"{which}.pt"
        return self.run_dir(run_id) / name

    def epoch_checkpoints(self, run_id: str) -> list[Path]:
        return sorted(self.run_dir(run_id).glob("epoch_*.pt"))

    # --- tables -----------------------------------------------------------------------------
    @property
    def tables_dir(self) -> Path:
        """The CSV files of 'csv' runs, each named by its sha256, shared by the runs that train on it."""
        return self.root / "tables"

    def add_table(self, data: bytes) -> str:
        """Keep a (checked) CSV file's bytes under their sha256, once; returns the checksum."""
        checksum = hashlib.sha256(data).hexdigest()
        path = self.tables_dir / f"{checksum}.csv"
        if not path.exists():
            write_bytes_atomically(path, data)
        return checksum

    def _drop_unused_table(self, checksum: str) -> None:
        with self._connect() as db:
            used = db.execute("SELECT 1 FROM runs WHERE config LIKE ? LIMIT 1", (f"%{checksum}%",)).fetchone()
        if used is None:
            (self.tables_dir / f"{checksum}.csv").unlink(missing_ok=True)
