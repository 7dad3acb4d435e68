"""The run store's tables, and the steps that bring an older runs.db up to date."""
from __future__ import annotations

import sqlite3

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
    # 2: forks name their parent run and epoch; a resumed run keeps the time it trained before;
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
]
VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The runs.db was written by a newer version of this app."""


def statements(script: str) -> list[str]:
    """A migration's SQL statements, one by one (executescript would commit halfway)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks, in one transaction; returns the version."""
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
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return VERSION
