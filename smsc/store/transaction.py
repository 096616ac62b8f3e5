"""One write transaction of a table store: its rows, and what memory learns once it commits.

Nothing in the store's memory changes while a transaction runs. Its writes read that memory
as it stood before, and stage what it is to become (due index entries, claims taken and
ended, cached messages, pending and state counts, finished messages for `on_final`, owed
notices for the outbound mirror, the next ids) in the `Transaction`; the store applies them
only once COMMIT has succeeded. A transaction that fails anywhere, COMMIT included, leaves
the memory as if it had never been tried: what it staged is dropped with it.

The rows go through `TableWrites`, what each database's statements module provides: this
module decides what is written, and none of it is any one database's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from smsc.pdu.constants import INTERMEDIATE_NOTIFICATION_BIT, MessageState
from smsc.store.models import (
    UNDER_WAY,
    AcceptRefused,
    Direction,
    FirstAttempt,
    Message,
    NewMessage,
    OutboundKind,
    Outcome,
    RetryPolicy,
    StoreBatch,
    Transition,
    apply_outcome,
    first_outcome,
    make_message,
)
from smsc.store.outbound_mirror import Notice
from smsc.store.rows import NO_CODE, NO_TIME, fields_of, outbound_runs, stand_in

ENROUTE = int(MessageState.ENROUTE)
DELIVERED = int(MessageState.DELIVERED)
_MT = Direction.MT


class TableWrites(Protocol):
    """The writes a transaction makes, in a database's own statements (rows as the row
    codec, `smsc.store.rows`, makes them)."""

    def replaceable(self, new: NewMessage) -> Sequence[Any] | None:
        """The oldest pending row `new` replaces (replace_if_present), if any."""

    def update_fields(self, values: tuple[Any, ...], message_id: int) -> None:
        """Write a message's `MESSAGE_COLUMNS` values."""

    def insert_rows(self, first_id: int, rows: list[tuple[Any, ...]]) -> None:
        """Insert message rows given as two tuples each (`MESSAGE_COLUMNS` values, then
        `STATE_COLUMNS` values), under consecutive ids from `first_id`."""

    def update_states(self, updates: list[tuple[Any, ...]]) -> None:
        """Write `STATE_COLUMNS` values followed by the message id, for each update."""

    def write_finished(self, finished: list[int], at: float) -> None:
        """Record ids finished at `at` (a timestamp), for the purge."""

    def write_outbound(self, runs: list[list[Any]]) -> None:
        """Insert owed items given as runs (`rows.outbound_runs`)."""

    def delete_outbound(self, item_ids: list[int]) -> None:
        """Delete acknowledged items."""

    def outbound_failed(self, item_ids: list[int]) -> None:
        """Count one more attempt for each of these items."""


class Transaction:
    """The writes of one transaction and the memory changes they stage (module docstring).

    One per store, begun again for each transaction (`begin`); `claimed` and `pending` are
    the store's own claims and pending counts, read and never changed here."""

    __slots__ = (
        "_accepted_notice", "_claimed", "_finishing", "_finishing_at", "_inserting",
        "_inserting_first", "_max_pending", "_next_item_id", "_pending", "_retry", "_writes",
        "claims", "due", "finals", "forget", "next_message_id", "notices", "pending",
        "remember", "states", "unclaimed",
    )

    def __init__(self, writes: TableWrites, claimed: dict[int, Message],
                 pending: Counter[str], retry: RetryPolicy,
                 max_pending: dict[str, int]) -> None:
        self._claimed = claimed
        self._pending = pending
        self._retry = retry
        self._max_pending = max_pending
        self._writes = writes
        self.next_message_id = 1
        """The id the next new row gets (the store's own once this commits)."""
        self._next_item_id = 1
        self._accepted_notice: Callable[[NewMessage], bool] | None = None
        self._inserting: list[NewMessage] = []
        """The accepts in progress, in the order of their rows."""
        self._inserting_first: list[FirstAttempt] = []
        self._finishing: list[int] = []
        """Ids finished, written as runs before the transaction commits."""
        self._finishing_at = 0.0
        # Staged for the store's memory, applied once the transaction has committed. Kept
        # from one transaction to the next, empty between them (`_committed` empties what
        # it applied, `drop` the rest): making them anew cost more than a small transaction.
        self.due: list[tuple[float, int]] = []
        """New due index entries."""
        self.claims: list[Message] = []
        """Messages stored claimed (their first attempt under way)."""
        self.unclaimed: dict[int, None] = {}
        """Claims ended (outcomes recorded, messages cancelled)."""
        self.remember: list[Message] = []
        self.forget: list[int] = []
        """Messages to cache as written, and ids whose cached message is out of date."""
        self.pending: defaultdict[str, int] = defaultdict(int)
        self.states: defaultdict[MessageState, int] = defaultdict(int)
        """Changes of the pending count per account and of the count per state (dicts
        that count from 0 in C: a Counter costs a microsecond to make and to miss a key)."""
        self.finals: list[Message] = []
        """Messages that reached a final state (for `on_final`)."""
        self.notices: list[Notice] = []
        """Owed notices written, under item ids counted on from the store's next one."""

    def begin(self, next_message_id: int, next_item_id: int,
              accepted_notice: Callable[[NewMessage], bool] | None) -> None:
        """Start from the store's next ids and its acceptance notice hook (with nothing
        staged)."""
        self.next_message_id = next_message_id
        self._next_item_id = next_item_id
        self._accepted_notice = accepted_notice

    def drop(self) -> None:
        """Forget what a transaction that did not commit wrote and staged."""
        for staged in (self._inserting, self._inserting_first, self._finishing, self.due,
                       self.claims, self.remember, self.forget, self.finals, self.notices):
            staged.clear()
        self.unclaimed.clear()
        self.pending.clear()
        self.states.clear()
        self._finishing_at = 0.0

    def write_batch(self, batch: StoreBatch, now: datetime,
                    accepted: list[int | AcceptRefused]) -> None:
        """Write a StoreBatch: accepts (their ids or refusals onto `accepted`), outcomes,
        acknowledged and refused outbound items."""
        accept = self.accept
        for new, first in batch.accepts_with_firsts():
            accepted.append(accept(new, now, first))
        self.insert(now)
        if batch.outcomes:
            self.outcomes(batch.outcomes, now)
        if batch.outbound_acknowledged:
            self._writes.delete_outbound(batch.outbound_acknowledged)
        if batch.outbound_failed:
            self._writes.outbound_failed(batch.outbound_failed)

    # -- accepts -------------------------------------------------------------------------------

    def accept(self, new: NewMessage, now: datetime, first: FirstAttempt
               ) -> int | AcceptRefused:
        """The id `new` is stored under (its row is written by `insert`), or the refusal."""
        mobile_terminated = new.direction is _MT
        if mobile_terminated and new.replace_if_present:
            existing = self._writes.replaceable(new)
            if existing is not None and existing[0] not in self._claimed:
                values = fields_of(replace(new, replace_if_present=False))
                self._writes.update_fields(values, existing[0])
                self.forget.append(existing[0])
                return int(existing[0])
        if mobile_terminated and self._max_pending:
            limit = self._max_pending.get(new.system_id, 0)
            if limit and self._pending[new.system_id] + sum(
                1 for other in self._inserting if other.system_id == new.system_id
            ) >= limit:
                return AcceptRefused.QUEUE_FULL
        self._inserting.append(new)
        self._inserting_first.append(first)
        return self.next_message_id + len(self._inserting) - 1

    def insert(self, now: datetime) -> None:
        """Write the accepts' new rows, each with the state its first attempt left it in (a
        message the network took at once is written finished: one write, no index churn)."""
        if not self._inserting:
            return
        first_id = self.next_message_id
        notices: list[Notice] = []
        remember = self.remember.append
        due_entries = self.due
        pending = self.pending
        states = self.states
        finals = self.finals
        retry = self._retry
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
                    and self._accepted_notice is not None and self._accepted_notice(new)):
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
                    due_entries.append((due_ts, message_id))
                else:
                    self.claims.append(message)
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
                finals.append(done)
            else:
                remember(done)
                retry_ts = done.next_attempt_at.timestamp()  # type: ignore[union-attr]
                code = done.network_error_code
                rows += (fields, (ENROUTE, done.attempts, retry_ts, NO_TIME,
                                  NO_CODE if code is None else code))
                states[state] += 1
                pending[new.system_id] += 1
                due_entries.append((retry_ts, message_id))
            notify = transition.notify
            if notify is not None:
                notices.append((new.system_id, notify, done))
            for kind in transition.acks:
                notices.append((new.system_id, kind, done))
        self._writes.insert_rows(first_id, rows)
        self.next_message_id = first_id + len(rows) // 2
        self._inserting.clear()
        self._inserting_first.clear()
        if notices:
            self._queue_notices(notices)

    # -- changes of stored messages ----------------------------------------------------------

    def outcomes(self, outcomes: list[tuple[int, Outcome]], now: datetime) -> None:
        """Record the attempts of claimed messages (an outcome for a message no longer
        claimed, cancelled meanwhile, is dropped)."""
        updates: list[tuple[Any, ...]] = []
        notices: list[Notice] = []
        claimed = self._claimed
        unclaimed = self.unclaimed
        for message_id, outcome in outcomes:
            message = claimed.get(message_id)
            if message is None or message_id in unclaimed:
                continue
            unclaimed[message_id] = None
            self._collect(apply_outcome(message, outcome, now, self._retry), updates, notices)
        self._write_transitions(updates, notices)

    def finish(self, transitions: list[Transition]) -> None:
        """Write messages finished outside a delivery attempt (expired, cancelled), their
        claims ended."""
        updates: list[tuple[Any, ...]] = []
        notices: list[Notice] = []
        for transition in transitions:
            self.unclaimed[transition.message.message_id] = None
            self._collect(transition, updates, notices)
        self._write_transitions(updates, notices)

    def write_finished(self) -> None:
        """Record the finished ids as runs of consecutive ids, for the purge (last)."""
        if self._finishing:
            self._writes.write_finished(self._finishing, self._finishing_at)
            self._finishing.clear()
            self._finishing_at = 0.0

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
            self.forget.append(message.message_id)  # read from its row, if ever again
            self._finishing.append(message.message_id)
            self._finishing_at = max(self._finishing_at,
                                     message.final_at.timestamp())  # type: ignore[union-attr]
            self.pending[message.system_id] -= 1
            self.states[MessageState.ENROUTE] -= 1  # only ENROUTE messages change state
            self.states[message.state] += 1
            self.finals.append(message)
        else:
            self.remember.append(message)
            if message.next_attempt_at is not None:
                self.due.append((message.next_attempt_at.timestamp(), message.message_id))
        if transition.notify is not None:
            notices.append((message.system_id, transition.notify, message))
        for kind in transition.acks:
            notices.append((message.system_id, kind, message))

    def _write_transitions(
        self, updates: list[tuple[Any, ...]], notices: list[Notice]
    ) -> None:
        if updates:
            self._writes.update_states(updates)
        if notices:
            self._queue_notices(notices)

    def _queue_notices(self, notices: list[Notice]) -> None:
        """Insert owed notices (system_id, kind, message as it is to be told) under ids of
        our own counting; the outbound mirror takes them once committed."""
        self._writes.write_outbound(outbound_runs(notices, self._next_item_id))
        self._next_item_id += len(notices)
        self.notices += notices
