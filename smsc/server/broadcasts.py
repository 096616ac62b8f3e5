"""BroadcastRequests: SMPP 5.0 broadcast_sm, query_broadcast_sm and cancel_broadcast_sm.

Broadcasts are kept in memory, not in the message store: a broadcast is no message to one
handset (no destination, no attempts, no receipt) and its whole fate is a function of the
time (`smsc.simulation.broadcasts`), so a record per broadcast is all there is to keep. They do
not survive a restart; those over for longer than the store's retention are forgotten. An
account keeps at most `MAX_BROADCASTS` (beyond: ESME_RBCASTFAIL), and a broadcast that would
repeat until cancelled (broadcast_rep_num 0, no validity_period) ends when a submit without a
validity period would expire, so that every broadcast is forgotten in the end.

Only a session bound at SMPP 5.0 gets here: to a 3.x session these commands are unknown
(generic_nack ESME_RINVCMDID, answered by the session).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from smsc.accounts import Account
from smsc.clock import Clock
from smsc.pdu import (
    BroadcastSm,
    CancelBroadcastSm,
    Pdu,
    QueryBroadcastSm,
    make_response,
)
from smsc.pdu.broadcast import BroadcastRefused, BroadcastRequest, read_broadcast
from smsc.pdu.constants import CommandStatus, MessageState, Tag
from smsc.pdu.smpp_time import format_absolute
from smsc.server.link import Link
from smsc.simulation.broadcasts import (
    AreaOutcome,
    BroadcastAreas,
    BroadcastSchedule,
    broadcast_state,
)
from smsc.submit import Rejected, SubmitPreparation

S = CommandStatus
MAX_BROADCASTS = 1000
"""Broadcasts one account may have kept at once (scheduled, repeating, or over for less than
the store's retention): a broadcast_sm beyond is refused with ESME_RBCASTFAIL."""
_RUNNING = frozenset({MessageState.SCHEDULED, MessageState.ENROUTE})


@dataclass(slots=True)
class Broadcast:
    """One accepted broadcast_sm."""

    message_id: str
    system_id: str
    service_type: str
    source_addr: str
    user_message_reference: int | None
    request: BroadcastRequest
    outcomes: tuple[AreaOutcome, ...]
    """One per requested area, in the request's order (refused areas too)."""
    schedule: BroadcastSchedule
    cancelled_at: datetime | None = None

    def state(self, now: datetime) -> tuple[MessageState, datetime | None]:
        return broadcast_state(self.schedule, now, cancelled_at=self.cancelled_at,
                               any_area=any(o.status == S.ESME_ROK for o in self.outcomes))


class BroadcastRequests:
    """See the module docstring; the service hands it the broadcast requests of 5.0 links."""

    def __init__(self, *, areas: BroadcastAreas, submits: SubmitPreparation, clock: Clock,
                 retention: float) -> None:
        self.areas = areas
        self.submits = submits
        """Reads schedule_delivery_time and validity_period as a submit's."""
        self.clock = clock
        self.retention = timedelta(seconds=retention)
        self._broadcasts: dict[str, Broadcast] = {}
        """message_id → broadcast."""
        self._of_account: dict[str, dict[str, Broadcast]] = {}
        """system_id → its broadcasts by message_id, oldest first."""
        self._by_reference: dict[tuple[str, int], list[Broadcast]] = {}
        """(system_id, user_message_reference) → those broadcasts, oldest first."""
        self._forget_at: list[tuple[datetime, int, Broadcast]] = []
        """A heap: when each broadcast may be forgotten (its end + retention); an entry whose
        broadcast was replaced, or cancelled (a second, earlier entry), is passed over."""
        self._numbers = count(1)
        self._entries = count()
        """The heap's tie-breaker."""

    def answer(self, link: Link, account: Account, message: Pdu) -> None:
        """Answer one broadcast request at once (raises Rejected with the status to refuse it).
        """
        now = self.clock.wall()
        tlvs: dict[int, Any]
        match message:
            case BroadcastSm():
                message_id, tlvs = self._broadcast(account, message, now)
                response = make_response(message, message_id=message_id)
            case QueryBroadcastSm():
                found = self._find(account, message.message_id, message.source_addr,
                                   message.tlvs.get(Tag.user_message_reference))
                if found is None:
                    raise Rejected(S.ESME_RBCASTQUERYFAIL)
                tlvs = self._query_tlvs(found, now)
                response = make_response(message, message_id=found.message_id)
            case CancelBroadcastSm():
                self._cancel(account, message, now)
                tlvs, response = {}, make_response(message)
            case _:  # pragma: no cover (the service sends nothing else)
                raise Rejected(S.ESME_RINVCMDID)
        response.tlvs = tlvs
        link.send(response)

    # -- broadcast_sm ------------------------------------------------------------------------

    def _broadcast(self, account: Account, message: BroadcastSm, now: datetime
                   ) -> tuple[str, dict[int, Any]]:
        try:
            request = read_broadcast(message)
        except BroadcastRefused as refused:
            raise Rejected(refused.status) from None
        times = self.submits.times(account, message.schedule_delivery_time,
                                   message.validity_period, now)
        outcomes = tuple(self.areas.outcome(area) for area in request.areas)
        failed = [o for o in outcomes if o.status != S.ESME_ROK]
        if len(failed) == len(outcomes):
            raise Rejected(S.ESME_RBCASTFAIL)
        reference = message.tlvs.get(Tag.user_message_reference)
        message_id = ""
        self._forget_old(now)
        if message.replace_if_present_flag == 1:  # replace one, or fail (V5 4.4.4)
            replaced = self._find(account, message.message_id, message.source_addr, reference)
            if replaced is None or replaced.state(now)[0] not in _RUNNING:
                raise Rejected(S.ESME_RBCASTFAIL)
            message_id = replaced.message_id
            self._remove(replaced)
        elif len(self._of_account.get(account.system_id, ())) >= MAX_BROADCASTS:
            raise Rejected(S.ESME_RBCASTFAIL)
        if not message_id:
            message_id = f"bc-{next(self._numbers):04d}"
        endless = not request.rep_num and not message.validity_period
        schedule = BroadcastSchedule.of(
            start=times.schedule_at or now,
            # (a submit's validity when it gives none: no broadcast repeats for ever)
            validity_end=times.expires_at if message.validity_period or endless else None,
            rep_num=request.rep_num, interval=request.interval,
            priority_flag=message.priority_flag)
        self._add(Broadcast(
            message_id, account.system_id, message.service_type, message.source_addr,
            reference if isinstance(reference, int) else None, request, outcomes, schedule))
        tlvs: dict[int, Any] = {}
        if failed:  # accepted in part: each refused area and why (V5 Table 4-29)
            tlvs[Tag.broadcast_area_identifier] = tuple(o.area for o in failed)
            tlvs[Tag.broadcast_error_status] = tuple(o.status for o in failed)
        return message_id, tlvs

    def _add(self, broadcast: Broadcast) -> None:
        self._broadcasts[broadcast.message_id] = broadcast
        self._of_account.setdefault(broadcast.system_id, {})[broadcast.message_id] = broadcast
        if broadcast.user_message_reference is not None:
            self._by_reference.setdefault(
                (broadcast.system_id, broadcast.user_message_reference), []).append(broadcast)
        schedule = broadcast.schedule  # (every broadcast has an end: see `_broadcast`)
        self._remember_until(schedule.end or schedule.start, broadcast)

    def _remember_until(self, end: datetime, broadcast: Broadcast) -> None:
        heapq.heappush(self._forget_at,
                       (end + self.retention, next(self._entries), broadcast))

    def _remove(self, broadcast: Broadcast) -> None:
        del self._broadcasts[broadcast.message_id]
        mine = self._of_account[broadcast.system_id]
        del mine[broadcast.message_id]
        if not mine:
            del self._of_account[broadcast.system_id]
        if broadcast.user_message_reference is not None:
            key = (broadcast.system_id, broadcast.user_message_reference)
            same = self._by_reference[key]
            same.remove(broadcast)
            if not same:
                del self._by_reference[key]

    def _forget_old(self, now: datetime) -> None:
        """Forget the broadcasts over for longer than the retention: those at the heap's top,
        no scan of the others."""
        heap = self._forget_at
        while heap and heap[0][0] < now:
            broadcast = heapq.heappop(heap)[2]
            if self._broadcasts.get(broadcast.message_id) is broadcast:
                self._remove(broadcast)

    # -- query_broadcast_sm and cancel_broadcast_sm ----------------------------------------

    def _find(self, account: Account, message_id: str, source_addr: str,
              reference: object) -> Broadcast | None:
        """The broadcast named by message_id (its source must match) or, without one, the
        newest of the account's with this user_message_reference (V5 4.6.1)."""
        if message_id:
            found = self._broadcasts.get(message_id)
            if (found is None or found.system_id != account.system_id
                    or found.source_addr != source_addr):
                return None
            return found
        if not isinstance(reference, int):
            return None
        same = self._by_reference.get((account.system_id, reference))
        return None if same is None else same[-1]

    def _query_tlvs(self, broadcast: Broadcast, now: datetime) -> dict[int, Any]:
        """message_state, then every area of the broadcast_sm with its success (a refused
        area took none), the end time once over (V5 Table 4-39)."""
        state, end = broadcast.state(now)
        tlvs: dict[int, Any] = {
            Tag.message_state: int(state),
            Tag.broadcast_area_identifier: tuple(o.area for o in broadcast.outcomes),
            Tag.broadcast_area_success: tuple(o.success for o in broadcast.outcomes),
        }
        if end is not None:
            tlvs[Tag.broadcast_end_time] = format_absolute(end)
        if broadcast.user_message_reference is not None:
            tlvs[Tag.user_message_reference] = broadcast.user_message_reference
        return tlvs

    def _cancel(self, account: Account, message: CancelBroadcastSm, now: datetime) -> None:
        reference = message.tlvs.get(Tag.user_message_reference)
        if message.message_id or reference is not None:
            found = self._find(account, message.message_id, message.source_addr, reference)
            targets = [] if found is None else [found]
        else:  # every broadcast of this source (and service_type), REFERENCE-5.0.md §6 #11
            targets = [b for b in self._of_account.get(account.system_id, {}).values()
                       if b.source_addr == message.source_addr
                       and (not message.service_type
                            or b.service_type == message.service_type)]
        content_type = message.tlvs.get(Tag.broadcast_content_type)
        running = [b for b in targets if b.state(now)[0] in _RUNNING
                   and (content_type is None or b.request.content_type == content_type)]
        if not running:
            raise Rejected(S.ESME_RBCASTCANCELFAIL)
        for broadcast in running:
            broadcast.cancelled_at = now
            self._remember_until(now, broadcast)  # (forgotten sooner than its end said)
