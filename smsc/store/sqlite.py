"""Durable MessageStore on SQLite (WAL): every accepted message and owed notification on disk.

One connection, used by one caller at a time (the committer's worker thread). Each `apply` is
one transaction. The due index and the per-account pending counts live in memory and are
rebuilt from the table at open, so claiming a message writes nothing: after a crash every
unfinished message is simply due again, and every unacknowledged notification pending again.

The table is the truth: every write runs in `_write`, which applies to memory only what the
transaction staged (`sqlite_batch`) and only once it has committed. A transaction that fails
for a reason outside it (disk full, I/O error, locked, corrupt) raises StoreWriteError and
leaves the store, on disk and in memory, as it was; the next write may succeed.

Beside this module: the row codec (`rows`), the statements (`sqlite_statements`), the tables
(`sqlite_schema`), the outbound queue's memory (`outbound_mirror`), purges and checkpoints
(`sqlite_upkeep`), and what both stores keep (`bookkeeping`).
"""

from __future__ import annotations

import heapq
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from smsc.pdu.constants import MessageState
from smsc.store.bookkeeping import Bookkeeping
from smsc.store.errors import StoreWriteError, WriteFaults, log
from smsc.store.models import (
    BatchResult,
    Direction,
    Message,
    MessageQuery,
    NewMessage,
    OutboundItem,
    RetryPolicy,
    StoreBatch,
    Transition,
    finish,
)
from smsc.store.outbound_mirror import MIRROR_LIMIT, OutboundMirror, OutboundRow
from smsc.store.rows import fields_of, message_of, stand_in, time_of
from smsc.store.sqlite_batch import Transaction, is_fault
from smsc.store.sqlite_cache import CACHE_SIZE, MessageCache
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
    chunks,
    retry_ids,
    select_ids,
)
from smsc.store.sqlite_statements import find as find_statement
from smsc.store.sqlite_upkeep import CHECKPOINT_COMMITS, Checkpoints, purge

__all__ = ["CACHE_SIZE", "CHECKPOINT_COMMITS", "MIRROR_LIMIT", "SqliteStore"]

T = TypeVar("T")
EXPIRY_RETRY = 1.0
"""Seconds after which claim_due tries again to write messages that expired while they
waited, when writing them failed (soon, but not in a loop while the disk is full)."""
class SqliteStore(Bookkeeping[float]):
    """See `base.MessageStore` for the contract and the module docstring for the design."""

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
        super().__init__(retry, max_pending, on_final, accepted_notice)
        self.path = Path(path)
        self._db = open_database(self.path, synchronous=synchronous,
                                 caller_checkpoints=checkpoints == "caller")
        self._checkpoints = Checkpoints(self._db, self.path, by_caller=checkpoints == "caller")
        self._faults = WriteFaults(str(self.path))
        self._cache = MessageCache(self._read_ids)
        self._outbound = OutboundMirror(mirror_limit, self._read_outbound_after,
                                        self._cache.items_of)
        self._next_message_id = 1
        """The id the next new row gets: AUTOINCREMENT hands out one more than the largest
        ever used, and this store is the database's only writer."""
        try:
            self._load()
        except (sqlite3.Error, ValueError) as error:  # damaged, or rows not of ours
            self._db.close()
            raise open_error(str(self.path), error) from error
        self._transaction = Transaction(self._db, self._claimed, self._pending, self.retry,
                                        self.max_pending)

    def _load(self) -> None:
        """Build the in-memory indexes (at open): everything unfinished is due again."""
        db = self._db
        rows = db.execute(SELECT_DUE).fetchall()
        self._due = [(due, message_id) for message_id, _, due in rows]
        heapq.heapify(self._due)
        self._pending = Counter(system_id for _, system_id, _ in rows)
        last = db.execute(LAST_ITEM_ID).fetchone()
        self._outbound.load(Counter(dict(db.execute(COUNT_OUTBOUND))),
                            (last[0] if last else 0) + 1, lambda: db.execute(SELECT_OUTBOUND))
        (last_id,) = db.execute(LAST_MESSAGE_ID).fetchone()
        self._next_message_id = last_id + 1
        self._states = Counter({
            MessageState(state): count for state, count in db.execute(COUNT_BY_STATE)})

    def _due_key(self, moment: datetime) -> float:
        return moment.timestamp()

    def _due_time(self, at: float) -> datetime:
        return time_of(at)  # type: ignore[return-value]

    # -- writes --------------------------------------------------------------------------

    def apply(self, batch: StoreBatch, now: datetime) -> BatchResult:
        result = BatchResult()
        self._write(Transaction.write_batch, batch, now, result.accepted)
        self._checkpoints.commits += 1
        self._outbound.acknowledged(batch.outbound_acknowledged)
        self._outbound.failed(batch.outbound_failed)
        return result

    def _write(self, write: Callable[..., T], *args: Any) -> T:
        """Run `write(transaction, *args)` in one transaction, and apply what it staged once
        it has committed. A fault of the disk or the database raises StoreWriteError,
        anything else as it came; either way the transaction is rolled back and memory left
        as it was."""
        db = self._db
        transaction = self._transaction
        transaction.begin(db, self._next_message_id, self._outbound.next_item_id,
                          self.accepted_notice)
        try:
            if db.in_transaction:  # a ROLLBACK failed after an earlier fault
                db.execute("ROLLBACK")
            db.execute("BEGIN IMMEDIATE")
            result = write(transaction, *args)
            transaction.write_finished()
            db.execute("COMMIT")
        except BaseException as error:
            transaction.drop()
            self._roll_back()
            if not is_fault(error):
                raise
            self._faults.failure(error)
            raise StoreWriteError(f"{self.path}: {error}") from error
        if self._faults.failed:
            self._faults.success()
        try:
            self._committed(transaction)
        except BaseException:  # (interrupted: the next transaction starts with nothing)
            transaction.drop()
            raise
        return result

    def _roll_back(self) -> None:
        """End a failed transaction, if SQLite has not (it rolls back itself on some
        errors, SQLITE_FULL among them, and then ROLLBACK fails)."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):  # the next write tries again (`_write`)
                self._db.execute("ROLLBACK")

    def _committed(self, transaction: Transaction) -> None:
        """Apply to memory what a committed transaction staged, emptying it for the next;
        `on_final` last, when the store is all as committed (an observer that fails is
        logged: the write stands)."""
        if transaction.unclaimed:
            _forget(self._claimed, transaction.unclaimed)
        if transaction.claims:
            for message in transaction.claims:
                self._claimed[message.message_id] = message
            transaction.claims.clear()
        if transaction.forget:
            _forget(self._cache, transaction.forget)
        if transaction.remember:
            remember = self._cache.remember
            for message in transaction.remember:
                remember(message)
            transaction.remember.clear()
        if transaction.due:
            due = self._due
            for entry in transaction.due:
                heapq.heappush(due, entry)
            transaction.due.clear()
        if transaction.pending:
            _add(self._pending, transaction.pending)
        if transaction.states:
            _add(self._states, transaction.states)
        self._next_message_id = transaction.next_message_id
        if transaction.notices:
            self._outbound.add(transaction.notices)
            transaction.notices.clear()
        if transaction.finals:
            self._tell_final(transaction.finals)
            transaction.finals.clear()

    def _tell_final(self, finals: list[Message]) -> None:
        on_final = self.on_final
        if on_final is not None:
            for message in finals:
                try:
                    on_final(message)
                except Exception:
                    log.exception("on_final failed for message %d", message.message_id)

    # -- due messages -----------------------------------------------------------------------

    def claim_due(self, now: datetime, limit: int) -> list[Message]:
        moment = now.timestamp()
        ids: dict[int, None] = {}  # ordered and without the duplicates a reschedule leaves
        due = self._due
        while due and len(ids) < limit and due[0][0] <= moment:
            _, message_id = heapq.heappop(due)
            if message_id not in self._claimed:
                ids[message_id] = None
        claimed: list[Message] = []
        expired: list[Transition] = []
        for message in self._cache.fetch(list(ids)):
            if message.state is not MessageState.ENROUTE:
                continue  # finished since it was indexed (cancelled, replaced...)
            if message.next_attempt_at is not None and message.next_attempt_at.timestamp() > moment:
                continue  # rescheduled (replace_sm): its newer index entry is still queued
            expires_at = message.fields.expires_at
            if expires_at is not None and expires_at <= now:
                expired.append(finish(message, MessageState.EXPIRED, now))
                continue
            self._claimed[message.message_id] = message
            claimed.append(message)
        if expired:
            try:
                self._write(lambda transaction: transaction.finish(expired))
            except StoreWriteError:  # they wait, unchanged, to be written a little later
                later = moment + EXPIRY_RETRY
                for transition in expired:
                    heapq.heappush(due, (later, transition.message.message_id))
        return claimed

    def _read_ids(self, ids: Sequence[int]) -> list[Any]:
        return self._db.execute(select_ids(len(ids)), list(ids)).fetchall()

    def retry_now(self, message_ids: list[int], now: datetime) -> int:
        ids = [i for i in message_ids if i not in self._claimed]
        moment = now.timestamp()

        def write(transaction: Transaction) -> int:
            moved = 0
            for chunk in chunks(ids):
                moved += transaction.db.execute(
                    retry_ids(len(chunk)), [moment, *chunk, moment]).rowcount
            return moved

        moved = self._write(write)
        for message_id in ids:
            self._cache.pop(message_id, None)
            heapq.heappush(self._due, (moment, message_id))  # claim_due skips stale entries
        return moved

    # -- outbound ---------------------------------------------------------------------------

    def claim_outbound(self, system_id: str, limit: int) -> list[OutboundItem]:
        return self._outbound.claim(system_id, limit)

    def _read_outbound_after(self, item_id: int, system_id: str, count: int
                             ) -> list[OutboundRow]:
        return self._db.execute(SELECT_OUTBOUND_AFTER, (item_id, system_id, count)).fetchall()

    def release_outbound(self, item_ids: list[int]) -> None:
        self._outbound.release(item_ids)

    def systems_with_outbound(self) -> set[str]:
        return self._outbound.systems()

    # -- lookups and changes ------------------------------------------------------------

    def query(self, message_id: int, system_id: str) -> Message | None:
        row = self._db.execute(SELECT_OWNED, (message_id, system_id)).fetchone()
        return None if row is None else message_of(row)

    def members(self, message_id: int, system_id: str) -> list[Message]:
        rows = self._db.execute(SELECT_MEMBERS, (message_id, system_id)).fetchall()
        return [message_of(row) for row in rows]

    def cancel(
        self,
        *,
        system_id: str,
        now: datetime,
        message_id: int | None = None,
        source_addr: str = "",
        destination_addr: str = "",
        service_type: str = "",
    ) -> int:
        if message_id is not None:
            messages = [m for m in self.group(message_id, system_id) if not m.is_final]
        else:
            rows = self._db.execute(SELECT_PENDING_TO, (system_id, destination_addr)).fetchall()
            messages = [message_of(row) for row in rows]
        transitions: list[Transition] = []
        for message in messages:
            if message.fields.direction is not Direction.MT:
                continue
            if source_addr and message.fields.source_addr != source_addr:
                continue
            if service_type and message.fields.service_type != service_type:
                continue
            transitions.append(finish(message, MessageState.DELETED, now))
        if transitions:
            self._write(lambda transaction: transaction.finish(transitions))
        return len(transitions)

    def _write_replacement(self, message: Message, fields: NewMessage,
                           due: datetime | None) -> None:
        message_id = message.message_id
        self._write(lambda transaction: transaction.db.execute(
            UPDATE_FIELDS_AND_DUE, (*fields_of(fields), stand_in(due), message_id)))
        self._cache.pop(message_id, None)

    def find(self, query: MessageQuery) -> list[Message]:
        rows = self._db.execute(*find_statement(query)).fetchall()
        cache = self._cache
        # the cache holds the newest state of a claimed message too (same as the row)
        return [cache.get(row[0]) or message_of(row) for row in rows]

    def outbound_counts(self) -> dict[str, int]:
        return self._outbound.owed()

    def purge_finished(self, before: datetime, limit: int) -> int:
        """Delete finished messages whose run finished before `before`, oldest runs first,
        until about `limit` are gone (see `sqlite_upkeep.purge`)."""
        cutoff = before.timestamp()
        purged_states = self._write(lambda transaction: purge(transaction.db, cutoff, limit))
        states = self._states
        for state in purged_states:
            states[MessageState(state)] -= 1
        return len(purged_states)

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


K = TypeVar("K")


def _forget(mapping: dict[K, Any], keys: list[K] | dict[K, None]) -> None:
    """Take `keys` out of `mapping` (those it has), and empty `keys`."""
    for key in keys:
        mapping.pop(key, None)
    keys.clear()


def _add(counts: Counter[K], changes: defaultdict[K, int]) -> None:
    """Add `changes` to `counts`, and empty `changes`."""
    for key, change in changes.items():
        counts[key] += change
    changes.clear()
