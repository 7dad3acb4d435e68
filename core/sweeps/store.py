"""Sweeps in the run store: created, claimed by one driver at a time, stopped, finished."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from core.runs.run_file import SWEEP_PROCESS, SWEEPS_FOLDER, write_sweep_file
from core.runs.store import RunNotFound, RunStore, new_run_id
from core.status import ACTIVE, RunStatus
from core.sweeps.records import Sweep, SweepPlan
from core.sweeps.space import SearchSpace, SpaceError, parse_space


class SweepNotFound(RunNotFound):
    """No sweep has this id."""
    kind, listing = "sweep", "sweep --list"


def _stored_space(text: str) -> tuple[SearchSpace, str]:
    """A stored space, and why it no longer validates ('' if it does): an old sweep still lists."""
    try:
        return parse_space(json.loads(text)), ""
    except (SpaceError, ValueError) as err:
        return SearchSpace({}, {}), f"its stored space no longer validates: {err}"


def _row_to_sweep(row: sqlite3.Row) -> Sweep:
    space, problem = _stored_space(row["space"])
    plan = SweepPlan(space=space, strategy=row["strategy"], trials=row["trials"],
                     parallel=row["parallel"], pruner=row["pruner"], executor=row["executor"],
                     ray_address=row["ray_address"], storage=row["storage"], retries=row["retries"],
                     sampler_seed=row["sampler_seed"])  # the name as stored is the sweep's: older ones were not checked
    return Sweep(id=row["id"], name=row["name"], plan=plan, status=RunStatus(row["status"]),
                 created_at=row["created_at"], started_at=row["started_at"], ended_at=row["ended_at"],
                 message=problem or row["message"], pid=row["pid"], heartbeat_at=row["heartbeat_at"],
                 stop_requested=bool(row["stop_requested"]), importance=json.loads(row["importance"] or "{}"),
                 ran_before_s=row["ran_before_s"])


class SweepStore:
    """The sweeps table of a run store; the trials themselves are the store's runs."""

    def __init__(self, runs: RunStore):
        self.runs = runs

    def journal_path(self, sweep_id: str) -> Path:
        """Where Optuna's study lives when no RDB URL was given: a journal file beside runs.db."""
        return self.runs.root / SWEEPS_FOLDER / f"{sweep_id}.journal"

    def _file(self, sweep_id: str) -> Path:
        return self.runs.root / SWEEPS_FOLDER / f"{sweep_id}.json"

    def _keep_file(self, db: sqlite3.Connection, sweep_id: str) -> None:
        """Copy the sweep's row, as this transaction leaves it, to sweeps/<id>.json: `rebuild-index` gets the
        sweep back from it. Inside the transaction: two processes' changes cannot leave the older one on disk."""
        row = db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is not None:
            write_sweep_file(self._file(sweep_id),
                             {key: value for key, value in dict(row).items() if key not in SWEEP_PROCESS})

    def create(self, plan: SweepPlan) -> str:
        """Store a new sweep as queued; returns its id."""
        sweep_id = "sweep-" + new_run_id()
        name = plan.name or f"{plan.strategy}-{sweep_id[-6:]}"
        with self.runs.transaction() as db:
            db.execute("INSERT INTO sweeps (id, name, space, strategy, pruner, trials, parallel, executor, "
                       "ray_address, storage, retries, sampler_seed, status, created_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (sweep_id, name, plan.space.to_json(), plan.strategy, plan.pruner, plan.trials,
                        plan.parallel, plan.executor, plan.ray_address, plan.storage, plan.retries,
                        plan.sampler_seed, RunStatus.QUEUED, time.time()))
            self._keep_file(db, sweep_id)
        return sweep_id

    def get(self, sweep_id: str) -> Sweep:
        with self.runs.connect() as db:
            row = db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise SweepNotFound(sweep_id, self.runs.root)
        return _row_to_sweep(row)

    def list(self) -> list[Sweep]:
        """All sweeps, newest first. One stored before sweeps kept a file gets its file now, once."""
        with self.runs.connect() as db:
            rows = db.execute("SELECT * FROM sweeps ORDER BY created_at DESC").fetchall()
            for row in rows:
                if not self._file(row["id"]).exists():
                    self._keep_file(db, row["id"])
        return [_row_to_sweep(row) for row in rows]

    def _update(self, sweep_id: str, keep: bool = False, **fields) -> int:
        """Set fields; keep: copy the changed row to its file too (a change of state, not a heartbeat)."""
        columns = ", ".join(f"{key} = ?" for key in fields)
        with self.runs.transaction() as db:
            count = db.execute(f"UPDATE sweeps SET {columns} WHERE id = ?", (*fields.values(), sweep_id)).rowcount
            if keep and count:
                self._keep_file(db, sweep_id)
        return count

    def start(self, sweep_id: str, pid: int) -> None:
        """Mark the sweep running under this driver (who holds its lock file: one driver at a time)."""
        now = time.time()
        with self.runs.transaction() as db:
            # a resume counts the time it ran until it ended (a driver killed unnoticed: its last beat), then
            # starts the clock again, as a resumed run does
            cursor = db.execute("UPDATE sweeps SET status=?, pid=?, started_at=?, ran_before_s = ran_before_s + "
                                "COALESCE(COALESCE(ended_at, heartbeat_at) - started_at, 0), "
                                "heartbeat_at=?, ended_at=NULL, message='', stop_requested=0 WHERE id=?",
                                (RunStatus.RUNNING, pid, now, now, sweep_id))
            if cursor.rowcount == 0:
                raise SweepNotFound(sweep_id, self.runs.root)
            self._keep_file(db, sweep_id)

    def assign_driver(self, sweep_id: str, pid: int) -> None:
        """Record the process that will drive a queued sweep, so a dead one is noticed."""
        self._update(sweep_id, pid=pid, heartbeat_at=time.time())

    def heartbeat(self, sweep_id: str) -> None:
        self._update(sweep_id, heartbeat_at=time.time())

    def finish(self, sweep_id: str, status: RunStatus, message: str = "") -> None:
        self._update(sweep_id, keep=True, status=RunStatus(status), message=message, ended_at=time.time())

    def request_stop(self, sweep_id: str) -> str:
        """Ask a sweep to stop: its driver stops the trials in flight and starts no more."""
        sweep = self.get(sweep_id)
        if not sweep.is_active:
            return "not active"
        self._update(sweep_id, stop_requested=1)
        return "requested"

    def stop_requested(self, sweep_id: str) -> bool:
        with self.runs.connect() as db:
            row = db.execute("SELECT stop_requested FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return bool(row and row["stop_requested"])

    def set_importance(self, sweep_id: str, importance: dict[str, float]) -> None:
        self._update(sweep_id, keep=True, importance=json.dumps(importance))

    def mark_interrupted(self, sweep_id: str, message: str) -> bool:
        """An active sweep whose driver is gone ends as interrupted, to be resumed; it ended at the driver's last
        beat, not when that was noticed (the next morning, say)."""
        with self.runs.transaction() as db:
            cursor = db.execute("UPDATE sweeps SET status=?, ended_at=COALESCE(heartbeat_at, ?), message=? "
                                "WHERE id=? AND status IN (?, ?)",
                                (RunStatus.INTERRUPTED, time.time(), message, sweep_id, *ACTIVE))
            if cursor.rowcount == 1:
                self._keep_file(db, sweep_id)
        return cursor.rowcount == 1
