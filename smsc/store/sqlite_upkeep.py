"""The SQLite store's upkeep: its purge statements, and checkpointing the WAL.

Neither changes what the store holds for its callers (a purge removes only finished messages
nothing is owed for; a checkpoint moves pages from the WAL into the main file), and both may
wait for the disk, so the committer runs them off the trio thread (`StorePlacement`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smsc.store.purge import PurgeStatements
from smsc.store.sqlite_statements import (
    DELETE_FINISHED_RUNS,
    IDS_LEFT_IN_RUN,
    INSERT_FINISHED,
    LAST_FINISHED_RUN,
    PURGE_IN_RUNS,
    SELECT_FINISHED_RUNS,
)

PURGE = PurgeStatements(LAST_FINISHED_RUN, SELECT_FINISHED_RUNS, PURGE_IN_RUNS,
                        IDS_LEFT_IN_RUN, DELETE_FINISHED_RUNS, INSERT_FINISHED)

CHECKPOINT_COMMITS = 200
CHECKPOINT_CHANGES = 20_000
"""When a store whose caller took over checkpoints asks for one (`checkpoint_due`)."""
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
