"""The run store: runs and metrics in SQLite (WAL), checkpoints as files beside it."""
from __future__ import annotations

import functools
import hashlib
import json
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.config import RunConfig
from core.runs.queue import queue_order
from core.runs.records import Environment, Metric, Run, RunSummary, normalize_tags
from core.runs.schema import migrate
from core.status import ACTIVE, RunStatus
from core.training.checkpoints import write_bytes_atomically
from core.training.evaluation import Evaluation


class RunNotFound(KeyError):
    """No run has this id."""


class RunActive(RuntimeError):
    """The operation needs a run that is not queued or running."""


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


# A page lists every run on each script run, and parsing and validating settings is most of the cost
# of a listing (benchmarks.dashboard_scale: 1,000 runs). Each stored text is parsed once: the records
# made from it are frozen, so runs with the same text can share them.
@functools.lru_cache(maxsize=4096)
def _config(text: str) -> tuple[RunConfig, str | None]:
    return RunConfig.from_stored(_json(text, {}))


@functools.lru_cache(maxsize=4096)
def _summary(text: str) -> RunSummary:
    return RunSummary.from_dict(_json(text, {}))


@functools.lru_cache(maxsize=4096)
def _environment(text: str) -> Environment:
    return Environment.from_dict(_json(text, {}))


def forget_parsed() -> None:
    """Drop the parsed texts kept for listings: the next listing parses every run again (a cold start)."""
    for cached in (_config, _summary, _environment):
        cached.cache_clear()


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
        evaluation_json=row["evaluation"] if read else None, evaluation_read=read)


# a run's columns but its test evaluation (a confusion matrix and a list of misclassified examples)
LISTED_COLUMNS = ("id, name, config, status, created_at, started_at, ended_at, environment, tags, notes, summary, "
                  "message, pid, heartbeat_at, stop_requested, sweep_id, trial_number")


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

    def __init__(self, root: Path | str = "runs"):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "runs.db"
        with self._connect() as db:
            _switch_to_wal(db)
            migrate(db)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield db
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
                db.execute("ROLLBACK")
                raise

    # for records kept in the same database by other packages (core.sweeps)
    connect, transaction = _connect, _transaction

    # --- runs -------------------------------------------------------------------------------
    def create_run(self, config: RunConfig, name: str = "", tags: Iterable[str] = (), sweep_id: str | None = None,
                   trial_number: int | None = None) -> str:
        """Store a new run as queued (a sweep's trial when given its sweep id); returns its id."""
        run_id = new_run_id()
        with self._transaction() as db:
            db.execute("INSERT INTO runs (id, name, config, status, created_at, tags, sweep_id, trial_number) "
                       "VALUES (?,?,?,?,?,?,?,?)",
                       (run_id, name or f"{config.model}-{run_id[-6:]}", config.to_json(), RunStatus.QUEUED,
                        time.time(), json.dumps(normalize_tags(tags)), sweep_id, trial_number))
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    def get_run(self, run_id: str) -> Run:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return _row_to_run(row)

    def list_runs(self, evaluations: bool = True) -> list[Run]:
        """All runs, newest first. evaluations=False leaves out their test evaluations, most of a
        listing's bytes, which a table of runs does not show (such a run's .evaluation raises; get_run
        reads it)."""
        columns = "*" if evaluations else LISTED_COLUMNS
        with self._connect() as db:
            rows = db.execute(f"SELECT {columns} FROM runs ORDER BY created_at DESC").fetchall()
        return [_row_to_run(row) for row in rows]

    def _update(self, run_id: str, **fields) -> None:
        columns = ", ".join(f"{key} = ?" for key in fields)
        with self._transaction() as db:
            cursor = db.execute(f"UPDATE runs SET {columns} WHERE id = ?", (*fields.values(), run_id))
        if cursor.rowcount == 0:
            raise RunNotFound(run_id)

    def rename(self, run_id: str, name: str) -> None:
        self._update(run_id, name=name)

    def set_tags(self, run_id: str, tags: Iterable[str]) -> None:
        self._update(run_id, tags=json.dumps(normalize_tags(tags)))

    def set_notes(self, run_id: str, notes: str) -> None:
        self._update(run_id, notes=notes)

    def set_summary(self, run_id: str, summary: RunSummary) -> None:
        self._update(run_id, summary=json.dumps(summary.to_dict()))

    def set_evaluation(self, run_id: str, evaluation: Evaluation) -> None:
        self._update(run_id, evaluation=json.dumps(evaluation.to_dict()))

    def claim(self, run_id: str, pid: int, environment: Environment | None = None) -> bool:
        """Move a queued run to running for this worker; False if it is no longer queued."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE runs SET status='running', pid=?, started_at=?, heartbeat_at=?, environment=? "
                "WHERE id=? AND status='queued' AND stop_requested=0",
                (pid, now, now, json.dumps((environment or Environment()).to_dict()), run_id))
        return cursor.rowcount == 1

    def assign_worker(self, run_id: str, pid: int) -> None:
        """Record the process that will run a queued run, so a dead one is noticed."""
        self._update(run_id, pid=pid, heartbeat_at=time.time())

    def set_environment(self, run_id: str, environment: Environment) -> None:
        self._update(run_id, environment=json.dumps(environment.to_dict()))

    def heartbeat(self, run_id: str) -> None:
        self._update(run_id, heartbeat_at=time.time())

    def finish(self, run_id: str, status: RunStatus, message: str = "") -> bool:
        """Give an active run its final status; False (and nothing changed) if it had one already."""
        if RunStatus(status).is_active:
            raise ValueError(f"status: {status!r} is not a final status")
        with self._transaction() as db:
            cursor = db.execute("UPDATE runs SET status=?, message=?, ended_at=? WHERE id=? AND status IN (?, ?)",
                                (RunStatus(status), message, time.time(), run_id, *ACTIVE))
        return cursor.rowcount == 1

    def active_runs(self) -> list[Run]:
        """The queued and running runs."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE status IN (?, ?)", ACTIVE).fetchall()
        return [_row_to_run(row) for row in rows]

    def next_queued(self) -> str | None:
        """The run the queue takes next, if any; a sweep's trials are its driver's to start."""
        waiting = [run for run in queue_order(self.active_runs())
                   if run.status == RunStatus.QUEUED and not run.stop_requested and run.sweep_id is None]
        return waiting[0].id if waiting else None

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
    def add_metrics(self, run_id: str, metrics: Iterable[Metric]) -> None:
        rows = [(run_id, *m) for m in metrics]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany("INSERT INTO metrics (run_id, step, epoch, split, name, value, wall_time) "
                           "VALUES (?,?,?,?,?,?,?)", rows)
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
