"""The PostgreSQL store's statements, and a transaction's writes as few round trips as can be
(`PostgresqlWrites`, the `TableWrites` of a transaction on PostgreSQL).

Rows are the row codec's (`smsc.store.rows`), stored with its stand-ins for NULL (see
`postgresql_schema`). New messages go in by binary COPY; every other write of a transaction
is one statement whatever the number of rows (updates, owed items and finished runs go in as
arrays or runs), and those are pipelined up to the COMMIT: a transaction of new messages
with their receipts is four round trips to the server (BEGIN, the COPY's two, the rest), one
without new messages one. The reads turn the stand-ins back into NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import psycopg

from smsc.pdu.constants import MessageState
from smsc.store.models import MessageQuery, NewMessage
from smsc.store.postgresql_ids import IdBlocks, IdGap
from smsc.store.postgresql_schema import COPY_TYPES
from smsc.store.purge import PurgeStatements
from smsc.store.rows import (
    COLUMNS,
    MESSAGE_COLUMNS,
    NULLABLE,
    id_runs,
    query_conditions,
)

ENROUTE = int(MessageState.ENROUTE)


def _read(column: str) -> str:
    """`column` as read: a nullable one NULL where it holds its stand-in."""
    stand_in = NULLABLE.get(column)
    return column if stand_in is None else f"NULLIF({column}, {stand_in!r})"


SELECT = f"SELECT id, {', '.join(_read(c) for c in COLUMNS)} FROM messages"
SELECT_IDS = f"{SELECT} WHERE id = ANY(%s)"
SELECT_OWNED = f"{SELECT} WHERE id = %s AND system_id = %s"
SELECT_MEMBERS = f"{SELECT} WHERE multi_id = %s AND system_id = %s ORDER BY id"
SELECT_PENDING_TO = (
    f"{SELECT} WHERE system_id = %s AND destination_addr = %s AND state = {ENROUTE}")
SELECT_REPLACEABLE = (
    f"SELECT id FROM messages WHERE state = {ENROUTE} AND system_id = %s "
    "AND destination_addr = %s AND source_addr = %s AND service_type = %s ORDER BY id LIMIT 1")
SET_FIELDS = ", ".join(f"{column} = %s" for column in MESSAGE_COLUMNS)
UPDATE_FIELDS = f"UPDATE messages SET {SET_FIELDS} WHERE id = %s"
UPDATE_FIELDS_AND_DUE = f"UPDATE messages SET {SET_FIELDS}, next_attempt_at = %s WHERE id = %s"
UPDATE_STATES = (
    "UPDATE messages AS m SET state = u.state, attempts = u.attempts, "
    "next_attempt_at = u.next_attempt_at, final_at = u.final_at, "
    "network_error_code = u.network_error_code "
    "FROM unnest(%b::smallint[], %b::integer[], %b::float8[], %b::float8[], %b::integer[], "
    "%b::bigint[]) AS u(state, attempts, next_attempt_at, final_at, network_error_code, id) "
    "WHERE m.id = u.id")
"""Each message's `STATE_COLUMNS`, given as one array per column, the ids last."""
MOVE_DUE = (f"WITH moved AS (UPDATE messages SET next_attempt_at = %s WHERE id = ANY(%s) "
            f"AND state = {ENROUTE} AND next_attempt_at > %s RETURNING 1) "
            "SELECT count(*) FROM moved")
"""Make pending messages due; how many were waiting past then (a row, not a rowcount: the
statement may be pipelined)."""
COPY_MESSAGES = f"COPY messages (id, {', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
"""New messages (id, then `COLUMNS`): psycopg formats a binary COPY row in C, half the cost of
binding the values of a multi-row INSERT, and the server takes it for less too."""

SELECT_DUE = (f"SELECT id, system_id, next_attempt_at FROM messages WHERE state = {ENROUTE} "
              "AND node = %s")
"""A node's unfinished messages (`postgresql_nodes`)."""
COUNT_BY_STATE = "SELECT state, count(*) FROM messages GROUP BY state"

OUTBOUND_COLUMNS = "item_id, system_id, kind, message_id, attempts, state"
COUNT_OUTBOUND = "SELECT system_id, count(*) FROM outbound WHERE node = %s GROUP BY system_id"
SELECT_OUTBOUND = f"SELECT {OUTBOUND_COLUMNS} FROM outbound WHERE node = %s ORDER BY item_id"
SELECT_OUTBOUND_AFTER = (
    f"SELECT {OUTBOUND_COLUMNS} FROM outbound "
    "WHERE item_id > %s AND system_id = %s AND node = %s ORDER BY item_id LIMIT %s")
"""A node's owed items (`postgresql_nodes`)."""
INSERT_OUTBOUND_RUNS = (
    "INSERT INTO outbound (item_id, system_id, kind, message_id, state) "
    "SELECT r.item_id + i, r.system_id, r.kind, r.message_id + i, r.state "
    "FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::bigint[], %b::smallint[], "
    "%b::integer[]) AS r(item_id, system_id, kind, message_id, state, count), "
    "generate_series(0, r.count - 1) AS i")
"""Owed items given as runs (`rows.outbound_runs`), one array per field of a run."""
DELETE_OUTBOUND = (
    "DELETE FROM outbound AS o USING unnest(%b::bigint[], %b::bigint[]) AS r(first, last) "
    "WHERE o.item_id BETWEEN r.first AND r.last")
"""Delete items given as runs of consecutive ids (in steady traffic the acknowledgements of
a round are one such run: two values to bind, not one per item)."""
OUTBOUND_FAILED = "UPDATE outbound SET attempts = attempts + 1 WHERE item_id = ANY(%b::bigint[])"

INSERT_FINISHED_RUNS = (
    "INSERT INTO finished (first_id, last_id, final_at) "
    "SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::float8[])")
PURGE = PurgeStatements(
    last_run="SELECT COALESCE(max(run), 0) FROM finished",
    select_runs=("SELECT run, first_id, last_id, final_at FROM finished "
                 "WHERE run > %s AND run <= %s ORDER BY run LIMIT %s"),
    delete_in_runs=(
        "DELETE FROM messages AS m USING jsonb_array_elements(%s::jsonb) AS r "
        "WHERE m.id BETWEEN (r ->> 0)::bigint AND (r ->> 1)::bigint AND m.final_at <> 0 "
        "AND NOT EXISTS (SELECT 1 FROM outbound AS o WHERE o.message_id = m.id) "
        "RETURNING m.id, m.state"),
    ids_left="SELECT min(id), max(id) FROM messages WHERE id BETWEEN %s AND %s",
    delete_runs="DELETE FROM finished WHERE run >= %s AND run <= %s",
    insert_run="INSERT INTO finished (first_id, last_id, final_at) VALUES (%s, %s, %s)",
)


def find(query: MessageQuery) -> tuple[str, list[Any]]:
    """The statement and parameters of a lookup: newest first, at most `query.limit`."""
    where, values = query_conditions(query, "%s")
    return f"{SELECT}{where} ORDER BY id DESC LIMIT %s", [*values, query.limit]


_FAULT_CLASSES = ("08", "40", "53", "54", "55", "57", "58", "XX")
"""SQLSTATE classes that say something of the server, the connection or the load, not of
what was written: connection exceptions, rollbacks (serialisation, deadlock), insufficient
resources (disk full, out of memory), program limits, object state (lock not available),
operator intervention (shutdown), system errors (I/O) and internal errors (corruption)."""


def is_fault(error: BaseException) -> bool:
    """Whether `error` is a fault of the server, the connection or the disk rather than of
    the batch (the same write may succeed later)."""
    if isinstance(error, IdGap | psycopg.OperationalError | psycopg.InterfaceError):
        return True
    state = getattr(error, "sqlstate", None)
    return isinstance(error, psycopg.Error) and state is not None and \
        state[:2] in _FAULT_CLASSES


class PostgresqlWrites:
    """A transaction's writes on the store's connection (`transaction.TableWrites`); new
    ids past the blocks reserved are reserved as they are written (`IdBlocks.cover`)."""

    __slots__ = ("_db", "_pipeline", "cursor", "item_ids", "message_ids")

    def __init__(self, db: psycopg.Connection[Any], message_ids: IdBlocks,
                 item_ids: IdBlocks) -> None:
        self.db = db
        self.message_ids = message_ids
        self.item_ids = item_ids

    @property
    def db(self) -> psycopg.Connection[Any]:
        return self._db

    @db.setter
    def db(self, db: psycopg.Connection[Any]) -> None:
        """Use `db` (at open, and a new connection after one was lost)."""
        self._db = db
        self.cursor = db.cursor()
        self._pipeline: ExitStack | None = None
        """The pipeline of the transaction's statements, while one is open."""

    def replaceable(self, new: NewMessage) -> Sequence[Any] | None:
        return self.pipelined().execute(
            SELECT_REPLACEABLE,
            (new.system_id, new.destination_addr, new.source_addr, new.service_type),
        ).fetchone()

    def update_fields(self, values: tuple[Any, ...], message_id: int) -> None:
        self.pipelined().execute(UPDATE_FIELDS, (*values, message_id))

    def insert_rows(self, first_id: int, rows: list[tuple[Any, ...]]) -> None:
        self.message_ids.cover(self.db, first_id + len(rows) // 2 - 1)
        self.flush()  # (COPY cannot be pipelined: what is queued goes first)
        with self.cursor.copy(COPY_MESSAGES) as copy:
            copy.set_types(COPY_TYPES)
            write_row = copy.write_row
            message_id = first_id
            for index in range(0, len(rows), 2):
                write_row((message_id, *rows[index], *rows[index + 1]))
                message_id += 1

    def pipelined(self) -> psycopg.Connection[Any]:
        """The connection, queueing statements in a pipeline until the next COPY or the end
        of the transaction (`flush`)."""
        if self._pipeline is None:
            pipeline = ExitStack()
            pipeline.enter_context(self._db.pipeline())
            self._pipeline = pipeline
        return self._db

    def flush(self) -> None:
        """End the pipeline, if one is open: send what is queued and wait for the results
        (the first error among them is raised)."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.close()

    def update_states(self, updates: list[tuple[Any, ...]]) -> None:
        self.pipelined().execute(UPDATE_STATES,
                                 [list(column) for column in zip(*updates, strict=True)])

    def write_finished(self, finished: list[int], at: float) -> None:
        firsts, lasts = zip(*id_runs(finished), strict=True)
        self.pipelined().execute(INSERT_FINISHED_RUNS,
                                 (list(firsts), list(lasts), [at] * len(firsts)))

    def write_outbound(self, runs: list[list[Any]]) -> None:
        last = runs[-1]
        self.item_ids.cover(self.db, last[0] + last[5] - 1)
        self.pipelined().execute(INSERT_OUTBOUND_RUNS,
                        [list(column) for column in zip(*runs, strict=True)])

    def delete_outbound(self, item_ids: list[int]) -> None:
        firsts, lasts = zip(*id_runs(item_ids), strict=True)
        self.pipelined().execute(DELETE_OUTBOUND, (list(firsts), list(lasts)))

    def outbound_failed(self, item_ids: list[int]) -> None:
        self.pipelined().execute(OUTBOUND_FAILED, (item_ids,))
