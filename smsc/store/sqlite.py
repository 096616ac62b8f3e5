"""Durable MessageStore on SQLite (WAL): every accepted message and owed notification on disk.

The design is the table stores' (`table_store`): one connection used by one caller at a time
(the committer's worker thread), one transaction per `apply`, memory changed only once a
transaction has committed. This module is what is SQLite's: the file (`sqlite_schema`), the
statements (`sqlite_statements`), the ids (AUTOINCREMENT, counted in memory: this store is
the database's only writer), purges and checkpoints (`sqlite_upkeep`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from smsc.store.message_cache import CACHE_SIZE
from smsc.store.models import (
    BatchResult,
    Message,
    MessageQuery,
    NewMessage,
    RetryPolicy,
    StoreBatch,
)
from smsc.store.outbound_mirror import MIRROR_LIMIT, OutboundRow
from smsc.store.purge import purge
from smsc.store.rows import chunks, message_of
from smsc.store.sqlite_schema import open_database, open_error
from smsc.store.sqlite_statements import (
    COUNT_BY_STATE,
    COUNT_OUTBOUND,
    LAST_ITEM_ID,
    LAST_MESSAGE_ID,
    SELECT_DUE,
    SELECT_MEMBERS,
    SELECT_OUTBOUND,
    SELECT_OUTBOUND_AFTER,
    SELECT_OWNED,
    SELECT_PENDING_TO,
    UPDATE_FIELDS_AND_DUE,
    SqliteWrites,
    is_fault,
    retry_ids,
    select_ids,
)
from smsc.store.sqlite_statements import find as find_statement
from smsc.store.sqlite_upkeep import CHECKPOINT_COMMITS, PURGE, Checkpoints
from smsc.store.table_store import TableStore

__all__ = ["CACHE_SIZE", "CHECKPOINT_COMMITS", "MIRROR_LIMIT", "SqliteStore"]


class SqliteStore(TableStore):
    """See `base.MessageStore` for the contract and `table_store` for the design."""

    def __init__(
        self,
        path: Path | str,
        *,
        retry: RetryPolicy | None = None,
        max_pending: dict[str, int] | None = None,
        synchronous: str = "NORMAL",
        mirror_limit: int = MIRROR_LIMIT,
        checkpoints: str = "auto",
        on_final: Callable[[Message], None] | None = None,
        accepted_notice: Callable[[NewMessage], bool] | None = None,
    ) -> None:
        if checkpoints not in ("auto", "caller"):
            raise ValueError(f"checkpoints must be auto or caller, not {checkpoints!r}")
        super().__init__(str(path), retry=retry, max_pending=max_pending,
                         mirror_limit=mirror_limit, on_final=on_final,
                         accepted_notice=accepted_notice)
        self.path = Path(path)
        self._writes = SqliteWrites(open_database(
            self.path, synchronous=synchronous, caller_checkpoints=checkpoints == "caller"))
        self._checkpoints = Checkpoints(self._db, self.path, by_caller=checkpoints == "caller")
        try:
            self._load()
        except (sqlite3.Error, ValueError) as error:  # damaged, or rows not of ours
            self._db.close()
            raise open_error(str(self.path), error) from error

    @property
    def _db(self) -> sqlite3.Connection:
        """The store's connection (its transactions' writes go through the same one)."""
        return self._writes.db

    @_db.setter
    def _db(self, db: sqlite3.Connection) -> None:
        self._writes.db = db

    def _load(self) -> None:
        db = self._db
        last_item = db.execute(LAST_ITEM_ID).fetchone()
        (last_id,) = db.execute(LAST_MESSAGE_ID).fetchone()
        self._loaded(
            self._writes, due=db.execute(SELECT_DUE).fetchall(),
            states=db.execute(COUNT_BY_STATE), outbound_counts=db.execute(COUNT_OUTBOUND),
            outbound_rows=lambda: db.execute(SELECT_OUTBOUND),
            next_message_id=last_id + 1, next_item_id=(last_item[0] if last_item else 0) + 1)

    # -- transactions ------------------------------------------------------------------------

    def apply(self, batch: StoreBatch, now: datetime) -> BatchResult:
        result = super().apply(batch, now)
        self._checkpoints.commits += 1
        return result

    def _begin(self) -> None:
        if self._db.in_transaction:  # a ROLLBACK failed after an earlier fault
            self._db.execute("ROLLBACK")
        self._db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self._db.execute("COMMIT")

    def _roll_back(self) -> None:
        """End a failed transaction, if SQLite has not (it rolls back itself on some
        errors, SQLITE_FULL among them, and then ROLLBACK fails)."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):  # the next write tries again (`_begin`)
                self._db.execute("ROLLBACK")

    def _is_fault(self, error: BaseException) -> bool:
        return is_fault(error)

    # -- reads and writes -------------------------------------------------------------------

    def _read_ids(self, ids: Sequence[int]) -> list[Any]:
        return self._db.execute(select_ids(len(ids)), list(ids)).fetchall()

    def _read_outbound_after(self, item_id: int, system_id: str, count: int
                             ) -> list[OutboundRow]:
        return self._db.execute(SELECT_OUTBOUND_AFTER, (item_id, system_id, count)).fetchall()

    def _read_pending(self, system_id: str, destination_addr: str) -> list[Any]:
        return self._db.execute(SELECT_PENDING_TO, (system_id, destination_addr)).fetchall()

    def _read_found(self, query: MessageQuery) -> list[Any]:
        return self._db.execute(*find_statement(query)).fetchall()

    def _move_due(self, message_ids: list[int], moment: float) -> int:
        moved = 0
        for chunk in chunks(message_ids):
            moved += self._db.execute(retry_ids(len(chunk)), [moment, *chunk, moment]).rowcount
        return moved

    def _update_fields_and_due(self, values: tuple[Any, ...], due: float, message_id: int
                               ) -> None:
        self._db.execute(UPDATE_FIELDS_AND_DUE, (*values, due, message_id))

    def query(self, message_id: int, system_id: str) -> Message | None:
        row = self._db.execute(SELECT_OWNED, (message_id, system_id)).fetchone()
        return None if row is None else message_of(row)

    def members(self, message_id: int, system_id: str) -> list[Message]:
        rows = self._db.execute(SELECT_MEMBERS, (message_id, system_id)).fetchall()
        return [message_of(row) for row in rows]

    def purge_finished(self, before: datetime, limit: int) -> int:
        """Delete finished messages whose run finished before `before`, oldest runs first,
        until about `limit` are gone (see `sqlite_upkeep.purge`)."""
        cutoff = before.timestamp()
        return self._purged(self._write(lambda transaction: purge(self._db, PURGE, cutoff, limit)))

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint_due(self) -> bool:
        return self._checkpoints.due()

    def checkpoint_alongside(self) -> None:
        self._checkpoints.alongside()

    def checkpoint(self) -> None:
        self._checkpoints.rest()

    def close(self) -> None:
        self._checkpoints.close()
        self._db.close()
