"""The PostgreSQL store's database: connecting, its tables, and the version they carry.

A database without our tables gets them, in one transaction, and the log says so; one whose
`smsc_schema` table names a version this one does not know (a newer one, or none at all) is
refused, as is one that holds a table of ours without that version table. Every refusal and
every failure to connect is StoreOpenError: one line naming the database (its password
masked) and the problem.

Columns are the row codec's (`rows.COLUMNS`) with the types of `COLUMN_TYPES`: a column added
there is one entry here and one step in `UPGRADES`. Times are POSIX timestamps and the row
codec's stand-ins are stored as they are (0 for no time, -1 for no error code): the reads
turn them back into NULL (`postgresql_statements`), so the writes bind no NULL and need no
NULLIF for each value.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from smsc.pdu.constants import MessageState
from smsc.store.errors import StoreOpenError, log
from smsc.store.rows import COLUMNS

SCHEMA_VERSION = 3
ID_BLOCK = 10_000
"""Ids a sequence hands out at a time (INCREMENT BY): one round trip per block, not per id."""
ENROUTE = int(MessageState.ENROUTE)
SCHEMA_LOCK = 0x534D5343
"""The advisory lock held while the tables are checked or made (two servers starting on one
new database make them once)."""

COLUMN_TYPES = {
    "system_id": "text", "service_type": "text", "source_addr": "text",
    "destination_addr": "text", "network": "text", "addressing": "bigint", "flags": "bigint",
    "payload": "bytea", "extra": "bytea", "submitted_at": "double precision",
    "expires_at": "double precision", "schedule_at": "double precision", "multi_id": "bigint",
    "state": "smallint",
    "attempts": "integer", "next_attempt_at": "double precision",
    "final_at": "double precision", "network_error_code": "integer", "fate": "bytea",
}
"""Each row codec column's type (every column NOT NULL: the stand-ins are stored)."""
COPY_TYPES = ["bigint", *(COLUMN_TYPES[column] for column in COLUMNS)]
"""The types of a message row as written: the id, then `COLUMNS`."""

NODE = "NULLIF(current_setting('smsc.node', true), '')::bigint"
"""The node a connection writes for (each store's connections SET smsc.node): the default of
the `node` columns, so that the writes of the hot path name no node."""
NODE_COLUMNS = (
    f"ALTER TABLE messages ADD COLUMN node bigint DEFAULT {NODE}",
    f"CREATE INDEX messages_unowned ON messages (id) WHERE node IS NULL AND state = {ENROUTE}",
    f"ALTER TABLE outbound ADD COLUMN node bigint DEFAULT {NODE}",
    "ALTER TABLE outbound ADD COLUMN moved boolean NOT NULL DEFAULT false",
    "CREATE INDEX outbound_unowned ON outbound (item_id) WHERE node IS NULL",
    "CREATE INDEX outbound_moved ON outbound (node) WHERE moved",
    """CREATE TABLE nodes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, host text NOT NULL,
    pid integer NOT NULL, started double precision NOT NULL,
    heartbeat double precision NOT NULL)""",
    """CREATE TABLE binds (
    node bigint NOT NULL, system_id text NOT NULL, PRIMARY KEY (node, system_id))""",
)
"""Version 2: the node that owns each unfinished message and each owed item (NULL: none,
the next node to look takes it), the item handed to it and not yet read in (`moved`), the
nodes, and the accounts with a receiver bound on each (`postgresql_nodes`). The indexes are
partial, on what is unowned or moved only: the rows the hot path writes enter none of them."""
SESSION_TABLES = (
    """CREATE TABLE sessions (
    node bigint NOT NULL, session bigint NOT NULL, system_id text NOT NULL,
    bind_type text NOT NULL, peer text NOT NULL, window_size integer NOT NULL,
    bound_at double precision NOT NULL, PRIMARY KEY (node, session))""",
    "CREATE INDEX sessions_system ON sessions (system_id)",
    "DROP TABLE binds",
    "ALTER TABLE nodes ADD COLUMN metrics text",
    "ALTER TABLE nodes ADD COLUMN supervisor integer",
)
"""Version 3: one row per session bound on each node (its node and session id there, the
account, bind mode, peer, window and when it bound, by the server's clock), in place of
version 2's `binds` (the accounts with a receiver on each node): what `/v1/sessions` shows
of the whole cluster, what `max_binds` counts across nodes, and where receipts find a
receiver. And per node, where a `--workers` worker without a control API of its own serves
its metrics (`host:port`) and the pid of the supervisor whose first worker gathers them."""
SIMULATION_TABLES = (
    "CREATE SEQUENCE simulation_change_ids",
    """CREATE TABLE simulation_changes (
    key text PRIMARY KEY, seq bigint NOT NULL, change jsonb NOT NULL, node bigint,
    at double precision NOT NULL)""",
    "CREATE INDEX simulation_changes_seq ON simulation_changes (seq)",
    """CREATE TABLE simulation_seed (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), seed text NOT NULL,
    configured boolean NOT NULL, started double precision NOT NULL)""",
    "CREATE TABLE simulation_nodes (node bigint PRIMARY KEY)",
)
"""Version 3 too: the simulation the nodes share (`smsc.cluster.simulation_sync`): the runtime
changes, the latest per key (a handset, a network's outage or fault mix, the last reset), in
the order of `seq`; the seed of the nodes running and when the first of them started (POSIX
seconds: the time base of schedules and outages), and which nodes took them."""
REQUEST_TABLES = (
    """CREATE TABLE requests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, node bigint NOT NULL,
    asker bigint NOT NULL, kind text NOT NULL, parameters text NOT NULL,
    taken boolean NOT NULL DEFAULT false, result integer)""",
    "CREATE INDEX requests_node ON requests (node) WHERE NOT taken",
    "CREATE INDEX requests_asker ON requests (asker) WHERE result IS NOT NULL",
)
"""Version 3 too: cancel_sm and replace_sm asked of the node that owns the message (`node`) by
the node an ESME asked (`asker`): the request's kind and parameters (JSON), whether the owner
has taken it, and its result once answered (`smsc.cluster.requests`)."""
MESSAGE_HAND_OVER = (
    "ALTER TABLE messages ADD COLUMN moved boolean NOT NULL DEFAULT false",
    "CREATE INDEX messages_moved ON messages (node) WHERE moved",
)
"""Version 3 too: a message handed to another node (one where the ESME it goes to has a
receiver bound) and not yet read in there (`moved`, as for owed items)."""

TABLES = (
    "CREATE TABLE smsc_schema (version integer NOT NULL)",
    f"CREATE SEQUENCE message_ids INCREMENT BY {ID_BLOCK}",
    f"CREATE SEQUENCE outbound_ids INCREMENT BY {ID_BLOCK}",
    "CREATE TABLE messages (id bigint PRIMARY KEY, "
    + ", ".join(f"{column} {COLUMN_TYPES[column]} NOT NULL" for column in COLUMNS) + ")",
    f"CREATE INDEX messages_pending ON messages (id) WHERE state = {ENROUTE}",
    "CREATE INDEX messages_multi ON messages (multi_id) WHERE multi_id <> 0",
    "CREATE INDEX messages_replace ON messages "
    f"(system_id, destination_addr, source_addr, service_type) WHERE state = {ENROUTE}",
    """CREATE TABLE outbound (
    item_id bigint PRIMARY KEY, system_id text NOT NULL, kind text NOT NULL,
    message_id bigint NOT NULL, attempts integer NOT NULL DEFAULT 0, state smallint NOT NULL)""",
    """CREATE TABLE finished (
    run bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    first_id bigint NOT NULL, last_id bigint NOT NULL, final_at double precision NOT NULL)""",
    *NODE_COLUMNS,
    *SESSION_TABLES,
    *SIMULATION_TABLES,
    *REQUEST_TABLES,
    *MESSAGE_HAND_OVER,
    f"INSERT INTO smsc_schema (version) VALUES ({SCHEMA_VERSION})",
)
"""The version table, the id sequences, messages, owed outbound items, runs of finished
message ids (oldest first by run), the nodes and the sessions bound on each, and the
simulation they share, and the requests one node asks of another."""
OURS = ("smsc_schema", "messages", "outbound", "finished", "nodes", "binds", "sessions",
        "simulation_changes", "simulation_seed", "simulation_nodes", "requests")
"""The tables that make a database ours (`binds`: versions up to 2)."""
UPGRADES: dict[int, tuple[str, ...]] = {1: NODE_COLUMNS, 2: (*SESSION_TABLES, *SIMULATION_TABLES,
                                                      *REQUEST_TABLES, *MESSAGE_HAND_OVER)}
"""Per version before this one, the statements that take its tables to the next."""


_PASSWORDS = (
    (re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)"), r"\1***"),
    (re.compile(r"(://[^:/@]*:)[^@]*@"), r"\1***@"),
)
"""A password in a key=value dsn or a URL's query, and in a URL's user part."""


def describe(dsn: str) -> str:
    """The database `dsn` names, as written, for errors and the log (passwords masked)."""
    if not dsn:
        return "postgresql (from the PG* environment)"
    for pattern, mask in _PASSWORDS:
        dsn = pattern.sub(mask, dsn)
    return f"postgresql {dsn}"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def connect(dsn: str, *, synchronous_commit: bool) -> psycopg.Connection[Any]:
    """A connection in autocommit (the store says BEGIN and COMMIT itself), with the
    commit's durability set; StoreOpenError when it cannot be made."""
    where = describe(dsn)
    try:
        connection = psycopg.connect(dsn, autocommit=True, application_name="smsc")
    except psycopg.ProgrammingError as error:  # a dsn libpq cannot parse
        raise StoreOpenError(f"{where}: not a valid dsn ({_first_line(error)})") from error
    except psycopg.OperationalError as error:
        text = str(error)
        problem = ("authentication failed" if "authentication failed" in text
                   or "password" in text else "cannot connect")
        raise StoreOpenError(f"{where}: {problem} ({_first_line(error)})") from error
    connection.execute(f"SET synchronous_commit = {'on' if synchronous_commit else 'off'}")
    return connection


def prepare_tables(connection: psycopg.Connection[Any], where: str) -> None:
    """Make the tables of a new database, upgrade those of an earlier version, or refuse
    the database (StoreOpenError); all in one transaction."""
    try:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            found = {name for (name,) in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename = ANY(%s)", (list(OURS),))}
            if not found:
                for statement in TABLES:
                    connection.execute(statement)
                log.info("new store: tables made in %s", where)
                return
            if "smsc_schema" not in found:
                raise StoreOpenError(
                    f"{where}: not an SMSC store (tables {', '.join(sorted(found))} "
                    "without smsc_schema)")
            row = connection.execute("SELECT max(version) FROM smsc_schema").fetchone()
            version = row[0] if row else None
            if version is None or version > SCHEMA_VERSION or (
                    version < SCHEMA_VERSION and version not in UPGRADES):
                what = "newer" if version is not None and version > SCHEMA_VERSION else "unknown"
                raise StoreOpenError(
                    f"{where}: store schema version {version} is {what}; this version "
                    f"reads version {SCHEMA_VERSION}")
            while version < SCHEMA_VERSION:
                for statement in UPGRADES[version]:
                    connection.execute(statement)
                version += 1
                connection.execute("UPDATE smsc_schema SET version = %s", (version,))
    except psycopg.Error as error:
        raise StoreOpenError(f"{where}: cannot be read ({_first_line(error)})") from error
