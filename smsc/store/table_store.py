"""What the stores on a database table share: writes as one transaction each, applied to
memory only once committed, and everything kept in memory beside the table.

One connection, used by one caller at a time. Each `apply` is one transaction. The due index
and the per-account pending counts live in memory and are built from the table at open, so
claiming a message writes nothing: after a crash every unfinished message is simply due
again, and every unacknowledged notification pending again.

The table is the truth: every write runs in `_write`, which applies to memory only what the
transaction staged (`transaction`) and only once it has committed. A transaction that fails
for a reason outside it (disk full, I/O error, locked, corrupt, the connection lost) raises
StoreWriteError and leaves the store, in the database and in memory, as it was; the next
write may succeed.

A subclass brings the database: its transaction control, its reads, and its `TableWrites`.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from smsc.pdu.constants import MessageState
from smsc.store.bookkeeping import Bookkeeping
from smsc.store.errors import StoreWriteError, WriteFaults, log
from smsc.store.message_cache import MessageCache
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
from smsc.store.outbound_mirror import OutboundMirror, OutboundRow
from smsc.store.rows import fields_of, message_of, stand_in, time_of
from smsc.store.transaction import TableWrites, Transaction

T = TypeVar("T")
EXPIRY_RETRY = 1.0
"""Seconds after which claim_due tries again to write messages that expired while they
waited, when writing them failed (soon, but not in a loop while the disk is full)."""


class TableStore(Bookkeeping[float]):
    """See `base.MessageStore` for the contract and the module docstring for the design."""

    def __init__(
        self,
        where: str,
        *,
        retry: RetryPolicy | None,
        max_pending: dict[str, int] | None,
        mirror_limit: int,
        on_final: Callable[[Message], None] | None,
        accepted_notice: Callable[[NewMessage], bool] | None,
    ) -> None:
        super().__init__(retry, max_pending, on_final, accepted_notice)
        self.where = where
        """The database as log lines and errors name it."""
        self._faults = WriteFaults(where)
        self._cache = MessageCache(self._read_ids)
        self._outbound = OutboundMirror(mirror_limit, self._read_outbound_after,
                                        self._cache.items_of)
        self._next_message_id = 1
        """The id the next new row gets."""
        self._handed: set[int] = set()
        """Messages handed to another node whose due index entries may still be queued:
        skipped when claimed, dropped when the index is next compacted (`_handed_away`)."""
        self._transaction: Transaction

    def _loaded(
        self,
        writes: TableWrites,
        *,
        due: Iterable[tuple[int, str, float]],
        states: Iterable[tuple[int, int]],
        outbound_counts: Iterable[tuple[str, int]],
        outbound_rows: Callable[[], Iterable[OutboundRow]],
        next_message_id: int,
        next_item_id: int,
    ) -> None:
        """Build the in-memory indexes from the table (at open: everything unfinished is due
        again): the (id, account, due time) of each ENROUTE message, the count per state and
        per account owed items, all owed items in id order (read only if some account fits
        in the mirror), and the next ids."""
        rows = list(due)
        self._due = [(at, message_id) for message_id, _, at in rows]
        heapq.heapify(self._due)
        self._pending = Counter(system_id for _, system_id, _ in rows)
        self._outbound.load(Counter(dict(outbound_counts)), next_item_id, outbound_rows)
        self._next_message_id = next_message_id
        self._states = Counter({MessageState(state): count for state, count in states})
        self._transaction = Transaction(writes, self._claimed, self._pending, self.retry,
                                        self.max_pending)

    def _entry_current(self, at: float, message_id: int) -> bool:
        return message_id not in self._handed

    def _due_key(self, moment: datetime) -> float:
        return moment.timestamp()

    def _due_time(self, at: float) -> datetime:
        return time_of(at)  # type: ignore[return-value]

    # -- what the database brings -----------------------------------------------------------

    def _begin(self) -> None:
        """Start a transaction (after a failed one that may not have ended)."""
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _roll_back(self) -> None:
        """End a failed transaction, whatever state it was left in (never raises)."""
        raise NotImplementedError

    def _is_fault(self, error: BaseException) -> bool:
        """Whether `error` is a fault of the disk, the database or the connection rather
        than of the batch (the same write may succeed later)."""
        raise NotImplementedError

    def _read_ids(self, ids: Sequence[int]) -> list[Any]:
        """The rows (id, then the row codec's columns) of up to 500 message ids."""
        raise NotImplementedError

    def _read_outbound_after(self, item_id: int, system_id: str, count: int
                             ) -> list[OutboundRow]:
        raise NotImplementedError

    def _read_pending(self, system_id: str, destination_addr: str) -> list[Any]:
        """The account's pending rows to `destination_addr`."""
        raise NotImplementedError

    def _read_found(self, query: MessageQuery) -> list[Any]:
        """The rows matching `query`, newest first, at most `query.limit`."""
        raise NotImplementedError

    def _move_due(self, message_ids: list[int], moment: float) -> int:
        """In a transaction: make these pending messages due at `moment` if they wait past
        it; how many did."""
        raise NotImplementedError

    def _update_fields_and_due(self, values: tuple[Any, ...], due: float, message_id: int
                               ) -> None:
        """In a transaction: write a message's fields and next attempt time."""
        raise NotImplementedError

    # -- writes --------------------------------------------------------------------------

    def apply(self, batch: StoreBatch, now: datetime) -> BatchResult:
        result = BatchResult()
        self._write(Transaction.write_batch, batch, now, result.accepted)
        self._outbound.acknowledged(batch.outbound_acknowledged)
        self._outbound.failed(batch.outbound_failed)
        return result

    def _write(self, write: Callable[..., T], *args: Any) -> T:
        """Run `write(transaction, *args)` in one transaction, and apply what it staged once
        it has committed. A fault of the disk or the database raises StoreWriteError,
        anything else as it came; either way the transaction is rolled back and memory left
        as it was."""
        transaction = self._transaction
        try:
            self._begin()  # (before the next ids are read: it may move them)
            transaction.begin(self._next_message_id, self._outbound.next_item_id,
                              self.accepted_notice)
            result = write(transaction, *args)
            transaction.write_finished()
            self._commit()
        except BaseException as error:
            transaction.drop()
            self._roll_back()
            if not self._is_fault(error):
                raise
            self._faults.failure(error)
            raise StoreWriteError(f"{self.where}: {error}") from error
        if self._faults.failed:
            self._faults.success()
        try:
            self._committed(transaction)
        except BaseException:  # (interrupted: the next transaction starts with nothing)
            transaction.drop()
            raise
        return result

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
        claimed_ids = self._claimed
        handed = self._handed
        while due and len(ids) < limit and due[0][0] <= moment:
            _, message_id = heapq.heappop(due)
            if message_id not in claimed_ids and message_id not in handed:
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

    def _handed_away(self, message_ids: list[int]) -> None:
        """Forget these messages' due index entries, which another node now owns: lazily,
        so that a hand-over costs what it hands, not the whole index. The index is compacted
        only once the handed ids number half its entries (its cost shared among them)."""
        handed = self._handed
        handed.update(message_ids)
        if 2 * len(handed) > len(self._due):
            self._due = [entry for entry in self._due if entry[1] not in handed]
            heapq.heapify(self._due)
            handed.clear()

    def _due_again(self, message_id: int) -> None:
        """A message this node owns again (handed back, or taken over): its index entries
        count again (claim_due skips those made stale by a newer due time)."""
        self._handed.discard(message_id)

    def retry_now(self, message_ids: list[int], now: datetime) -> int:
        ids = [i for i in message_ids if i not in self._claimed]
        moment = now.timestamp()
        moved = self._write(lambda transaction: self._move_due(ids, moment))
        for message_id in ids:
            self._cache.pop(message_id, None)
            heapq.heappush(self._due, (moment, message_id))  # claim_due skips stale entries
        return moved

    # -- outbound ---------------------------------------------------------------------------

    def claim_outbound(self, system_id: str, limit: int) -> list[OutboundItem]:
        return self._outbound.claim(system_id, limit)

    def release_outbound(self, item_ids: list[int]) -> None:
        self._outbound.release(item_ids)

    def systems_with_outbound(self) -> set[str]:
        return self._outbound.systems()

    def outbound_counts(self) -> dict[str, int]:
        return self._outbound.owed()

    # -- lookups and changes ------------------------------------------------------------

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
        if message_id is not None:  # what the ESME was given: a submit_multi's every member
            messages = [m for m in self.group(message_id, system_id) if not m.is_final]
        else:
            messages = [message_of(row) for row in self._read_pending(system_id,
                                                                      destination_addr)]
        transitions: list[Transition] = []
        for message in self._own(messages):
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
        self._write(lambda transaction: self._update_fields_and_due(
            fields_of(fields), stand_in(due), message_id))
        self._cache.pop(message_id, None)

    def find(self, query: MessageQuery) -> list[Message]:
        cache = self._cache
        # the cache holds the newest state of a claimed message too (same as the row)
        return [cache.get(row[0]) or message_of(row) for row in self._read_found(query)]

    def _purged(self, states: list[int]) -> int:
        """Count out the messages a purge deleted (their states); how many."""
        counts = self._states
        for state in states:
            counts[MessageState(state)] -= 1
        return len(states)


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
