"""The SQLite store's file: opening it, its tables, and the upgrade of an earlier layout.

A missing or empty file starts a new store (and says so in the log); a file that cannot be
opened, is not an SQLite database, is damaged, or holds tables that are not an SMSC store's
is refused with StoreOpenError, one line that names the file and the problem.

Layout 2 keeps a message's one-octet fields packed into two integers (a row binds and
encodes each column on its own, and the octets are never searched on), and records which
messages finished, in runs of consecutive ids, in a small table of its own instead of an
index on every finished row: purging reads runs, not an index entry per message. Layout 3
adds each message's simulated fate (`fate`, a few octets; empty in rows written before it,
whose attempts draw from the fate of the first copy of their message).

Layout 4 adds the column `messages.multi_id` (0, or for a submit_multi's later destinations
the id of its first) and a partial index on it; a layout 2 or 3 file gains what it lacks in
place.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

from smsc.pdu.constants import MessageState
from smsc.store.errors import StoreOpenError, log
from smsc.store.rows import MESSAGE_COLUMNS, STATE_COLUMNS

SCHEMA_VERSION = 4
ENROUTE = int(MessageState.ENROUTE)

_MULTI_INDEX = ("CREATE INDEX IF NOT EXISTS messages_multi ON messages (multi_id) "
                "WHERE multi_id != 0")
"""A submit_multi's later destinations by its id (no entry for any other message)."""

TABLES = (
    """CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL, service_type TEXT NOT NULL, source_addr TEXT NOT NULL,
    destination_addr TEXT NOT NULL, network TEXT NOT NULL,
    addressing INTEGER NOT NULL, flags INTEGER NOT NULL, payload BLOB NOT NULL,
    extra BLOB NOT NULL, submitted_at REAL, expires_at REAL, schedule_at REAL,
    state INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_at REAL, final_at REAL,
    network_error_code INTEGER, fate BLOB NOT NULL DEFAULT x'',
    multi_id INTEGER NOT NULL DEFAULT 0)""",
    f"CREATE INDEX IF NOT EXISTS messages_pending ON messages (state) WHERE state = {ENROUTE}",
    "CREATE INDEX IF NOT EXISTS messages_replace ON messages "
    f"(system_id, destination_addr, source_addr, service_type) WHERE state = {ENROUTE}",
    _MULTI_INDEX,
    """CREATE TABLE IF NOT EXISTS outbound (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL, kind TEXT NOT NULL, message_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS finished (
    first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, final_at REAL NOT NULL)""",
)
"""Messages, owed outbound items, and runs of finished message ids (oldest first by rowid)."""

_LAYOUT_3_COLUMNS = tuple(c for c in MESSAGE_COLUMNS + STATE_COLUMNS if c != "multi_id")
_FROM_LAYOUT_1 = (
    "ALTER TABLE messages RENAME TO messages_layout_1",
    "DROP INDEX IF EXISTS messages_pending",
    "DROP INDEX IF EXISTS messages_replace",
    "DROP INDEX IF EXISTS messages_final",
    "DROP INDEX IF EXISTS outbound_system",
    *TABLES,
    f"""INSERT INTO messages (id, {', '.join(_LAYOUT_3_COLUMNS)})
    SELECT id, system_id, service_type, source_addr, destination_addr, network,
        (source_addr_ton << 24) | (source_addr_npi << 16) | (dest_addr_ton << 8)
            | dest_addr_npi,
        esm_class | (protocol_id << 8) | (priority_flag << 16) | (registered_delivery << 24)
            | (data_coding << 32) | (replace_if_present << 40) | ((direction = 'mo') << 41),
        payload, extra, submitted_at, expires_at, schedule_at, x'',
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

_FROM_LAYOUT_3 = (
    "ALTER TABLE messages ADD COLUMN multi_id INTEGER NOT NULL DEFAULT 0",
    _MULTI_INDEX,
)
"""Layout 3 had no submit_multi link: every message it holds is its own (multi_id 0)."""

_FROM_LAYOUT_2 = ("ALTER TABLE messages ADD COLUMN fate BLOB NOT NULL DEFAULT x''",
                  *_FROM_LAYOUT_3)
"""Layout 2 had no fate column: its rows get an empty one (SQLite adds the column without
rewriting a row); nor multi_id."""


_PROBLEMS = {
    sqlite3.SQLITE_NOTADB: "not an SQLite database",
    sqlite3.SQLITE_CORRUPT: "damaged",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened",
    sqlite3.SQLITE_PERM: "cannot be opened",
    sqlite3.SQLITE_READONLY: "cannot be written",
    sqlite3.SQLITE_BUSY: "in use by another process",
    sqlite3.SQLITE_LOCKED: "in use by another process",
    sqlite3.SQLITE_IOERR: "cannot be read",
    sqlite3.SQLITE_FULL: "cannot be written: the disk is full",
}
"""SQLite's primary result codes at opening, as the problem they mean for the file."""


class StoreLayoutError(StoreOpenError):
    """The database was written by a newer layout than this version knows."""


def open_error(where: str, error: Exception) -> StoreOpenError:
    """`error`, met while opening the store at `where`, as the one line StoreOpenError says."""
    code = getattr(error, "sqlite_errorcode", None)
    problem = _PROBLEMS.get(-1 if code is None else code & 0xFF, "cannot be read")
    return StoreOpenError(f"{where}: {problem} ({error})")


def open_database(path: Path, *, synchronous: str, caller_checkpoints: bool
                  ) -> sqlite3.Connection:
    """The store's connection to `path` (WAL; SQLite's own checkpoints off when the caller
    takes them over), its tables there and up to date."""
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
    where = str(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size if path.exists() else None
    except OSError as error:
        raise StoreOpenError(f"{where}: cannot be opened ({error.strerror})") from error
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as error:
        raise open_error(where, error) from error
    try:
        statements = layout_statements(db, where)  # before anything is changed
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        if caller_checkpoints:
            db.execute("PRAGMA wal_autocheckpoint = 0")
        write_layout(db, where, statements)
    except BaseException as error:
        db.close()
        if isinstance(error, sqlite3.Error):
            raise open_error(where, error) from error
        raise
    if size is None:
        log.info("%s: no database yet; starting a new store", where)
    elif size == 0:
        log.warning("%s: empty file; starting a new store", where)
    return db


def layout_statements(db: sqlite3.Connection, where: str) -> tuple[str, ...]:
    """What brings the database to this layout: the tables of a new one, the upgrade of an
    earlier one, nothing for one of this layout (its tables checked). Reads only: a database
    with other tables is not an SMSC store's (StoreOpenError), and is left as it is."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise StoreLayoutError(
            f"{where}: written in store layout {version} by a newer version; this one reads "
            f"layouts up to {SCHEMA_VERSION}")
    if version == SCHEMA_VERSION:
        _check_layout(db, where, SCHEMA_VERSION)
        return ()
    if version == 3:
        _check_layout(db, where, 3)
        return _FROM_LAYOUT_3
    if version == 2:
        _check_layout(db, where, 2)
        return _FROM_LAYOUT_2
    tables = {name for (name,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'")}
    if not tables:
        return TABLES
    if "messages" in tables and tables <= {"messages", "outbound"}:
        return _FROM_LAYOUT_1
    raise StoreOpenError(f"{where}: not an SMSC store (its tables: {', '.join(sorted(tables))})")


def write_layout(db: sqlite3.Connection, where: str, statements: tuple[str, ...]) -> None:
    """Run `layout_statements` in one transaction (a failure leaves the database as it
    was)."""
    if not statements:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException as error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        if statements is _FROM_LAYOUT_1 and isinstance(error, sqlite3.OperationalError):
            raise StoreOpenError(
                f"{where}: not an SMSC store of layout 1 ({error})") from error
        raise


@cache
def _layout_columns() -> dict[str, tuple[str, ...]]:
    """Each table of this layout and its columns, as SQLite reports them."""
    model = sqlite3.connect(":memory:")
    try:
        for statement in TABLES:
            model.execute(statement)
        return {table: _columns(model, table) for table in ("messages", "outbound", "finished")}
    finally:
        model.close()


def _columns(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
    return tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))


def _check_layout(db: sqlite3.Connection, where: str, layout: int) -> None:
    """Refuse a database whose tables are not those of `layout` (this one; 3: this one's
    without the messages' last column, multi_id; 2: without its last two, fate too)."""
    for table, columns in _layout_columns().items():
        if layout < SCHEMA_VERSION and table == "messages":
            columns = columns[:layout - SCHEMA_VERSION]
        found = _columns(db, table)
        if found != columns:
            what = f"columns {', '.join(found)}" if found else "missing"
            raise StoreOpenError(
                f"{where}: not an SMSC store of layout {layout} (table {table}: {what})")
