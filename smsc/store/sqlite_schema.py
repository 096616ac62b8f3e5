"""The SQLite store's tables, and the upgrade of a database written in an earlier layout.

Layout 2 keeps a message's one-octet fields packed into two integers (a row binds and
encodes each column on its own, and the octets are never searched on), and records which
messages finished, in runs of consecutive ids, in a small table of its own instead of an
index on every finished row: purging reads runs, not an index entry per message.
"""

from __future__ import annotations

import sqlite3

from smsc.pdu.constants import MessageState
from smsc.store.rows import MESSAGE_COLUMNS, STATE_COLUMNS

SCHEMA_VERSION = 2
ENROUTE = int(MessageState.ENROUTE)

TABLES = (
    """CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL, service_type TEXT NOT NULL, source_addr TEXT NOT NULL,
    destination_addr TEXT NOT NULL, network TEXT NOT NULL,
    addressing INTEGER NOT NULL, flags INTEGER NOT NULL, payload BLOB NOT NULL,
    extra BLOB NOT NULL, submitted_at REAL, expires_at REAL, schedule_at REAL,
    state INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_at REAL, final_at REAL,
    network_error_code INTEGER)""",
    f"CREATE INDEX IF NOT EXISTS messages_pending ON messages (state) WHERE state = {ENROUTE}",
    "CREATE INDEX IF NOT EXISTS messages_replace ON messages "
    f"(system_id, destination_addr, source_addr, service_type) WHERE state = {ENROUTE}",
    """CREATE TABLE IF NOT EXISTS outbound (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL, kind TEXT NOT NULL, message_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS finished (
    first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, final_at REAL NOT NULL)""",
)
"""Messages, owed outbound items, and runs of finished message ids (oldest first by rowid)."""

_FROM_LAYOUT_1 = (
    "ALTER TABLE messages RENAME TO messages_layout_1",
    "DROP INDEX IF EXISTS messages_pending",
    "DROP INDEX IF EXISTS messages_replace",
    "DROP INDEX IF EXISTS messages_final",
    "DROP INDEX IF EXISTS outbound_system",
    *TABLES,
    f"""INSERT INTO messages (id, {', '.join(MESSAGE_COLUMNS + STATE_COLUMNS)})
    SELECT id, system_id, service_type, source_addr, destination_addr, network,
        (source_addr_ton << 24) | (source_addr_npi << 16) | (dest_addr_ton << 8)
            | dest_addr_npi,
        esm_class | (protocol_id << 8) | (priority_flag << 16) | (registered_delivery << 24)
            | (data_coding << 32) | (replace_if_present << 40) | ((direction = 'mo') << 41),
        payload, extra, submitted_at, expires_at, schedule_at,
        state, attempts, next_attempt_at, final_at, network_error_code
    FROM messages_layout_1 ORDER BY id""",
    "DELETE FROM sqlite_sequence WHERE name = 'messages'",
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', seq FROM sqlite_sequence "
    "WHERE name = 'messages_layout_1'",
    "INSERT INTO finished (first_id, last_id, final_at) SELECT id, id, final_at "
    "FROM messages WHERE final_at IS NOT NULL ORDER BY final_at, id",
    "DROP TABLE messages_layout_1",
)
"""Layout 1 kept every field in a column of its own and indexed finished rows by final_at.
The message id sequence is carried over, so no id is given out twice."""


class StoreLayoutError(Exception):
    """The database was written by a newer layout than this version knows."""


def open_layout(db: sqlite3.Connection, where: str) -> None:
    """Create the tables of a new database, or bring an earlier layout's up to date in one
    transaction (a failure leaves the database as it was)."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreLayoutError(
            f"{where}: written in store layout {version} by a newer version; this one reads "
            f"layouts up to {SCHEMA_VERSION}")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    statements = _FROM_LAYOUT_1 if "messages" in tables else TABLES
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
