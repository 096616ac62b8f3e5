"""Durable MessageStore on SQLite (WAL): every accepted message and owed notification on disk.

One connection, used by one caller at a time (the committer's worker thread). Each `apply` is
one transaction. The due index and the per-account pending counts live in memory and are
rebuilt from the table at open, so claiming a message writes nothing: after a crash every
unfinished message is simply due again, and every unacknowledged notification pending again.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

from smsc.pdu.constants import INTERMEDIATE_NOTIFICATION_BIT, MessageState
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
    make_outbound_item,
    replaced,
)
from smsc.store.sqlite_schema import (
    MESSAGE_COLUMNS,
    STATE_COLUMNS,
    open_layout,
)

CACHE_SIZE = 50000
"""Recently written unfinished messages kept as objects, so that claiming them due reads
nothing back (finished ones are told from the outbound mirror, or read from their rows)."""
MIRROR_LIMIT = 100_000
"""Outbound items kept in memory too (all accounts together), so that claiming them reads
nothing; an account whose items would pass the limit (a receiver gone for long) is claimed
from the table instead until its queue is empty again, so the memory stays bounded."""
ENROUTE = int(MessageState.ENROUTE)
DELIVERED = int(MessageState.DELIVERED)
INTERMEDIATE_KIND = OutboundKind.INTERMEDIATE.value
_KINDS = {kind.value: kind for kind in OutboundKind}
"""Stored kind → OutboundKind, without an enum call per claimed item."""
CHECKPOINT_COMMITS = 200
CHECKPOINT_CHANGES = 20_000
"""When a store whose caller took over checkpoints asks for one (`checkpoint_due`)."""
PURGE_RUNS = 500
"""Finished runs read per step of a purge."""
_COLUMNS = MESSAGE_COLUMNS + STATE_COLUMNS
_NO_TIME = 0.0
_NO_CODE = -1
_NULLABLE = {"submitted_at": _NO_TIME, "expires_at": _NO_TIME, "schedule_at": _NO_TIME,
             "next_attempt_at": _NO_TIME, "final_at": _NO_TIME,
             "network_error_code": _NO_CODE}
"""Columns that may be NULL, and the value rows carry instead of None. sqlite3 sends every
None parameter through its adapter lookup (several failed attribute lookups, some 1,700
instructions), a float or int not; the statements turn the stand-in back into NULL."""


def _placeholder(column: str) -> str:
    stand_in = _NULLABLE.get(column)
    return "?" if stand_in is None else f"NULLIF(?, {stand_in!r})"


_ROW_VALUES = f"({', '.join(_placeholder(c) for c in _COLUMNS)})"
_INSERT_ROWS = {
    count: f"INSERT INTO messages ({', '.join(_COLUMNS)}) VALUES "
           + ", ".join([_ROW_VALUES] * count)
    for count in (64, 32, 16, 8, 4, 2, 1)
}
"""INSERTs of that many rows: a batch goes in as a few of them, largest first. One
statement for many rows is stepped once (sqlite3 lets go of the GIL and takes it back
around every step, and each step costs thousands of instructions of its own)."""
_SET_FIELDS = ", ".join(f"{column} = {_placeholder(column)}" for column in MESSAGE_COLUMNS)
"""The SET clause that writes every column of `MESSAGE_COLUMNS` (values from `_fields_of`)."""


_UPDATE_STATE = (
    f"UPDATE messages SET {', '.join(f'{c} = {_placeholder(c)}' for c in STATE_COLUMNS)} "
    "WHERE id = ?"
)
_SELECT = f"SELECT id, {', '.join(MESSAGE_COLUMNS + STATE_COLUMNS)} FROM messages"
_INSERT_OUTBOUND = (
    "INSERT INTO outbound (item_id, system_id, kind, message_id, state) VALUES (?, ?, ?, ?, ?)")
_INSERT_OUTBOUND_RUN = (
    "INSERT INTO outbound (item_id, system_id, kind, message_id, state) "
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
    "SELECT ? + i, ?, ?, ? + i, ? FROM n"
)
"""Rows for consecutive items and messages (item and message ids counted up from the first)."""
_RUN_AT_LEAST = 3
"""Shortest run written as one statement (below it, binding each row costs less)."""


def _stand_in(moment: datetime | None) -> float:
    """A time as the statements take it: a timestamp, or `_NO_TIME` for none."""
    return _NO_TIME if moment is None else moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _fields_of(new: NewMessage, submitted: float | None = None, expires: float | None = None
               ) -> tuple[Any, ...]:
    """A message's `MESSAGE_COLUMNS` values, the one-octet fields packed as that says; octets
    as bytearray, which sqlite3 binds directly (bytes, like None, first goes through its
    adapter lookup: several times the cost of the copy). `submitted` and `expires`, when
    given, are the submit and expiry times as `_stand_in` makes them (a caller that met the
    same time objects before saves converting them again: 2,000 instructions each)."""
    schedule = new.schedule_at
    if submitted is None:
        submitted = _stand_in(new.submitted_at)
    if expires is None:
        expires = _stand_in(new.expires_at)
    return (
        new.system_id, new.service_type, new.source_addr, new.destination_addr, new.network,
        new.source_addr_ton << 24 | new.source_addr_npi << 16 | new.dest_addr_ton << 8
        | new.dest_addr_npi,
        new.esm_class | new.protocol_id << 8 | new.priority_flag << 16
        | new.registered_delivery << 24 | new.data_coding << 32
        | new.replace_if_present << 40 | (new.direction is _MO) << 41,
        bytearray(new.payload), bytearray(extra) if (extra := new.extra) else _NO_OCTETS,
        submitted, expires, _NO_TIME if schedule is None else schedule.timestamp(),
    )


_MO = Direction.MO
_MT = Direction.MT
_NO_OCTETS = bytearray()
"""The value bound for empty octets (never changed: sqlite3 copies what it binds)."""
_Notice = tuple[str, OutboundKind, Message]
"""An owed notification being queued: account, kind, the message as it is to be told."""


def _message_of(row: Sequence[Any]) -> Message:
    (message_id, system_id, service_type, source_addr, destination_addr, network, addressing,
     flags, payload, extra, submitted_at, expires_at, schedule_at, state, attempts,
     next_attempt_at, final_at, network_error_code) = row
    fields = NewMessage(
        system_id=system_id, destination_addr=destination_addr, payload=bytes(payload),
        direction=Direction.MO if flags >> 41 & 1 else Direction.MT,
        service_type=service_type, source_addr_ton=addressing >> 24 & 0xFF,
        source_addr_npi=addressing >> 16 & 0xFF, source_addr=source_addr,
        dest_addr_ton=addressing >> 8 & 0xFF, dest_addr_npi=addressing & 0xFF,
        esm_class=flags & 0xFF, protocol_id=flags >> 8 & 0xFF,
        priority_flag=flags >> 16 & 0xFF, registered_delivery=flags >> 24 & 0xFF,
        data_coding=flags >> 32 & 0xFF, submitted_at=_dt(submitted_at),
        expires_at=_dt(expires_at), schedule_at=_dt(schedule_at),
        replace_if_present=bool(flags >> 40 & 1), network=network, extra=bytes(extra),
    )
    return Message(
        message_id, fields, MessageState(state), attempts, _dt(next_attempt_at),
        _dt(final_at), network_error_code,
    )


def _chunks(values: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class SqliteStore:
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
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retry = retry or RetryPolicy()
        self.max_pending = max_pending or {}
        self._mirror_limit = mirror_limit
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        if checkpoints == "caller":
            self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._checkpoints_by_caller = checkpoints == "caller"
        self._commits_since_checkpoint = 0
        self._changes_at_checkpoint = 0
        self._checkpointer: sqlite3.Connection | None = None
        """The connection `checkpoint_alongside` uses (opened on its first call)."""
        open_layout(self._db, str(self.path))
        self._due: list[tuple[float, int]] = []
        self._claimed: dict[int, Message] = {}
        self._leased: dict[int, str] = {}
        """Outbound items handed out and not yet acknowledged: item_id → system_id."""
        self._leased_by: Counter[str] = Counter()
        self._claim_from: dict[str, int] = {}
        """Per account, the item id up to which every outbound item is leased or done."""
        self._pending: Counter[str] = Counter()
        self._outbound_systems: Counter[str] = Counter()
        self._mirror: dict[str, dict[int, OutboundItem]] = {}
        """Per mirrored account, its outbound items by id, as they are handed out. An account
        not here did not fit within the mirror limit and is claimed by SELECT until its
        queue is empty."""
        self._ready: dict[str, list[int]] = {}
        """Per mirrored account, a heap of the ids of its unleased items (oldest first)."""
        self._mirrored = 0
        """Items in the mirror, all accounts together (at most the mirror limit)."""
        self._next_item_id = 1
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
        self.on_final: Callable[[Message], None] | None = None
        """Observer of every message that reaches a final state (metrics)."""
        self.accepted_notice: Callable[[NewMessage], bool] | None = None
        self._load()

    def _load(self) -> None:
        """Rebuild the in-memory indexes: everything unfinished is due again."""
        self._claim_from = {}
        rows = self._db.execute(
            f"SELECT id, system_id, COALESCE(next_attempt_at, 0) FROM messages "
            f"WHERE state = {ENROUTE}"
        ).fetchall()
        self._due = [(due, message_id) for message_id, _, due in rows]
        heapq.heapify(self._due)
        self._pending = Counter(system_id for _, system_id, _ in rows)
        self._outbound_systems = Counter(
            dict(self._db.execute("SELECT system_id, COUNT(*) FROM outbound GROUP BY system_id"))
        )
        last = self._db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbound'").fetchone()
        self._next_item_id = (last[0] if last else 0) + 1
        (last_id,) = self._db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0), "
            "COALESCE((SELECT MAX(id) FROM messages), 0))").fetchone()
        self._next_message_id = last_id + 1
        self._mirror = {}
        self._ready = {}
        self._mirrored = 0
        leased = self._leased  # items in flight stay leased (a rolled-back batch reloads)
        for system_id, count in sorted(self._outbound_systems.items(), key=lambda c: c[1]):
            if self._mirrored + count <= self._mirror_limit:  # the smallest queues first
                self._mirror[system_id] = {}
                self._ready[system_id] = []
                self._mirrored += count
        if self._mirror:  # one pass in id order (the table has no index by account)
            mirror, ready = self._mirror, self._ready
            rows = [row for row in self._db.execute(
                    "SELECT item_id, system_id, kind, message_id, attempts, state "
                    "FROM outbound ORDER BY item_id") if row[1] in mirror]
            for item in self._items_of(rows):
                mirror[item.system_id][item.item_id] = item
                if item.item_id not in leased:
                    ready[item.system_id].append(item.item_id)  # ascending: a heap
        self._states = Counter({
            MessageState(state): count
            for state, count in self._db.execute(
                "SELECT state, COUNT(*) FROM messages GROUP BY state")
        })
        """Rows per state, kept as they change from here on (a scrape must not scan the table)."""

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
            notices: list[_Notice] = []
            for message_id, outcome in batch.outcomes:
                message = self._claimed.pop(message_id, None)
                if message is None:
                    continue
                transition = apply_outcome(message, outcome, now, self.retry)
                self._collect(transition, updates, notices)
            self._write_transitions(updates, notices)
            if batch.outbound_sent:
                self._delete_outbound(batch.outbound_sent)
            if batch.outbound_failed:
                db.executemany(
                    "UPDATE outbound SET attempts = attempts + 1 WHERE item_id = ?",
                    [(i,) for i in batch.outbound_failed],
                )
            if self._finishing:
                self._write_finished()
            db.execute("COMMIT")
            self._commits_since_checkpoint += 1
        except BaseException:
            db.execute("ROLLBACK")
            for message_id in self._claimed_at_accept:  # their ids were never written
                self._claimed.pop(message_id, None)
            self._cache.clear()
            self._load()
            raise
        counts = self._outbound_systems
        mirror = self._mirror
        leased = self._leased
        leased_by = self._leased_by
        unmirrored = 0
        for item_id in batch.outbound_sent:
            system_id = leased.pop(item_id, None)
            if system_id is not None:
                counts[system_id] -= 1
                leased_by[system_id] -= 1
                items = mirror.get(system_id)
                if items is not None:
                    if items.pop(item_id, None) is not None:
                        unmirrored += 1
                elif not counts[system_id]:  # a spilled queue drained: mirrored again
                    mirror[system_id] = {}
                    self._ready[system_id] = []
        self._mirrored -= unmirrored
        for item_id in batch.outbound_failed:
            system_id = self._leased.get(item_id)
            items = None if system_id is None else mirror.get(system_id)
            item = None if items is None else items.get(item_id)
            if items is not None and item is not None:
                items[item_id] = replace(item, attempts=item.attempts + 1)
        self.release_outbound(batch.outbound_failed)
        return result

    def _accept(self, new: NewMessage, now: datetime, first: FirstAttempt
                ) -> int | AcceptRefused:
        mobile_terminated = new.direction is _MT
        if mobile_terminated and new.replace_if_present:
            existing = self._db.execute(
                f"{_SELECT} WHERE state = {ENROUTE} AND system_id = ? AND destination_addr = ? "
                "AND source_addr = ? AND service_type = ? ORDER BY id LIMIT 1",
                (new.system_id, new.destination_addr, new.source_addr, new.service_type),
            ).fetchone()
            if existing is not None and existing[0] not in self._claimed:
                values = _fields_of(replace(new, replace_if_present=False))
                self._db.execute(f"UPDATE messages SET {_SET_FIELDS} WHERE id = ?",
                                 (*values, existing[0]))
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
        notices: list[_Notice] = []
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
        fields_of = _fields_of
        last_submitted: datetime | None = None
        last_expires: datetime | None = None
        submitted_ts = expires_ts = _NO_TIME  # (what _stand_in gives None)
        for message_id, (new, first) in enumerate(
            zip(self._inserting, self._inserting_first, strict=True), first_id
        ):
            submitted = new.submitted_at
            if submitted is not last_submitted:  # a chunk's submits share their time objects
                last_submitted, submitted_ts = submitted, _stand_in(submitted)
            expires = new.expires_at
            if expires is not last_expires:
                last_expires, expires_ts = expires, _stand_in(expires)
            fields = fields_of(new, submitted_ts, expires_ts)
            # cache what was written, from the objects in hand rather than a read back
            if new.direction is mo:
                rows += (fields, (DELIVERED, 0, _NO_TIME, now_ts, _NO_CODE))
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
                rows += (fields, (ENROUTE, 0, due_ts, _NO_TIME, _NO_CODE))
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
                rows += (fields, (state_code, done.attempts, _NO_TIME, now_ts,
                                          _NO_CODE if code is None else code))
                finishing.append(message_id)
                states[state] += 1
                if on_final is not None:
                    on_final(done)
            else:
                remember(done)
                retry_ts = done.next_attempt_at.timestamp()  # type: ignore[union-attr]
                code = done.network_error_code
                rows += (fields, (ENROUTE, done.attempts, retry_ts, _NO_TIME,
                                          _NO_CODE if code is None else code))
                states[state] += 1
                pending[new.system_id] += 1
                heapq.heappush(due_heap, (retry_ts, message_id))
            notify = transition.notify
            if notify is not None:
                notices.append((new.system_id, notify, done))
            for kind in transition.acks:
                notices.append((new.system_id, kind, done))
        self._insert_rows(rows)
        self._next_message_id = first_id + len(rows) // 2
        if notices:
            self._queue_notices(notices)

    def _insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows given as `_insert` lists them (two tuples each), in their order (their
        ids were counted on it)."""
        execute = self._db.execute
        start = 0
        left = len(rows) // 2
        for count, statement in _INSERT_ROWS.items():
            while left >= count:
                end = start + 2 * count
                execute(statement, list(chain.from_iterable(rows[start:end])))
                start = end
                left -= count

    def _delete_outbound(self, item_ids: list[int]) -> None:
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
            self._db.executemany("DELETE FROM outbound WHERE item_id BETWEEN ? AND ?", ranges)
        if singles:
            self._db.executemany("DELETE FROM outbound WHERE item_id = ?", singles)

    def _write_finished(self) -> None:
        """Record the transaction's finished ids as runs of consecutive ids, for the purge."""
        ids = sorted(self._finishing)
        at = self._finishing_at
        runs: list[tuple[int, int, float]] = []
        start = previous = ids[0]
        for message_id in ids[1:]:
            if message_id != previous + 1:
                runs.append((start, previous, at))
                start = message_id
            previous = message_id
        runs.append((start, previous, at))
        self._db.executemany(
            "INSERT INTO finished (first_id, last_id, final_at) VALUES (?, ?, ?)", runs)
        self._finishing = []

    def _collect(
        self,
        transition: Transition,
        updates: list[tuple[Any, ...]],
        notices: list[_Notice],
    ) -> None:
        message = transition.message
        updates.append((
            int(message.state), message.attempts, _stand_in(message.next_attempt_at),
            _stand_in(message.final_at),
            _NO_CODE if message.network_error_code is None else message.network_error_code,
            message.message_id,
        ))
        self._count_transition(transition, notices)

    def _count_transition(
        self, transition: Transition, notices: list[_Notice]
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
        self, updates: list[tuple[Any, ...]], notices: list[_Notice]
    ) -> None:
        if updates:
            self._db.executemany(_UPDATE_STATE, updates)
        if notices:
            self._queue_notices(notices)

    def _queue_notices(self, notices: list[_Notice]) -> None:
        """Insert owed notices (system_id, kind, message as it is to be told) under ids of
        our own counting, and mirror them for their accounts' claims."""
        item_id = self._next_item_id
        counts = self._outbound_systems
        mirror = self._mirror
        ready = self._ready
        mirrored_count = self._mirrored
        room = self._mirror_limit
        runs: list[list[Any]] = []
        """[first item id, account, kind, first message id, state, count]: consecutive
        items for consecutive messages of one account, kind and state."""
        run: list[Any] = [0, None, None, 0, None, 0]
        for system_id, kind, message in notices:
            message_id = message.message_id
            kind_value = kind._value_
            state = message.state._value_
            if (message_id == run[3] + run[5] and system_id == run[1] and kind_value == run[2]
                    and state == run[4]):
                run[5] += 1
            else:
                run = [item_id, system_id, kind_value, message_id, state, 1]
                runs.append(run)
            counts[system_id] += 1
            mirrored = mirror.get(system_id)
            if mirrored is None and counts[system_id] == 1:  # a new account's first notice
                mirrored = mirror[system_id] = {}
                ready[system_id] = []
            if mirrored is not None:  # (None: spilled, claimed from the table)
                if mirrored_count < room:
                    mirrored[item_id] = make_outbound_item(item_id, system_id, kind, message)
                    ready[system_id].append(item_id)  # the newest id: still a heap
                    mirrored_count += 1
                else:  # the mirror is full: this account is claimed from the table
                    mirrored_count -= len(mirrored)
                    del mirror[system_id], ready[system_id]
                    self._claim_from[system_id] = 0
            item_id += 1
        self._mirrored = mirrored_count
        self._write_outbound(runs)
        self._next_item_id = item_id

    def _write_outbound(self, runs: list[list[Any]]) -> None:
        """Insert outbound rows given as runs (see `_queue_notices`): a long run as one
        statement that counts the ids out itself, which costs half of binding and stepping
        a row at a time; short ones row by row."""
        singles: list[tuple[int, str, str, int, int]] = []
        for item_id, system_id, kind, message_id, state, count in runs:
            if count >= _RUN_AT_LEAST:
                self._db.execute(_INSERT_OUTBOUND_RUN,
                                 (count, item_id, system_id, kind, message_id, state))
            else:
                singles.extend((item_id + i, system_id, kind, message_id + i, state)
                               for i in range(count))
        if singles:
            self._db.executemany(_INSERT_OUTBOUND, singles)

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
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(f"{_SELECT} WHERE id IN ({marks})", list(chunk)).fetchall()
            by_id = {row[0]: row for row in rows}
            messages.extend(_message_of(by_id[i]) for i in chunk if i in by_id)
        return messages

    def _write_now(self, transitions: list[Transition]) -> None:
        updates: list[tuple[Any, ...]] = []
        notices: list[_Notice] = []
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

    def release(self, message_ids: list[int]) -> None:
        for message_id in message_ids:
            message = self._claimed.pop(message_id, None)
            if message is not None and message.next_attempt_at is not None:
                heapq.heappush(self._due, (message.next_attempt_at.timestamp(), message_id))

    def retry_now(self, message_ids: list[int], now: datetime) -> int:
        ids = [i for i in message_ids if i not in self._claimed]
        moment = now.timestamp()
        moved = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                moved += self._db.execute(
                    f"UPDATE messages SET next_attempt_at = ? WHERE id IN ({marks}) "
                    f"AND state = {ENROUTE} AND next_attempt_at > ?",
                    [moment, *chunk, moment],
                ).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        for message_id in ids:
            self._cache.pop(message_id, None)
            heapq.heappush(self._due, (moment, message_id))  # claim_due skips stale entries
        return moved

    def next_due_at(self) -> datetime | None:
        due = self._due
        while due and due[0][1] in self._claimed:
            heapq.heappop(due)
        return _dt(due[0][0]) if due else None

    # -- outbound ---------------------------------------------------------------------------

    def claim_outbound(self, system_id: str, limit: int) -> list[OutboundItem]:
        """The account's oldest unleased items: from its mirror, or, for an account with
        more waiting than that holds, read from where the last claim stopped (the items
        before are leased or done), so a claim reads the rows it hands out and not the whole
        window in flight."""
        ready = self._ready.get(system_id)
        if ready is not None:
            return self._claim_mirrored(system_id, ready, limit)
        leased = self._leased
        rows = self._db.execute(
            "SELECT item_id, system_id, kind, message_id, attempts, state FROM outbound "
            "WHERE item_id > ? AND system_id = ? ORDER BY item_id LIMIT ?",
            (self._claim_from.get(system_id, 0), system_id,
             limit + self._leased_by[system_id]),
        ).fetchall()
        rows = [row for row in rows if row[0] not in leased][:limit]
        if not rows:
            return []
        items = self._items_of(rows)
        for item in items:
            leased[item.item_id] = system_id
        self._leased_by[system_id] += len(items)
        self._claim_from[system_id] = rows[-1][0]
        return items

    def _claim_mirrored(self, system_id: str, ready: list[int], limit: int
                        ) -> list[OutboundItem]:
        mirrored = self._mirror[system_id]
        leased = self._leased
        items: list[OutboundItem] = []
        pop = heapq.heappop
        while ready and len(items) < limit:
            item_id = pop(ready)
            items.append(mirrored[item_id])
            leased[item_id] = system_id
        self._leased_by[system_id] += len(items)
        return items

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
        claim_from = self._claim_from
        ready = self._ready
        for item_id in item_ids:
            system_id = self._leased.pop(item_id, None)
            if system_id is not None:
                self._leased_by[system_id] -= 1
                waiting = ready.get(system_id)
                if waiting is not None:
                    heapq.heappush(waiting, item_id)
                else:
                    claim_from[system_id] = min(claim_from.get(system_id, 0), item_id - 1)

    def systems_with_outbound(self) -> set[str]:
        return {s for s, count in self._outbound_systems.items() if count > 0}

    # -- lookups and changes ------------------------------------------------------------

    def query(self, message_id: int, system_id: str) -> Message | None:
        row = self._db.execute(f"{_SELECT} WHERE id = ? AND system_id = ?",
                               (message_id, system_id)).fetchone()
        return None if row is None else _message_of(row)

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
                f"{_SELECT} WHERE id = ? AND system_id = ? AND state = {ENROUTE}",
                (message_id, system_id),
            ).fetchall()
        else:
            rows = self._db.execute(
                f"{_SELECT} WHERE system_id = ? AND destination_addr = ? AND state = {ENROUTE}",
                (system_id, destination_addr),
            ).fetchall()
        transitions = []
        for row in rows:
            message = _message_of(row)
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

    def replace(
        self,
        *,
        message_id: int,
        system_id: str,
        source_addr: str,
        now: datetime,
        payload: bytes | None,
        schedule_at: datetime | None,
        expires_at: datetime | None,
        registered_delivery: int | None,
    ) -> bool:
        message = self.query(message_id, system_id)
        if (
            message is None
            or message.is_final
            or message.fields.source_addr != source_addr
            or message_id in self._claimed
        ):
            return False
        fields, due = replaced(message, payload, schedule_at, expires_at, registered_delivery)
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(
            f"UPDATE messages SET {_SET_FIELDS}, next_attempt_at = "
            f"{_placeholder('next_attempt_at')} WHERE id = ?",
            (*_fields_of(fields), _stand_in(due), message_id),
        )
        self._db.execute("COMMIT")
        self._cache.pop(message_id, None)
        if due is not None:
            heapq.heappush(self._due, (due.timestamp(), message_id))
        return True

    def pending_count(self, system_id: str) -> int:
        return self._pending[system_id]

    def find(self, query: MessageQuery) -> list[Message]:
        conditions: list[str] = []
        values: list[Any] = []
        if query.message_id is not None:
            conditions.append("id = ?")
            values.append(query.message_id)
        if query.system_id is not None:
            conditions.append("system_id = ?")
            values.append(query.system_id)
        if query.address is not None:
            conditions.append("(destination_addr = ? OR source_addr = ?)")
            values += [query.address, query.address]
        if query.state is not None:
            conditions.append("state = ?")
            values.append(int(query.state))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._db.execute(
            f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", [*values, query.limit]
        ).fetchall()
        cache = self._cache
        # the cache holds the newest state of a claimed message too (same as the row)
        return [cache.get(row[0]) or _message_of(row) for row in rows]

    def outbound_counts(self) -> dict[str, int]:
        return {s: n for s, n in self._outbound_systems.items() if n > 0}

    def depth_by_state(self) -> dict[MessageState, int]:
        return {state: count for state, count in self._states.items() if count}

    def purge_finished(self, before: datetime, limit: int) -> int:
        """Delete finished messages whose run finished before `before`, oldest runs first,
        until about `limit` are gone. A message still owed to its account (a receipt not yet
        acknowledged) stays: its run is put back at the end, shrunk to what is left."""
        cutoff = before.timestamp()
        db = self._db
        purged_states: list[int] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            (last_run,) = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM finished").fetchone()
            after = 0
            while len(purged_states) < limit:
                runs = db.execute(
                    "SELECT rowid, first_id, last_id, final_at FROM finished "
                    "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                    (after, last_run, PURGE_RUNS),
                ).fetchall()
                taken: list[tuple[int, int, int, float]] = []
                size = len(purged_states)
                young = False
                for run in runs:
                    if run[3] >= cutoff:
                        young = True
                        break
                    if taken and size >= limit:
                        break
                    taken.append(run)
                    size += run[2] - run[1] + 1
                if taken:
                    purged_states += self._purge_runs(taken)
                    after = taken[-1][0]
                if young or len(taken) == len(runs) < PURGE_RUNS:
                    break  # the runs after finished too recently, or there are no more
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        states = self._states
        for state in purged_states:
            states[MessageState(state)] -= 1
        return len(purged_states)

    def _purge_runs(self, runs: list[tuple[int, int, int, float]]) -> list[int]:
        """Delete the messages of `runs` (rowid, first id, last id, final time) that nothing
        is owed for, and the runs; put back what is left of a run. The states deleted."""
        db = self._db
        deleted = db.execute(
            "DELETE FROM messages WHERE id IN (SELECT m.id FROM json_each(?) AS r "
            "JOIN messages AS m ON m.id BETWEEN r.value ->> 0 AND r.value ->> 1) "
            "AND final_at IS NOT NULL AND id NOT IN (SELECT message_id FROM outbound) "
            "RETURNING id, state",
            (json.dumps([(first, last) for _, first, last, _ in runs]),),
        ).fetchall()
        gone = sorted(message_id for message_id, _ in deleted)
        left: list[tuple[int, int, float]] = []
        for _, first, last, final_at in runs:
            count = bisect_right(gone, last) - bisect_left(gone, first)
            if count < last - first + 1:  # owed messages, or ids purged before
                low, high = db.execute(
                    "SELECT MIN(id), MAX(id) FROM messages WHERE id BETWEEN ? AND ?",
                    (first, last)).fetchone()
                if low is not None:
                    left.append((low, high, final_at))
        db.execute("DELETE FROM finished WHERE rowid >= ? AND rowid <= ?",
                   (runs[0][0], runs[-1][0]))
        if left:
            db.executemany(
                "INSERT INTO finished (first_id, last_id, final_at) VALUES (?, ?, ?)", left)
        return [state for _, state in deleted]

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint_due(self) -> bool:
        """Whether the caller, who took over checkpoints, should checkpoint now: after
        `CHECKPOINT_COMMITS` transactions or `CHECKPOINT_CHANGES` rows, about as much WAL as
        SQLite's own 1,000 pages, whichever comes first."""
        return self._checkpoints_by_caller and (
            self._commits_since_checkpoint >= CHECKPOINT_COMMITS
            or self._db.total_changes - self._changes_at_checkpoint >= CHECKPOINT_CHANGES)

    def checkpoint_alongside(self) -> None:
        """Copy the WAL as it stands into the database file and sync both, from a connection
        of its own: unlike every other call, this one may run on another thread while the
        store goes on writing (the syncs can take a second on a busy disk; transactions need
        not wait for them). Follow it with `checkpoint` for what was written meanwhile."""
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, check_same_thread=False,
                                                 isolation_level=None)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def checkpoint(self) -> None:
        """Copy the rest of the WAL into the database file and sync both. No other call runs
        meanwhile (one caller at a time), so it always completes and the next write starts
        the WAL over from its beginning: the file stays the size of one interval."""
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self._commits_since_checkpoint = 0
        self._changes_at_checkpoint = self._db.total_changes

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self._db.close()
