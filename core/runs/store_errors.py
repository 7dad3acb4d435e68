"""What can be wrong with a run store, said once: what is wrong and what to do, for the pages and the CLI."""
from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

# SQLite's unix paths hold 512 bytes, and it opens '<path>-journal' beside a database: measured here, a
# runs.db path of 504 bytes opens and one of 505 does not
MAX_DB_PATH_BYTES = 504


class StoreError(RuntimeError):
    """The run store cannot be used as it is; the message says what is wrong and what to do."""

    # whether rebuilding the index from the run folders (core.runs.rebuild) would mend it
    can_rebuild = False


class StoreBusy(StoreError):
    """Another process held the store's write lock for longer than the busy timeout."""


class StoreDamaged(StoreError):
    """runs.db is missing, emptied, overwritten or changed: its index can be rebuilt from the run folders."""

    can_rebuild = True


def rebuild_hint(root: Path) -> str:
    return (f"rebuild the index from the run folders: press 'Rebuild the index' in the app, or run "
            f"`python -m core rebuild-index --runs {root}` (a damaged runs.db is kept beside it)")


def missing_index(root: Path, folders: int) -> StoreDamaged:
    return StoreDamaged(f"runs.db is missing from {root}, which holds {folders} run folder(s): "
                        f"{rebuild_hint(root)}")


def store_error(err: sqlite3.Error, root: Path) -> StoreError:
    """An SQLite error on <root>/runs.db, as a StoreError saying what to do about it."""
    db, text = root / "runs.db", str(err)
    if "locked" in text:
        return StoreBusy(f"the run store {db} is busy: another process has held its write lock too long "
                         f"({text}); try again, and end a frozen `python -m core` process if this persists")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"{db} is read-only ({text}): make it and its folder writable, or set "
                          f"MNIST_RUNS_DIR (--runs for the CLI) to a writable folder")
    if "unable to open" in text or (db.is_file() and db.stat().st_size == 0):  # deleted, or emptied
        return _unopenable(db, text)
    if any(sign in text for sign in ("not a database", "malformed", "no such table", "no such column",
                                     "has no column named", "encrypted")):
        return StoreDamaged(f"{db} is damaged or was changed by another program ({text}): {rebuild_hint(root)}")
    if "full" in text:
        return StoreError(f"no room left to write {db} ({text}): free some disk space, then try again")
    return StoreError(f"the run store {db} failed: {text}; if this persists, {rebuild_hint(root)}")


def _unopenable(db: Path, text: str) -> StoreError:
    if db.is_dir():
        return StoreError(f"{db} is a folder, not a database file: move it away, or set MNIST_RUNS_DIR "
                          f"(--runs for the CLI) to another folder")
    if not db.exists() or db.stat().st_size == 0:  # deleted while the app ran, or emptied
        from core.runs.run_file import run_folders

        return missing_index(db.parent, len(run_folders(db.parent)))
    return StoreError(f"cannot open {db} ({text}): check that it and its folder can be read and written "
                      f"by this user, or set MNIST_RUNS_DIR (--runs for the CLI) to another folder")


def path_too_long(db: Path) -> StoreError | None:
    """A runs.db whose path is longer than SQLite opens (its 512-byte limit, less room for a '-journal' suffix)."""
    length = len(os.fsencode(db))
    if length <= MAX_DB_PATH_BYTES:
        return None
    return StoreError(f"the path to {db} is {length} bytes long, and SQLite opens a database on a path of at most "
                      f"{MAX_DB_PATH_BYTES}: set MNIST_RUNS_DIR (--runs for the CLI) to a folder with a shorter path")


def folder_error(root: Path, err: OSError) -> StoreError:
    """The runs folder itself cannot be made or used."""
    if err.errno == errno.ENAMETOOLONG:  # a folder name past 255 bytes: exists() itself would raise it
        return StoreError(f"cannot use the runs folder {root}: a name in its path is too long for this system "
                          f"({err.strerror}); set MNIST_RUNS_DIR (--runs for the CLI) to a shorter one")
    if root.exists() and not root.is_dir():
        return StoreError(f"the runs folder {root} is a file, not a folder: set MNIST_RUNS_DIR "
                          f"(--runs for the CLI) to a folder")
    return StoreError(f"cannot use the runs folder {root}: {err.strerror or err}; set MNIST_RUNS_DIR "
                      f"(--runs for the CLI) to a folder this user can write")
