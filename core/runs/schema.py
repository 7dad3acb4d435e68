"""The run store's tables, and the steps that bring an older runs.db up to date."""
from __future__ import annotations

import sqlite3
from functools import cache

from core.runs.store_errors import StoreDamaged, StoreError

# MIGRATIONS[i] takes a database from schema version i to i + 1 (PRAGMA user_version).
MIGRATIONS: list[str] = [
    # 1: runs and their metric points, as the store was first written
    """
    CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        environment TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '[]',
        notes TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '{}',
        evaluation TEXT,
        message TEXT NOT NULL DEFAULT '',
        pid INTEGER,
        heartbeat_at REAL,
        stop_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS metrics (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        split TEXT NOT NULL,
        name TEXT NOT NULL,
        value REAL,
        wall_time REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics(run_id, id);
    """,
    # 2: sweeps; a sweep's trials are ordinary runs that carry its id and their trial number
    """
    CREATE TABLE IF NOT EXISTS sweeps (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        space TEXT NOT NULL,
        strategy TEXT NOT NULL,
        pruner TEXT NOT NULL DEFAULT '',
        trials INTEGER NOT NULL,
        parallel INTEGER NOT NULL DEFAULT 1,
        executor TEXT NOT NULL DEFAULT 'local',
        ray_address TEXT NOT NULL DEFAULT '',
        storage TEXT NOT NULL DEFAULT '',
        retries INTEGER NOT NULL DEFAULT 0,
        sampler_seed INTEGER,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        message TEXT NOT NULL DEFAULT '',
        pid INTEGER,
        heartbeat_at REAL,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        importance TEXT NOT NULL DEFAULT '{}'
    );
    ALTER TABLE runs ADD COLUMN sweep_id TEXT;
    ALTER TABLE runs ADD COLUMN trial_number INTEGER;
    CREATE INDEX IF NOT EXISTS runs_by_sweep ON runs(sweep_id, trial_number);
    """,
    # 3: forks name their parent run and epoch; a resumed run keeps the time it trained before;
    # each epoch's validation predictions, for the confusion matrix per epoch and the flipped digits
    """
    ALTER TABLE runs ADD COLUMN parent_id TEXT;
    ALTER TABLE runs ADD COLUMN parent_epoch INTEGER;
    ALTER TABLE runs ADD COLUMN trained_before_s REAL NOT NULL DEFAULT 0;
    CREATE INDEX IF NOT EXISTS runs_by_parent ON runs(parent_id);
    CREATE TABLE IF NOT EXISTS validations (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        confusion TEXT NOT NULL,
        predictions BLOB NOT NULL,
        PRIMARY KEY (run_id, epoch)
    );
    """,
    # 4: a resumed sweep keeps the time it ran before, not the time it sat stopped
    """
    ALTER TABLE sweeps ADD COLUMN ran_before_s REAL NOT NULL DEFAULT 0;
    """,
]
VERSION = len(MIGRATIONS)


class SchemaTooNew(StoreError):
    """The runs.db was written by a newer version of this app."""


def statements(script: str) -> list[str]:
    """A migration's SQL statements, one by one (executescript would commit halfway)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks, in one transaction; returns the version.

    A database that is up to date is only read: its write lock is not taken, so a store whose writer is
    frozen mid-transaction (a suspended worker) still opens for reading."""
    if db.execute("PRAGMA user_version").fetchone()[0] == VERSION:
        check_columns(db)
        return VERSION
    db.execute("BEGIN IMMEDIATE")
    try:
        # read under the write lock: another process may have migrated a moment ago
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > VERSION:
            raise SchemaTooNew(f"runs.db has schema version {version}, and this app knows versions up to "
                               f"{VERSION}: update the app, or set MNIST_RUNS_DIR to another folder")
        for script in MIGRATIONS[version:]:
            for statement in statements(script):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {VERSION}")
        check_columns(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return VERSION


@cache
def expected_columns() -> dict[str, frozenset[str]]:
    """Each table's columns after every migration, found by applying them to an empty database."""
    db = sqlite3.connect(":memory:")
    for script in MIGRATIONS:
        for statement in statements(script):
            db.execute(statement)
    return {table: frozenset(column for column, _ in _columns(db, table)) for table in _tables(db)}


def _tables(db: sqlite3.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                         "AND name NOT LIKE 'sqlite_%'")]


def _columns(db: sqlite3.Connection, table: str) -> list[tuple[str, bool]]:
    """(name, whether an insert that leaves it out fails) for each column of a table."""
    return [(row[1], bool(row[3]) and row[4] is None and not row[5])
            for row in db.execute(f"PRAGMA table_info({table})")]


def check_columns(db: sqlite3.Connection) -> None:
    """Refuse a database whose tables lack a column this app uses, or demand one it does not know."""
    tables = set(_tables(db))
    for table, expected in expected_columns().items():
        if table not in tables:
            raise StoreDamaged(f"runs.db lacks the table {table!r}: it was changed by another program or version")
        columns = _columns(db, table)
        missing = sorted(expected - {name for name, _ in columns})
        demanding = sorted(name for name, required in columns if required and name not in expected)
        if missing or demanding:
            what = (f"lacks column(s) {', '.join(missing)}" if missing
                    else f"has column(s) {', '.join(demanding)} that this app cannot fill")
            raise StoreDamaged(f"runs.db's table {table!r} {what}: it was changed by another program "
                               f"or version")
