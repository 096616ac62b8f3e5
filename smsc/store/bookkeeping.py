"""What both stores keep in memory beside their messages, and what they do with it alone.

The due index (a heap of due times and ids), the claims (messages leased to a delivery
attempt, in memory only), the pending count per account and the message count per state,
the hooks the server sets, and the calls that need nothing else: release, next_due_at,
replace (but for writing the new fields), pending_count and depth_by_state.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from smsc.pdu.constants import MessageState
from smsc.store.models import Message, NewMessage, RetryPolicy, replaced

At = TypeVar("At", datetime, float)
"""A due time as a store's heap holds it: the memory store's datetimes, or the POSIX
timestamps the SQLite store's rows hold (no conversion per message either way)."""


class Bookkeeping(Generic[At]):
    """The base of both stores; see `base.MessageStore` for the contract."""

    def __init__(self, retry: RetryPolicy | None, max_pending: dict[str, int] | None,
                 on_final: Callable[[Message], None] | None = None,
                 accepted_notice: Callable[[NewMessage], bool] | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self.max_pending = max_pending if max_pending is not None else {}
        self._due: list[tuple[At, int]] = []
        """(due time, id) of pending messages. Entries are never taken out when a message is
        claimed, rescheduled or finished: such a stale entry is dropped when it comes up."""
        self._claimed: dict[int, Message] = {}
        """Messages leased to a delivery attempt, by id, as they were handed out."""
        self._pending: Counter[str] = Counter()
        """Unfinished messages per account (max_pending)."""
        self._states: Counter[MessageState] = Counter()
        """Messages held per state, kept as they change (a scrape must not scan them all)."""
        self.on_final = on_final
        """Observer of every message that reaches a final state (metrics)."""
        self.accepted_notice = accepted_notice
        """Whether a new MT message asking for intermediate notifications is owed an
        ACCEPTED one at once (set when some receipt dialect sends them)."""

    # -- what each store says of its own ---------------------------------------------------

    def _due_key(self, moment: datetime) -> At:
        """`moment` as the due index holds it."""
        raise NotImplementedError

    def _due_time(self, at: At) -> datetime:
        """A due index time as a datetime."""
        raise NotImplementedError

    def _entry_current(self, at: At, message_id: int) -> bool:
        """Whether an unclaimed entry may still be due (the SQLite store tells a stale one
        only when it has read the message, at the claim)."""
        return True

    def query(self, message_id: int, system_id: str) -> Message | None:
        raise NotImplementedError

    def members(self, message_id: int, system_id: str) -> list[Message]:
        """The messages stored with `multi_id` = `message_id` (a submit_multi's later
        destinations), oldest first."""
        raise NotImplementedError

    def group(self, message_id: int, system_id: str) -> list[Message]:
        """What an ESME reaches by the id it was given: the message and, for a
        submit_multi, its other destinations. Empty when `system_id` owns no such message,
        or the id is a later destination's own (never given out)."""
        first = self.query(message_id, system_id)
        if first is None or first.fields.multi_id:
            return []
        return [first, *self.members(message_id, system_id)]

    def _own(self, messages: list[Message]) -> list[Message]:
        """Those of `messages` this store may change (all of them, but on a database that
        several stores share: only its own)."""
        return messages

    def _write_replacement(self, message: Message, fields: NewMessage,
                           due: datetime | None) -> None:
        """Store `message` with new fields and next attempt time (replace_sm)."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------

    def release(self, message_ids: list[int]) -> None:
        key = self._due_key
        for message_id in message_ids:
            message = self._claimed.pop(message_id, None)
            if message is not None and message.next_attempt_at is not None:
                heapq.heappush(self._due, (key(message.next_attempt_at), message_id))

    def next_due_at(self) -> datetime | None:
        due = self._due
        claimed = self._claimed
        while due:
            at, message_id = due[0]
            if message_id in claimed or not self._entry_current(at, message_id):
                heapq.heappop(due)
                continue
            return self._due_time(at)
        return None

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
        done = False
        for message in self._own(self.group(message_id, system_id)):
            if (message.is_final or message.fields.source_addr != source_addr
                    or message.message_id in self._claimed):
                continue
            fields, due = replaced(message, payload, schedule_at, expires_at,
                                   registered_delivery)
            self._write_replacement(message, fields, due)
            if due is not None:
                heapq.heappush(self._due, (self._due_key(due), message.message_id))
            done = True
        return done

    def pending_count(self, system_id: str) -> int:
        return self._pending[system_id]

    def depth_by_state(self) -> dict[MessageState, int]:
        return {state: count for state, count in self._states.items() if count}
