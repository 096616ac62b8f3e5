"""Purging finished messages from a table store, by the runs of finished ids it records.

The store records which messages finished, in runs of consecutive ids with the time the run
finished, in a small table of its own (`finished`) instead of an index on every finished
row: a purge reads runs, not an index entry per message. The statements are the database's
(`PurgeStatements`); `db` is its DB-API connection, inside the caller's transaction.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from typing import Any, NamedTuple


class PurgeStatements(NamedTuple):
    """A database's statements for the purge, each with its own placeholders."""

    last_run: str
    """The largest run number (0 when none)."""
    select_runs: str
    """(run, first id, last id, final time) of the runs after one run number up to another,
    in order, at most a number of them."""
    delete_in_runs: str
    """Delete the finished messages in the runs given as a JSON list of [first, last] that
    nothing is owed for; their ids and states."""
    ids_left: str
    """The smallest and largest id left between two ids."""
    delete_runs: str
    """Delete the runs from one run number to another."""
    insert_run: str
    """Record a run: first id, last id, final time."""


PURGE_RUNS = 500
"""Finished runs read per step of a purge."""


def purge(db: Any, statements: PurgeStatements, before: float, limit: int) -> list[int]:
    """Delete finished messages whose run finished before `before` (a timestamp), oldest runs
    first, until about `limit` are gone; the states of those deleted. A message still owed to
    its account (a receipt not yet acknowledged) stays: its run is put back at the end, shrunk
    to what is left. Runs inside the caller's transaction."""
    purged_states: list[int] = []
    (last_run,) = db.execute(statements.last_run).fetchone()
    after = 0
    while len(purged_states) < limit:
        runs = db.execute(statements.select_runs, (after, last_run, PURGE_RUNS)).fetchall()
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
            purged_states += _purge_runs(db, statements, taken)
            after = taken[-1][0]
        if young or len(taken) == len(runs) < PURGE_RUNS:
            break  # the runs after finished too recently, or there are no more
    return purged_states


def _purge_runs(db: Any, statements: PurgeStatements, runs: list[tuple[int, int, int, float]]
                ) -> list[int]:
    """Delete the messages of `runs` (run number, first id, last id, final time) that nothing
    is owed for, and the runs; put back what is left of a run. The states deleted."""
    deleted = db.execute(
        statements.delete_in_runs, (json.dumps([(first, last) for _, first, last, _ in runs]),),
    ).fetchall()
    gone = sorted(message_id for message_id, _ in deleted)
    left: list[tuple[int, int, float]] = []
    for _, first, last, final_at in runs:
        count = bisect_right(gone, last) - bisect_left(gone, first)
        if count < last - first + 1:  # owed messages, or ids purged before
            low, high = db.execute(statements.ids_left, (first, last)).fetchone()
            if low is not None:
                left.append((low, high, final_at))
    db.execute(statements.delete_runs, (runs[0][0], runs[-1][0]))
    for run in left:  # (few: the runs cut short by what is owed)
        db.execute(statements.insert_run, run)
    return [state for _, state in deleted]
