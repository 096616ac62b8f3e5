"""The SQLite store's upkeep: purging finished messages and checkpointing the WAL.

Neither changes what the store holds for its callers (a purge removes only finished messages
nothing is owed for; a checkpoint moves pages from the WAL into the main file), and both may
wait for the disk, so the committer runs them off the trio thread (`StorePlacement`).
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_left, bisect_right
from pathlib import Path

from smsc.store.sqlite_statements import (
    DELETE_FINISHED_RUNS,
    IDS_LEFT_IN_RUN,
    INSERT_FINISHED,
    LAST_FINISHED_RUN,
    PURGE_IN_RUNS,
    SELECT_FINISHED_RUNS,
)

CHECKPOINT_COMMITS = 200
CHECKPOINT_CHANGES = 20_000
"""When a store whose caller took over checkpoints asks for one (`checkpoint_due`)."""
PURGE_RUNS = 500
"""Finished runs read per step of a purge."""


def purge(db: sqlite3.Connection, before: float, limit: int) -> list[int]:
    """Delete finished messages whose run finished before `before` (a timestamp), oldest runs
    first, until about `limit` are gone; the states of those deleted. A message still owed to
    its account (a receipt not yet acknowledged) stays: its run is put back at the end, shrunk
    to what is left. Runs inside the caller's transaction."""
    purged_states: list[int] = []
    (last_run,) = db.execute(LAST_FINISHED_RUN).fetchone()
    after = 0
    while len(purged_states) < limit:
        runs = db.execute(SELECT_FINISHED_RUNS, (after, last_run, PURGE_RUNS)).fetchall()
        taken: list[tuple[int, int, int, float]] = []
        size = len(purged_states)
        young = False
        for run in runs:
            if run[3] >= before:
                young = True
                break
            if taken and size >= limit:
                break
            taken.append(run)
            size += run[2] - run[1] + 1
        if taken:
            purged_states += _purge_runs(db, taken)
            after = taken[-1][0]
        if young or len(taken) == len(runs) < PURGE_RUNS:
            break  # the runs after finished too recently, or there are no more
    return purged_states


def _purge_runs(db: sqlite3.Connection, runs: list[tuple[int, int, int, float]]) -> list[int]:
    """Delete the messages of `runs` (rowid, first id, last id, final time) that nothing
    is owed for, and the runs; put back what is left of a run. The states deleted."""
    deleted = db.execute(
        PURGE_IN_RUNS, (json.dumps([(first, last) for _, first, last, _ in runs]),),
    ).fetchall()
    gone = sorted(message_id for message_id, _ in deleted)
    left: list[tuple[int, int, float]] = []
    for _, first, last, final_at in runs:
        count = bisect_right(gone, last) - bisect_left(gone, first)
        if count < last - first + 1:  # owed messages, or ids purged before
            low, high = db.execute(IDS_LEFT_IN_RUN, (first, last)).fetchone()
            if low is not None:
                left.append((low, high, final_at))
    db.execute(DELETE_FINISHED_RUNS, (runs[0][0], runs[-1][0]))
    if left:
        db.executemany(INSERT_FINISHED, left)
    return [state for _, state in deleted]


class Checkpoints:
    """Checkpoints of the store's WAL when its caller took them over from SQLite."""

    def __init__(self, db: sqlite3.Connection, path: Path, *, by_caller: bool) -> None:
        self._db = db
        self._path = path
        self.by_caller = by_caller
        self.commits = 0
        """Transactions committed since the last checkpoint."""
        self._changes_at_checkpoint = 0
        self._checkpointer: sqlite3.Connection | None = None
        """The connection `alongside` uses (opened on its first call)."""

    def due(self) -> bool:
        """Whether the caller, who took over checkpoints, should checkpoint now: after
        `CHECKPOINT_COMMITS` transactions or `CHECKPOINT_CHANGES` rows, about as much WAL as
        SQLite's own 1,000 pages, whichever comes first."""
        return self.by_caller and (
            self.commits >= CHECKPOINT_COMMITS
            or self._db.total_changes - self._changes_at_checkpoint >= CHECKPOINT_CHANGES)

    def alongside(self) -> None:
        """Copy the WAL as it stands into the database file and sync both, from a connection
        of its own: unlike every other call, this one may run on another thread while the
        store goes on writing (the syncs can take a second on a busy disk; transactions need
        not wait for them). Follow it with `rest` for what was written meanwhile."""
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self._path, check_same_thread=False,
                                                 isolation_level=None)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def rest(self) -> None:
        """Copy the rest of the WAL into the database file and sync both. No other call runs
        meanwhile (one caller at a time), so it always completes and the next write starts
        the WAL over from its beginning: the file stays the size of one interval."""
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.commits = 0
        self._changes_at_checkpoint = self._db.total_changes

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
