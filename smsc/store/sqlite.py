"""Durable MessageStore on SQLite (WAL): every accepted message and owed notification on disk.

One connection, used by one caller at a time (the committer's worker thread). Each `apply` is
one transaction. The due index and the per-account pending counts live in memory and are
rebuilt from the table at open, so claiming a message writes nothing: after a crash every
unfinished message is simply due again, and every unacknowledged notification pending again.

Beside this module: the row codec (`rows`), the statements (`sqlite_statements`), the tables
(`sqlite_schema`), the outbound queue's memory (`outbound_mirror`), purges and checkpoints
(`sqlite_upkeep`), and what both stores keep (`bookkeeping`).
"""

from __future__ import annotations

import heapq
import sqlite3
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from smsc.pdu.constants import INTERMEDIATE_NOTIFICATION_BIT, MessageState
from smsc.store.bookkeeping import Bookkeeping
from smsc.store.models import (
    UNDER_WAY,
    AcceptRefused,
    BatchResult,
    Direction,
    FirstAttempt,
    Message,
    MessageQuery,
    NewMessage,
    OutboundItem,
    OutboundKind,
    RetryPolicy,
    StoreBatch,
    Transition,
    apply_outcome,
    finish,
    first_outcome,
    make_message,
)
from smsc.store.outbound_mirror import MIRROR_LIMIT, Notice, OutboundMirror, OutboundRow
from smsc.store.rows import NO_CODE, NO_TIME, fields_of, message_of, stand_in, time_of
from smsc.store.sqlite_schema import open_layout
from smsc.store.sqlite_statements import (
    COUNT_BY_STATE,
    COUNT_OUTBOUND,
    LAST_ITEM_ID,
    LAST_MESSAGE_ID,
    OUTBOUND_FAILED,
    SELECT_DUE,
    SELECT_OUTBOUND,
    SELECT_OUTBOUND_AFTER,
    SELECT_OWNED,
    SELECT_PENDING_OWNED,
    SELECT_PENDING_TO,
    SELECT_REPLACEABLE,
    UPDATE_FIELDS,
    UPDATE_FIELDS_AND_DUE,
    UPDATE_STATE,
    chunks,
    delete_outbound,
    insert_rows,
    retry_ids,
    select_ids,
    write_finished,
    write_outbound,
)
from smsc.store.sqlite_statements import find as find_statement
from smsc.store.sqlite_upkeep import CHECKPOINT_COMMITS, Checkpoints, purge

__all__ = ["CACHE_SIZE", "CHECKPOINT_COMMITS", "MIRROR_LIMIT", "SqliteStore"]

CACHE_SIZE = 50000
"""Recently written unfinished messages kept as objects, so that claiming them due reads
nothing back (finished ones are told from the outbound mirror, or read from their rows)."""
ENROUTE = int(MessageState.ENROUTE)
DELIVERED = int(MessageState.DELIVERED)
INTERMEDIATE_KIND = OutboundKind.INTERMEDIATE.value
_KINDS = {kind.value: kind for kind in OutboundKind}
"""Stored kind → OutboundKind, without an enum call per claimed item."""
_MT = Direction.MT


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
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        if checkpoints not in ("auto", "caller"):
            raise ValueError(f"checkpoints must be auto or caller, not {checkpoints!r}")
        super().__init__(retry, max_pending)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        if checkpoints == "caller":
            self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._checkpoints = Checkpoints(self._db, self.path, by_caller=checkpoints == "caller")
        open_layout(self._db, str(self.path))
        self._outbound = OutboundMirror(mirror_limit, self._read_outbound_after, self._items_of)
        self._next_message_id = 1
        """The id the next new row gets: AUTOINCREMENT hands out one more than the largest
        ever used, and this store is the database's only writer."""
        self._cache: OrderedDict[int, Message] = OrderedDict()
        self._inserting: list[NewMessage] = []
        """The accepts of the transaction in progress, in the order of their rows."""
        self._inserting_first: list[FirstAttempt] = []
        self._claimed_at_accept: list[int] = []
        """Ids the transaction in progress stored claimed (forgotten if it rolls back)."""
        self._finishing: list[int] = []
        """Ids the transaction in progress finished, written as runs before it commits."""
        self._finishing_at = 0.0
        self._load()

    def _load(self) -> None:
        """Rebuild the in-memory indexes: everything unfinished is due again."""
        db = self._db
        rows = db.execute(SELECT_DUE).fetchall()
        self._due = [(due, message_id) for message_id, _, due in rows]
        heapq.heapify(self._due)
        self._pending = Counter(system_id for _, system_id, _ in rows)
        last = db.execute(LAST_ITEM_ID).fetchone()
        # items in flight stay leased (a rolled-back batch reloads)
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
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._inserting = []
            self._inserting_first = []
            self._claimed_at_accept = []
            self._finishing, self._finishing_at = [], 0.0
            accepted = result.accepted
            accept = self._accept
            for new, first in batch.accepts_with_firsts():
                accepted.append(accept(new, now, first))
            self._insert(now)
            updates: list[tuple[Any, ...]] = []
            notices: list[Notice] = []
            for message_id, outcome in batch.outcomes:
                message = self._claimed.pop(message_id, None)
                if message is None:
                    continue
                transition = apply_outcome(message, outcome, now, self.retry)
                self._collect(transition, updates, notices)
            self._write_transitions(updates, notices)
            if batch.outbound_sent:
                delete_outbound(db, batch.outbound_sent)
            if batch.outbound_failed:
                db.executemany(OUTBOUND_FAILED, [(i,) for i in batch.outbound_failed])
            if self._finishing:
                self._write_finished()
            db.execute("COMMIT")
            self._checkpoints.commits += 1
        except BaseException:
            db.execute("ROLLBACK")
            for message_id in self._claimed_at_accept:  # their ids were never written
                self._claimed.pop(message_id, None)
            self._cache.clear()
            self._load()
            raise
        self._outbound.acknowledged(batch.outbound_sent)
        self._outbound.failed(batch.outbound_failed)
        return result

    def _accept(self, new: NewMessage, now: datetime, first: FirstAttempt
                ) -> int | AcceptRefused:
        mobile_terminated = new.direction is _MT
        if mobile_terminated and new.replace_if_present:
            existing = self._db.execute(
                SELECT_REPLACEABLE,
                (new.system_id, new.destination_addr, new.source_addr, new.service_type),
            ).fetchone()
            if existing is not None and existing[0] not in self._claimed:
                values = fields_of(replace(new, replace_if_present=False))
                self._db.execute(UPDATE_FIELDS, (*values, existing[0]))
                self._cache.pop(existing[0], None)
                return int(existing[0])
        if mobile_terminated and self.max_pending:
            limit = self.max_pending.get(new.system_id, 0)
            if limit and self._pending[new.system_id] + sum(
                1 for other in self._inserting if other.system_id == new.system_id
            ) >= limit:
                return AcceptRefused.QUEUE_FULL
        self._inserting.append(new)
        self._inserting_first.append(first)
        return self._next_message_id + len(self._inserting) - 1

    def _insert(self, now: datetime) -> None:
        """Write the batch's new rows, each with the state its first attempt left it in (a
        message the network took at once is written finished: one write, no index churn)."""
        if not self._inserting:
            return
        first_id = self._next_message_id
        notices: list[Notice] = []
        remember = self._remember
        due_heap = self._due
        pending = self._pending
        states = self._states
        retry = self.retry
        on_final = self.on_final
        now_ts = now.timestamp()
        mo = Direction.MO
        enroute = MessageState.ENROUTE
        finishing = self._finishing
        self._finishing_at = now_ts
        # each new row as two tuples, its MESSAGE_COLUMNS and then its STATE_COLUMNS values:
        # flattened into a statement's parameters either way, so never joined
        rows: list[tuple[Any, ...]] = []
        row_fields = fields_of
        last_submitted: datetime | None = None
        last_expires: datetime | None = None
        submitted_ts = expires_ts = NO_TIME  # (what stand_in gives None)
        for message_id, (new, first) in enumerate(
            zip(self._inserting, self._inserting_first, strict=True), first_id
        ):
            submitted = new.submitted_at
            if submitted is not last_submitted:  # a chunk's submits share their time objects
                last_submitted, submitted_ts = submitted, stand_in(submitted)
            expires = new.expires_at
            if expires is not last_expires:
                last_expires, expires_ts = expires, stand_in(expires)
            fields = row_fields(new, submitted_ts, expires_ts)
            # cache what was written, from the objects in hand rather than a read back
            if new.direction is mo:
                rows += (fields, (DELIVERED, 0, NO_TIME, now_ts, NO_CODE))
                finishing.append(message_id)
                mobile = Message(message_id, new, MessageState.DELIVERED, 0, None, now)
                states[MessageState.DELIVERED] += 1
                notices.append((new.system_id, OutboundKind.MO, mobile))
                continue
            due = new.schedule_at or new.submitted_at or now
            if (new.registered_delivery & INTERMEDIATE_NOTIFICATION_BIT
                    and self.accepted_notice is not None and self.accepted_notice(new)):
                notices.append((new.system_id, OutboundKind.ACCEPTED,
                                make_message(message_id, new, enroute, 0, due)))
            if first is None or first is UNDER_WAY:
                message = make_message(message_id, new, enroute, 0, due)
                due_ts = due.timestamp()
                rows += (fields, (ENROUTE, 0, due_ts, NO_TIME, NO_CODE))
                remember(message)
                states[MessageState.ENROUTE] += 1
                pending[new.system_id] += 1
                if first is None:
                    heapq.heappush(due_heap, (due_ts, message_id))
                else:
                    self._claimed[message_id] = message
                    self._claimed_at_accept.append(message_id)
                continue
            transition = first_outcome(message_id, new, first, due, now, retry)
            done = transition.message
            state = done.state
            state_code = state._value_
            if done.final_at is not None:  # the usual: finished at once, never pending
                code = done.network_error_code
                rows += (fields, (state_code, done.attempts, NO_TIME, now_ts,
                                          NO_CODE if code is None else code))
                finishing.append(message_id)
                states[state] += 1
                if on_final is not None:
                    on_final(done)
            else:
                remember(done)
                retry_ts = done.next_attempt_at.timestamp()  # type: ignore[union-attr]
                code = done.network_error_code
                rows += (fields, (ENROUTE, done.attempts, retry_ts, NO_TIME,
                                          NO_CODE if code is None else code))
                states[state] += 1
                pending[new.system_id] += 1
                heapq.heappush(due_heap, (retry_ts, message_id))
            notify = transition.notify
            if notify is not None:
                notices.append((new.system_id, notify, done))
            for kind in transition.acks:
                notices.append((new.system_id, kind, done))
        insert_rows(self._db, rows)
        self._next_message_id = first_id + len(rows) // 2
        if notices:
            self._queue_notices(notices)

    def _write_finished(self) -> None:
        """Record the transaction's finished ids as runs of consecutive ids, for the purge."""
        write_finished(self._db, self._finishing, self._finishing_at)
        self._finishing = []

    def _collect(
        self,
        transition: Transition,
        updates: list[tuple[Any, ...]],
        notices: list[Notice],
    ) -> None:
        message = transition.message
        updates.append((
            int(message.state), message.attempts, stand_in(message.next_attempt_at),
            stand_in(message.final_at),
            NO_CODE if message.network_error_code is None else message.network_error_code,
            message.message_id,
        ))
        self._count_transition(transition, notices)

    def _count_transition(
        self, transition: Transition, notices: list[Notice]
    ) -> None:
        """Indexes, counts and owed notices after an ENROUTE message changed (its row is
        written by the caller)."""
        message = transition.message
        if message.is_final:
            self._cache.pop(message.message_id, None)  # read from its row, if ever again
            self._finishing.append(message.message_id)
            self._finishing_at = max(self._finishing_at,
                                     message.final_at.timestamp())  # type: ignore[union-attr]
            self._pending[message.system_id] -= 1
            self._states[MessageState.ENROUTE] -= 1  # only ENROUTE messages change state
            self._states[message.state] += 1
            if self.on_final is not None:
                self.on_final(message)
        else:
            self._remember(message)
            if message.next_attempt_at is not None:
                heapq.heappush(self._due,
                               (message.next_attempt_at.timestamp(), message.message_id))
        if transition.notify is not None:
            notices.append((message.system_id, transition.notify, message))
        for kind in transition.acks:
            notices.append((message.system_id, kind, message))

    def _write_transitions(
        self, updates: list[tuple[Any, ...]], notices: list[Notice]
    ) -> None:
        if updates:
            self._db.executemany(UPDATE_STATE, updates)
        if notices:
            self._queue_notices(notices)

    def _queue_notices(self, notices: list[Notice]) -> None:
        """Insert owed notices (system_id, kind, message as it is to be told) under ids of
        our own counting, and mirror them for their accounts' claims."""
        write_outbound(self._db, self._outbound.queue(notices))

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
        for message in self._fetch(list(ids)):
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
            self._write_now(expired)
        return claimed

    def _remember(self, message: Message) -> None:
        cache = self._cache
        message_id = message.message_id
        if message_id in cache:
            cache.move_to_end(message_id)
        cache[message_id] = message
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)

    def _fetch(self, ids: Sequence[int]) -> list[Message]:
        cache = self._cache
        if all(i in cache for i in ids):
            return [cache[i] for i in ids]
        messages: list[Message] = []
        for chunk in chunks(ids):
            rows = self._db.execute(select_ids(len(chunk)), list(chunk)).fetchall()
            by_id = {row[0]: row for row in rows}
            messages.extend(message_of(by_id[i]) for i in chunk if i in by_id)
        return messages

    def _write_now(self, transitions: list[Transition]) -> None:
        updates: list[tuple[Any, ...]] = []
        notices: list[Notice] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._finishing, self._finishing_at = [], 0.0
            for transition in transitions:
                self._collect(transition, updates, notices)
            self._write_transitions(updates, notices)
            if self._finishing:
                self._write_finished()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._cache.clear()
            self._load()
            raise

    def retry_now(self, message_ids: list[int], now: datetime) -> int:
        ids = [i for i in message_ids if i not in self._claimed]
        moment = now.timestamp()
        moved = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for chunk in chunks(ids):
                moved += self._db.execute(
                    retry_ids(len(chunk)), [moment, *chunk, moment]).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
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

    def _items_of(self, rows: Sequence[tuple[int, str, str, int, int, int]]
                  ) -> list[OutboundItem]:
        """Outbound rows (item_id, system_id, kind, message_id, attempts, state) as items,
        their messages from the cache or the table; an intermediate notification with the
        state it was owed for. An item whose message is gone is left out."""
        cache = self._cache
        missing = [row[3] for row in rows if row[3] not in cache]
        read = {m.message_id: m for m in self._fetch(missing)} if missing else {}
        items: list[OutboundItem] = []
        for item_id, system_id, kind, message_id, attempts, state in rows:
            message = cache.get(message_id) or read.get(message_id)
            if message is None:
                continue
            if kind == INTERMEDIATE_KIND:
                message = replace(message, state=MessageState(state))
            items.append(OutboundItem(item_id, system_id, _KINDS[kind], message, attempts))
        return items

    def release_outbound(self, item_ids: list[int]) -> None:
        self._outbound.release(item_ids)

    def systems_with_outbound(self) -> set[str]:
        return self._outbound.systems()

    # -- lookups and changes ------------------------------------------------------------

    def query(self, message_id: int, system_id: str) -> Message | None:
        row = self._db.execute(SELECT_OWNED, (message_id, system_id)).fetchone()
        return None if row is None else message_of(row)

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
            rows = self._db.execute(
                SELECT_PENDING_OWNED,
                (message_id, system_id),
            ).fetchall()
        else:
            rows = self._db.execute(
                SELECT_PENDING_TO,
                (system_id, destination_addr),
            ).fetchall()
        transitions = []
        for row in rows:
            message = message_of(row)
            if message.fields.direction is not Direction.MT:
                continue
            if source_addr and message.fields.source_addr != source_addr:
                continue
            if service_type and message.fields.service_type != service_type:
                continue
            self._claimed.pop(message.message_id, None)
            transitions.append(finish(message, MessageState.DELETED, now))
        if transitions:
            self._write_now(transitions)
        return len(transitions)

    def _write_replacement(self, message: Message, fields: NewMessage,
                           due: datetime | None) -> None:
        message_id = message.message_id
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(UPDATE_FIELDS_AND_DUE, (*fields_of(fields), stand_in(due), message_id))
        self._db.execute("COMMIT")
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
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            purged_states = purge(db, before.timestamp(), limit)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
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
