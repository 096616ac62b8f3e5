"""The SQLite store's statements, and the writes of a batch's rows as few statements as can be
(`SqliteWrites`, the `TableWrites` of a transaction on SQLite).

Rows are the row codec's (`smsc.store.rows`); this module is what is SQLite's about writing
and reading them: its placeholders, `sqlite_sequence`, `json_each`, and statements shaped
for sqlite3's cost per step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

from smsc.pdu.constants import MessageState
from smsc.store.models import MessageQuery, NewMessage
from smsc.store.rows import (
    COLUMNS,
    MESSAGE_COLUMNS,
    NULLABLE,
    RUN_AT_LEAST,
    STATE_COLUMNS,
    id_runs,
    query_conditions,
)

ENROUTE = int(MessageState.ENROUTE)


def placeholder(column: str) -> str:
    """The parameter of `column`: a nullable one is written NULL for its stand-in."""
    stand_in = NULLABLE.get(column)
    return "?" if stand_in is None else f"NULLIF(?, {stand_in!r})"


_ROW_VALUES = f"({', '.join(placeholder(c) for c in COLUMNS)})"
INSERT_ROWS = {
    count: f"INSERT INTO messages ({', '.join(COLUMNS)}) VALUES "
           + ", ".join([_ROW_VALUES] * count)
    for count in (64, 32, 16, 8, 4, 2, 1)
}
"""INSERTs of that many rows: a batch goes in as a few of them, largest first. One
statement for many rows is stepped once (sqlite3 lets go of the GIL and takes it back
around every step, and each step costs thousands of instructions of its own)."""
SET_FIELDS = ", ".join(f"{column} = {placeholder(column)}" for column in MESSAGE_COLUMNS)
"""The SET clause that writes every column of `MESSAGE_COLUMNS` (values from `fields_of`)."""
UPDATE_FIELDS = f"UPDATE messages SET {SET_FIELDS} WHERE id = ?"
UPDATE_FIELDS_AND_DUE = (
    f"UPDATE messages SET {SET_FIELDS}, next_attempt_at = {placeholder('next_attempt_at')} "
    "WHERE id = ?")
UPDATE_STATE = (
    f"UPDATE messages SET {', '.join(f'{c} = {placeholder(c)}' for c in STATE_COLUMNS)} "
    "WHERE id = ?"
)
SELECT = f"SELECT id, {', '.join(COLUMNS)} FROM messages"
SELECT_OWNED = f"{SELECT} WHERE id = ? AND system_id = ?"
SELECT_MEMBERS = f"{SELECT} WHERE multi_id = ? AND system_id = ? ORDER BY id"
SELECT_PENDING_TO = f"{SELECT} WHERE system_id = ? AND destination_addr = ? AND state = {ENROUTE}"
SELECT_REPLACEABLE = (
    f"{SELECT} WHERE state = {ENROUTE} AND system_id = ? AND destination_addr = ? "
    "AND source_addr = ? AND service_type = ? ORDER BY id LIMIT 1")

SELECT_DUE = (f"SELECT id, system_id, COALESCE(next_attempt_at, 0) FROM messages "
              f"WHERE state = {ENROUTE}")
COUNT_BY_STATE = "SELECT state, COUNT(*) FROM messages GROUP BY state"
LAST_MESSAGE_ID = (
    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0), "
    "COALESCE((SELECT MAX(id) FROM messages), 0))")
"""The largest message id ever given out (AUTOINCREMENT's, or a row's if larger)."""

OUTBOUND_COLUMNS = "item_id, system_id, kind, message_id, attempts, state"
COUNT_OUTBOUND = "SELECT system_id, COUNT(*) FROM outbound GROUP BY system_id"
LAST_ITEM_ID = "SELECT seq FROM sqlite_sequence WHERE name = 'outbound'"
SELECT_OUTBOUND = f"SELECT {OUTBOUND_COLUMNS} FROM outbound ORDER BY item_id"
SELECT_OUTBOUND_AFTER = (
    f"SELECT {OUTBOUND_COLUMNS} FROM outbound "
    "WHERE item_id > ? AND system_id = ? ORDER BY item_id LIMIT ?")
OUTBOUND_FAILED = "UPDATE outbound SET attempts = attempts + 1 WHERE item_id = ?"
INSERT_OUTBOUND = (
    "INSERT INTO outbound (item_id, system_id, kind, message_id, state) VALUES (?, ?, ?, ?, ?)")
INSERT_OUTBOUND_RUN = (
    "INSERT INTO outbound (item_id, system_id, kind, message_id, state) "
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
    "SELECT ? + i, ?, ?, ? + i, ? FROM n"
)
"""Rows for consecutive items and messages (item and message ids counted up from the first)."""

INSERT_FINISHED = "INSERT INTO finished (first_id, last_id, final_at) VALUES (?, ?, ?)"
LAST_FINISHED_RUN = "SELECT COALESCE(MAX(rowid), 0) FROM finished"
SELECT_FINISHED_RUNS = (
    "SELECT rowid, first_id, last_id, final_at FROM finished "
    "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?")
DELETE_FINISHED_RUNS = "DELETE FROM finished WHERE rowid >= ? AND rowid <= ?"
PURGE_IN_RUNS = (
    "DELETE FROM messages WHERE id IN (SELECT m.id FROM json_each(?) AS r "
    "JOIN messages AS m ON m.id BETWEEN r.value ->> 0 AND r.value ->> 1) "
    "AND final_at IS NOT NULL AND id NOT IN (SELECT message_id FROM outbound) "
    "RETURNING id, state")
"""Delete the finished messages of the runs given as a JSON list of [first, last] that
nothing is owed for; their ids and states."""
IDS_LEFT_IN_RUN = "SELECT MIN(id), MAX(id) FROM messages WHERE id BETWEEN ? AND ?"


def select_ids(count: int) -> str:
    """The rows of `count` message ids."""
    return f"{SELECT} WHERE id IN ({', '.join('?' * count)})"


def retry_ids(count: int) -> str:
    """Make `count` pending message ids due at the first parameter if they wait past it."""
    return (f"UPDATE messages SET next_attempt_at = ? WHERE id IN ({', '.join('?' * count)}) "
            f"AND state = {ENROUTE} AND next_attempt_at > ?")


def find(query: MessageQuery) -> tuple[str, list[Any]]:
    """The statement and parameters of a lookup: newest first, at most `query.limit`."""
    where, values = query_conditions(query, "?")
    return f"{SELECT}{where} ORDER BY id DESC LIMIT ?", [*values, query.limit]


def insert_rows(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert message rows given as two tuples each (their `MESSAGE_COLUMNS` and then their
    `STATE_COLUMNS` values: flattened into a statement's parameters either way, so never
    joined), in their order (their ids were counted on it)."""
    execute = db.execute
    start = 0
    left = len(rows) // 2
    for count, statement in INSERT_ROWS.items():
        while left >= count:
            end = start + 2 * count
            execute(statement, list(chain.from_iterable(rows[start:end])))
            start = end
            left -= count


def delete_outbound(db: sqlite3.Connection, item_ids: list[int]) -> None:
    """Delete acknowledged items, a run of consecutive ids with one ranged statement (in
    steady traffic the acknowledgements of a round are such a run: half the cost of a
    delete per row)."""
    ordered = sorted(set(item_ids))
    ranges: list[tuple[int, int]] = []
    singles: list[tuple[int]] = []
    start = previous = ordered[0]
    for item_id in [*ordered[1:], -1]:
        if item_id == previous + 1:
            previous = item_id
            continue
        if previous > start:
            ranges.append((start, previous))
        else:
            singles.append((start,))
        start = previous = item_id
    if ranges:
        db.executemany("DELETE FROM outbound WHERE item_id BETWEEN ? AND ?", ranges)
    if singles:
        db.executemany("DELETE FROM outbound WHERE item_id = ?", singles)


def write_finished(db: sqlite3.Connection, finished: list[int], at: float) -> None:
    """Record ids finished at `at` as runs of consecutive ids, for the purge."""
    db.executemany(INSERT_FINISHED, [(first, last, at) for first, last in id_runs(finished)])


def write_outbound(db: sqlite3.Connection, runs: list[list[Any]]) -> None:
    """Insert outbound rows given as runs (`outbound_runs`): a long run as one statement
    that counts the ids out itself, which costs half of binding and stepping a row at a
    time; short ones row by row."""
    singles: list[tuple[int, str, str, int, int]] = []
    for item_id, system_id, kind, message_id, state, count in runs:
        if count >= RUN_AT_LEAST:
            db.execute(INSERT_OUTBOUND_RUN, (count, item_id, system_id, kind, message_id, state))
        else:
            singles.extend((item_id + i, system_id, kind, message_id + i, state)
                           for i in range(count))
    if singles:
        db.executemany(INSERT_OUTBOUND, singles)


_FAULTS = frozenset({
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOMEM,
})
"""SQLite's primary result codes that say something of the disk or the database file, not
of what was written: a write failing with one may succeed later."""


def is_fault(error: BaseException) -> bool:
    """Whether `error` is a fault of the disk or the database rather than of the batch."""
    code = getattr(error, "sqlite_errorcode", None)  # (set by SQLite's own errors only)
    return isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _FAULTS


class SqliteWrites:
    """A transaction's writes on the store's SQLite connection (`transaction.TableWrites`)."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def replaceable(self, new: NewMessage) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.db.execute(
            SELECT_REPLACEABLE,
            (new.system_id, new.destination_addr, new.source_addr, new.service_type),
        ).fetchone()
        return row

    def update_fields(self, values: tuple[Any, ...], message_id: int) -> None:
        self.db.execute(UPDATE_FIELDS, (*values, message_id))

    def insert_rows(self, first_id: int, rows: list[tuple[Any, ...]]) -> None:
        insert_rows(self.db, rows)  # (AUTOINCREMENT counts from first_id: the only writer)

    def update_states(self, updates: list[tuple[Any, ...]]) -> None:
        self.db.executemany(UPDATE_STATE, updates)

    def write_finished(self, finished: list[int], at: float) -> None:
        write_finished(self.db, finished, at)

    def write_outbound(self, runs: list[list[Any]]) -> None:
        write_outbound(self.db, runs)

    def delete_outbound(self, item_ids: list[int]) -> None:
        delete_outbound(self.db, item_ids)

    def outbound_failed(self, item_ids: list[int]) -> None:
        self.db.executemany(OUTBOUND_FAILED, [(i,) for i in item_ids])
