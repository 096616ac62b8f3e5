"""In-memory MessageStore: the same behaviour as the SQLite one, nothing kept at exit."""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

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
    make_outbound_item,
)

_MO = Direction.MO
"""A module constant: an Enum class attribute costs a lookup hook per use on 3.11."""


class MemoryStore(Bookkeeping[datetime]):
    """Dicts and a heap of due times; see `base.MessageStore` for the contract."""

    def __init__(
        self, *, retry: RetryPolicy | None = None, max_pending: dict[str, int] | None = None,
        max_finished: int = 0, on_final: Callable[[Message], None] | None = None,
        accepted_notice: Callable[[NewMessage], bool] | None = None,
    ) -> None:
        super().__init__(retry, max_pending, on_final, accepted_notice)
        self.max_finished = max_finished
        """Most finished messages kept for query_sm (0: no limit). Past it the oldest are
        forgotten at the end of each batch, before their retention time: held in memory
        they would otherwise grow with the message rate times the retention."""
        self._messages: dict[int, Message] = {}
        self._outbound: dict[str, OrderedDict[int, OutboundItem]] = defaultdict(OrderedDict)
        self._leased: dict[int, OutboundItem] = {}
        self._next_id = 1
        self._next_item = 1
        self._finished: deque[tuple[datetime, int]] = deque()
        """(final time, id) of finished messages in the order they finished, for the retention
        purge and max_finished: oldest first in O(1). Final times come from the batch clock,
        so they ascend; one that did not would only be purged late, never early."""
        self._replaceable: dict[tuple[str, str, str, str], list[int]] | None = None
        """Pending MT message ids by (system_id, source, destination, service_type), built at
        the first replace_if_present submit and kept from then on (until then it costs
        nothing per message)."""
        self._members: dict[int, list[int]] = {}
        """A submit_multi's id → the ids of its later destinations (`NewMessage.multi_id`)."""

    # -- writes --------------------------------------------------------------------------

    def apply(self, batch: StoreBatch, now: datetime) -> BatchResult:
        result = BatchResult()
        accepted = result.accepted
        accept = self._accept
        for new, first in batch.accepts_with_firsts():
            accepted.append(accept(new, now, first))
        for message_id, outcome in batch.outcomes:
            message = self._messages.get(message_id)
            self._claimed.pop(message_id, None)
            if message is None or message.is_final:
                continue
            self._record(apply_outcome(message, outcome, now, self.retry))
        for item_id in batch.outbound_acknowledged:
            self._leased.pop(item_id, None)
        for item_id in batch.outbound_failed:
            item = self._leased.pop(item_id, None)
            if item is not None:
                self._outbound[item.system_id][item_id] = replace(item, attempts=item.attempts + 1)
        self._keep_max_finished()
        return result

    def _accept(self, new: NewMessage, now: datetime, first: FirstAttempt
                ) -> int | AcceptRefused:
        if new.direction is _MO:
            message = Message(self._take_id(), new, state=MessageState.DELIVERED, final_at=now)
            self._messages[message.message_id] = message
            self._states[MessageState.DELIVERED] += 1
            self._finished.append((now, message.message_id))
            self._queue_outbound(new.system_id, OutboundKind.MO, message)
            return message.message_id
        if new.replace_if_present:
            existing = self._find_replaceable(new)
            if existing is not None:
                updated = replace(existing, fields=replace(new, replace_if_present=False))
                self._messages[existing.message_id] = updated
                return existing.message_id
        if self.max_pending:  # (empty unless some account has max_pending)
            limit = self.max_pending.get(new.system_id, 0)
            if limit and self._pending[new.system_id] >= limit:
                return AcceptRefused.QUEUE_FULL
        due = new.schedule_at or new.submitted_at or now
        message_id = self._next_id  # (_take_id, inlined: once per message)
        self._next_id = message_id + 1
        if new.multi_id:
            self._members.setdefault(new.multi_id, []).append(message_id)
        transition = (None if first is None or first is UNDER_WAY
                      else first_outcome(message_id, new, first, due, now, self.retry))
        if (transition is not None and transition.message.final_at is not None
                and not new.registered_delivery & INTERMEDIATE_NOTIFICATION_BIT):
            self._store_finished(transition)  # the usual: finished at once, never pending
            return message_id
        message = make_message(message_id, new, next_attempt_at=due)
        self._messages[message.message_id] = message
        self._states[MessageState.ENROUTE] += 1
        if self._replaceable is not None:
            self._replaceable.setdefault(_replace_key(new), []).append(message.message_id)
        self._pending[new.system_id] += 1
        if (new.registered_delivery & INTERMEDIATE_NOTIFICATION_BIT
                and self.accepted_notice is not None and self.accepted_notice(new)):
            self._queue_outbound(new.system_id, OutboundKind.ACCEPTED, message)
        if transition is not None:  # waiting for its retry (or after an ACCEPTED notice)
            self._record(transition)
        elif first is UNDER_WAY:
            self._claimed[message_id] = message
        else:
            heapq.heappush(self._due, (due, message.message_id))
        return message.message_id

    def _store_finished(self, transition: Transition) -> None:
        """A new message whose first attempt finished it before it was stored: it is written
        final at once, never counted pending nor indexed for replace_if_present."""
        message = transition.message
        message_id = message.message_id
        final_at = message.final_at
        assert final_at is not None
        self._messages[message_id] = message
        self._states[message.state] += 1
        self._finished.append((final_at, message_id))
        if self.on_final is not None:
            self.on_final(message)
        system_id = message.fields.system_id
        notify = transition.notify
        if notify is not None:  # (_queue_outbound, inlined: once per message)
            item_id = self._next_item
            self._next_item = item_id + 1
            self._outbound[system_id][item_id] = make_outbound_item(
                item_id, system_id, notify, message)
        for kind in transition.acks:
            self._queue_outbound(system_id, kind, message)

    def _find_replaceable(self, new: NewMessage) -> Message | None:
        if self._replaceable is None:
            index: dict[tuple[str, str, str, str], list[int]] = {}
            for message in self._messages.values():
                if not message.is_final and message.fields.direction is Direction.MT:
                    index.setdefault(_replace_key(message.fields), []).append(message.message_id)
            self._replaceable = index
        for message_id in self._replaceable.get(_replace_key(new), ()):
            if message_id not in self._claimed:
                return self._messages[message_id]
        return None

    def _record(self, transition: Transition) -> None:
        message = transition.message
        old = self._messages.get(message.message_id)
        self._messages[message.message_id] = message
        if old is not None and old.state is not message.state:
            self._states[old.state] -= 1
            self._states[message.state] += 1
        if message.is_final:
            if message.final_at is not None:
                self._finished.append((message.final_at, message.message_id))
            if self._replaceable is not None:
                key = _replace_key(message.fields)
                ids = self._replaceable.get(key)
                if ids is not None and message.message_id in ids:
                    ids.remove(message.message_id)
                    if not ids:
                        del self._replaceable[key]
            self._pending[message.system_id] -= 1
            if self.on_final is not None:
                self.on_final(message)
        elif message.next_attempt_at is not None:
            heapq.heappush(self._due, (message.next_attempt_at, message.message_id))
        if transition.notify is not None:
            self._queue_outbound(message.system_id, transition.notify, message)
        for kind in transition.acks:
            self._queue_outbound(message.system_id, kind, message)

    def _queue_outbound(self, system_id: str, kind: OutboundKind, message: Message) -> None:
        item = make_outbound_item(self._next_item, system_id, kind, message)
        self._next_item += 1
        self._outbound[system_id][item.item_id] = item

    def _take_id(self) -> int:
        message_id = self._next_id
        self._next_id += 1
        return message_id

    # -- due messages -----------------------------------------------------------------------

    def _due_key(self, moment: datetime) -> datetime:
        return moment

    def _due_time(self, at: datetime) -> datetime:
        return at

    def _entry_current(self, at: datetime, message_id: int) -> bool:
        return self._waiting(at, message_id) is not None

    def _waiting(self, at: datetime, message_id: int) -> Message | None:
        """The message of a due index entry, or None when the entry is stale (the message
        is gone, finished, or due at another time)."""
        message = self._messages.get(message_id)
        if message is None or message.is_final or message.next_attempt_at != at:
            return None
        return message

    def claim_due(self, now: datetime, limit: int) -> list[Message]:
        claimed: list[Message] = []
        due = self._due
        waiting = self._waiting
        while due and len(claimed) < limit and due[0][0] <= now:
            at, message_id = heapq.heappop(due)
            message = waiting(at, message_id)
            if message is None or message_id in self._claimed:
                continue  # stale heap entry
            expires_at = message.fields.expires_at
            if expires_at is not None and expires_at <= now:
                self._record(finish(message, MessageState.EXPIRED, now))
                continue
            self._claimed[message_id] = message
            claimed.append(message)
        self._keep_max_finished()  # (some expired)
        return claimed

    def retry_now(self, message_ids: list[int], now: datetime) -> int:
        moved = 0
        for message_id in message_ids:
            message = self._messages.get(message_id)
            if (
                message is None
                or message.is_final
                or message_id in self._claimed
                or message.next_attempt_at is None
                or message.next_attempt_at <= now
            ):
                continue
            self._messages[message_id] = replace(message, next_attempt_at=now)
            heapq.heappush(self._due, (now, message_id))
            moved += 1
        return moved

    # -- outbound ---------------------------------------------------------------------------

    def claim_outbound(self, system_id: str, limit: int) -> list[OutboundItem]:
        queue = self._outbound.get(system_id)
        items: list[OutboundItem] = []
        while queue and len(items) < limit:
            _, item = queue.popitem(last=False)
            self._leased[item.item_id] = item
            items.append(item)
        return items

    def release_outbound(self, item_ids: list[int]) -> None:
        for item_id in reversed(item_ids):  # each to the front: the first given goes first
            item = self._leased.pop(item_id, None)
            if item is not None:
                queue = self._outbound[item.system_id]
                queue[item_id] = item
                queue.move_to_end(item_id, last=False)

    def systems_with_outbound(self) -> set[str]:
        return {system_id for system_id, queue in self._outbound.items() if queue}

    # -- lookups and changes ------------------------------------------------------------

    def query(self, message_id: int, system_id: str) -> Message | None:
        message = self._messages.get(message_id)
        if message is None or message.system_id != system_id:
            return None
        return message

    def members(self, message_id: int, system_id: str) -> list[Message]:
        found = (self._messages.get(member) for member in self._members.get(message_id, ()))
        return [m for m in found if m is not None and m.system_id == system_id]

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
            candidates = self.group(message_id, system_id)
        else:
            candidates = [
                m for m in self._messages.values()
                if m.system_id == system_id
                and m.fields.destination_addr == destination_addr
                and (not service_type or m.fields.service_type == service_type)
            ]
        cancelled = 0
        for message in candidates:
            if message.is_final or message.fields.direction is not Direction.MT:
                continue
            if source_addr and message.fields.source_addr != source_addr:
                continue
            self._claimed.pop(message.message_id, None)
            self._record(finish(message, MessageState.DELETED, now))
            cancelled += 1
        self._keep_max_finished()
        return cancelled

    def _write_replacement(self, message: Message, fields: NewMessage,
                           due: datetime | None) -> None:
        self._messages[message.message_id] = replace(message, fields=fields,
                                                      next_attempt_at=due)

    def find(self, query: MessageQuery) -> list[Message]:
        found: list[Message] = []
        if query.message_id is not None:
            message = self._messages.get(query.message_id)
            candidates: Iterable[Message] = () if message is None else (message,)
        else:
            candidates = reversed(self._messages.values())
        for message in candidates:
            if query.matches(message):
                found.append(message)
                if len(found) >= query.limit:
                    break
        return found

    def outbound_counts(self) -> dict[str, int]:
        counts = Counter({s: len(queue) for s, queue in self._outbound.items() if queue})
        for item in self._leased.values():
            counts[item.system_id] += 1
        return dict(counts)

    def purge_finished(self, before: datetime, limit: int) -> int:
        finished = self._finished
        purged = 0
        while finished and purged < limit and finished[0][0] < before:
            purged += self._forget_first_finished()
        return purged

    def _keep_max_finished(self) -> None:
        """Forget the oldest finished messages while more than `max_finished` are kept. A
        receipt already queued for one still goes out: its outbound item holds the message."""
        limit = self.max_finished
        if limit:
            finished = self._finished
            while len(finished) > limit:
                self._forget_first_finished()

    def _forget_first_finished(self) -> int:
        """Take the oldest finished entry and forget its message: 1, or 0 if the store no
        longer holds that message as finished at that time (a guard only: each message
        finishes once and has one entry, and nothing else removes messages)."""
        at, message_id = self._finished.popleft()
        message = self._messages.get(message_id)
        if message is None or message.final_at != at:
            return 0
        del self._messages[message_id]
        self._states[message.state] -= 1
        multi_id = message.fields.multi_id
        if multi_id:
            members = self._members.get(multi_id)
            if members is not None:
                members.remove(message_id)
                if not members:
                    del self._members[multi_id]
        return 1

    def checkpoint_due(self) -> bool:
        return False  # nothing on disk

    def checkpoint_alongside(self) -> None:
        pass

    def checkpoint(self) -> None:
        pass

    def close(self) -> None:
        self._messages.clear()
        self._members.clear()
        self._states.clear()
        self._finished.clear()


def _replace_key(fields: NewMessage) -> tuple[str, str, str, str]:
    """What replace_if_present_flag matches a pending message on (SMPP 3.4 §4.4.1)."""
    return (fields.system_id, fields.source_addr, fields.destination_addr, fields.service_type)
