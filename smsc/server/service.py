"""SmscService: the SMSC's answers to its ESMEs (binds, submits, queries, cancels, replaces).

It receives every session event of every link (synchronously, on the trio thread), has each
submit checked and its message built by `smsc.submit.SubmitPreparation`, hands accepted
messages to the committer and answers each submit only once its message is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import trio

from smsc.accounts import Account
from smsc.clock import Clock
from smsc.delivery.committer import AcceptCallback
from smsc.delivery.outbound import OutboundDispatcher
from smsc.metrics import SmscMetrics
from smsc.pdu import (
    BroadcastSm,
    CancelBroadcastSm,
    CancelSm,
    DataSm,
    Pdu,
    QueryBroadcastSm,
    QuerySm,
    ReplaceSm,
    SmeDest,
    SubmitMulti,
    SubmitSm,
    UnsuccessSme,
    make_response,
)
from smsc.pdu.constants import CommandStatus, Tag
from smsc.server.answers import ACCEPTED, AcceptedAnswers
from smsc.server.authentication import BindAuthenticator
from smsc.server.broadcasts import BroadcastRequests
from smsc.server.link import Link
from smsc.server.stored_requests import StoredMessageRequests
from smsc.session import (
    BadResponseDropped,
    BindRequested,
    Bound,
    ConnectionClosed,
    Event,
    PeerErrorAnswered,
    RequestAnswered,
    RequestReceived,
    ResponseReceived,
    ResponseTimedOut,
    Unbound,
)
from smsc.simulation.fate import Simulation, SubmitFault
from smsc.simulation.networks import Fault
from smsc.store import (
    AcceptRefused,
    NewMessage,
    format_message_id,
)
from smsc.submit import Rejected, SubmitPreparation

log = logging.getLogger("smsc.service")
S = CommandStatus
SUBMIT_COMMANDS = frozenset({SubmitSm.command_id, DataSm.command_id, SubmitMulti.command_id})
# Enum members as module constants (docs/architecture.md, "Hot-path idioms").
_ROK = S.ESME_ROK


class SmscService:
    """Handles every link's session events; see the module docstring."""

    def __init__(
        self,
        *,
        id_format: str,
        authenticator: BindAuthenticator,
        submits: SubmitPreparation,
        stored: StoredMessageRequests,
        outbound: OutboundDispatcher,
        clock: Clock,
        metrics: SmscMetrics,
        simulation: Simulation | None = None,
        answers: AcceptedAnswers,
        accept: Callable[[NewMessage, AcceptCallback], None],
        accept_held: Callable[[NewMessage, AcceptCallback], bool],
        start_held: Callable[[int, NewMessage], None],
        broadcasts: BroadcastRequests,
    ) -> None:
        self.authenticator = authenticator
        """Answers binds and knows which account each link is bound as."""
        self.stored = stored
        """Answers query_sm, cancel_sm and replace_sm from the store."""
        self.broadcasts = broadcasts
        """Answers SMPP 5.0's broadcast_sm, query_broadcast_sm and cancel_broadcast_sm."""
        self.outbound = outbound
        self.clock = clock
        self.metrics = metrics
        self.simulation = simulation
        """Submit-time faults and magic numbers; None simulates none."""
        self.accept = accept
        """Where accepted MT messages go (DeliveryScheduler.accept starts their first
        attempt, then hands them to the committer); answered through the callback once
        stored."""
        self.accept_held = accept_held
        self.start_held = start_held
        """A submit_multi's first destination is stored with its first attempt held back
        (DeliveryScheduler.accept_held, True when held) and started once the submit_multi
        is answered."""
        self.id_format = id_format
        """server.message_id_format: how a submit_multi's answer writes its id."""
        self.answers = answers
        """Where the usual answers wait until the commit's callbacks have all run."""
        self.submits = submits
        """What an accepted submit stores (the checks, route, times and token bucket)."""
        self._received: float | None = None
        self._received_wall = datetime.fromtimestamp(0, UTC)
        """The last chunk's arrival time (`Link.received_at`, compared by identity) and its
        wall time: its submits share them, so that a chunk converts one time."""
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hosts the tasks of answers that a simulated fault delays."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- events --------------------------------------------------------------------------------

    def on_event(self, link: Link, event: Event) -> None:
        metrics = self.metrics
        kind = type(event)
        if kind is RequestReceived:
            self._requests(link, [event])  # type: ignore[list-item]
            return
        if kind is ResponseReceived:
            self._responses(link, [event])  # type: ignore[list-item]
            return
        match event:
            case BindRequested(message):
                metrics.count_received(message.command_id)
                self.authenticator.answer(link, message)
            case ResponseTimedOut(request):
                self.outbound.on_timeout(link, request)
            case Bound(bind_type, system_id):
                self.authenticator.bound(link, bind_type, system_id)
            case Unbound():
                self.authenticator.unbound(link)
            case RequestAnswered(request, response):
                metrics.count_received(request.command_id)
                metrics.count_sent(response.command_id, response.command_status)
            case PeerErrorAnswered(status, command_id, _, reason):
                metrics.count_received(command_id or 0)
                log.info("%s sent a bad PDU (%s): answered 0x%08X", link.peer, reason, status)
            case BadResponseDropped(_, command_id, _, reason):
                metrics.count_received(command_id)
                log.info("%s sent a bad response (%s): dropped", link.peer, reason)
            case ConnectionClosed(reason, unanswered):
                self.authenticator.closed(link)
                self.outbound.on_closed(link, unanswered)
                log.info("%s closed: %s", link.peer, reason)
            case _:
                pass

    def on_requests(self, link: Link, events: list[RequestReceived]) -> None:
        self._requests(link, events)

    def _requests(self, link: Link, events: list[RequestReceived]) -> None:
        """A read chunk's requests, in order: submit_sm the usual way inlined (once per
        message), anything else through `_request`."""
        self.metrics.count_requests(events)
        account = self.authenticator.account_of(link)
        submit_sm = self._submit_sm
        for event in events:
            message = event.message
            if type(message) is SubmitSm and account is not None:  # _request's usual case
                try:
                    submit_sm(link, account, message)
                except Rejected as rejected:
                    self._refuse(link, account, message, rejected.status)
            else:
                self._request(link, message)

    def on_responses(self, link: Link, events: list[ResponseReceived]) -> None:
        self._responses(link, events)

    def _responses(self, link: Link, events: list[ResponseReceived]) -> None:
        self.metrics.count_responses(events)
        self.outbound.on_responses(link, events)

    def _request(self, link: Link, message: Pdu) -> None:
        account = self.authenticator.account_of(link)
        if account is None:  # cannot happen: the session only passes requests once bound
            link.send(make_response(message, S.ESME_RINVBNDSTS))
            return
        try:
            match message:
                case SubmitSm() | DataSm():
                    self._submit_sm(link, account, message)
                case SubmitMulti():
                    self._submit_multi(link, account, message)
                case QuerySm() | CancelSm() | ReplaceSm():
                    self.stored.start(link, account, message)
                case BroadcastSm() | QueryBroadcastSm() | CancelBroadcastSm():
                    self.broadcasts.answer(link, account, message)
                case _:
                    raise Rejected(S.ESME_RINVCMDID)
        except Rejected as rejected:
            self._refuse(link, account, message, rejected.status)

    def _refuse(self, link: Link, account: Account, message: Pdu, status: int) -> None:
        link.send(make_response(message, status))
        if message.command_id in SUBMIT_COMMANDS:
            self.metrics.record_submit(account.system_id, status)

    # -- submits ---------------------------------------------------------------------------

    def _submit_sm(self, link: Link, account: Account, message: SubmitSm | DataSm) -> None:
        """A submit_sm or data_sm: prepared (or refused: raises Rejected), stored, answered
        once stored."""
        received = link.received_at
        now = self._received_wall if received is self._received else self._wall_at(received)
        new = self.submits.prepare(account, message, received, now)
        fault = (None if self.simulation is None
                 else self.simulation.submit_fault(new.network, new.destination_addr,
                                                   source=new.source_addr, payload=new.payload))
        if fault is not None and self._fault_before_store(link, account, message, fault):
            return
        self.accept(new, partial(self._answer, link, account, message, received, fault))

    def _wall_at(self, received: float) -> datetime:
        """The wall time of a chunk received at `received`, kept for the chunk's other
        submits (they share its time objects)."""
        now = self._received_wall = self.clock.wall_at(received)
        self._received = received
        return now

    def _answer(
        self,
        link: Link,
        account: Account,
        request: Pdu,
        received: float,
        fault: SubmitFault | None,
        result: int | AcceptRefused | None,
    ) -> None:
        if fault is None and type(result) is int:  # the usual: stored, answered with the rest
            self.answers.queue(link, account.system_id, request, received, result)
            return
        if fault is not None and isinstance(result, int):
            if fault.fault is Fault.NO_RESPONSE:
                self.metrics.record_submit(account.system_id, S.ESME_ROK,
                                           self.clock.monotonic() - received)
                return  # stored; the ESME never hears of it
            if fault.fault is Fault.SLOW_RESPONSE and self._nursery is not None:
                self._nursery.start_soon(self._answer_later, fault.delay, link, account,
                                         request, received, result)
                return
        if result is None:
            status = S.ESME_RSYSERR
        elif isinstance(result, AcceptRefused):
            status = S.ESME_RMSGQFUL
        else:
            status = _ROK
        self.metrics.record_submit(account.system_id, status,
                                   self.clock.monotonic() - received)
        if not link.is_open or link.session.closed:
            return  # stored all the same: it will be delivered, and its receipt will wait
        if isinstance(result, int):  # stored, the simulated fault spared the answer
            link.send_prebuilt_answer(ACCEPTED[request.command_id],
                                      self.answers.body_of(result)
                                      + self.answers.congestion.tail(link, account.system_id),
                                      request.sequence_number)
        else:
            link.send(make_response(request, status))

    async def _answer_later(self, delay: float, link: Link, account: Account, request: Pdu,
                            received: float, result: int) -> None:
        await trio.sleep(delay)
        self._answer(link, account, request, received, None, result)
        self.answers.send()

    async def _send_later(self, delay: float, link: Link, response: Pdu,
                          then: Callable[[], None] | None = None) -> None:
        """Send `response` after `delay` (a slow_response fault), then call `then`."""
        await trio.sleep(delay)
        if link.is_open and not link.session.closed:
            link.send(response)
        if then is not None:
            then()

    def _fault_before_store(self, link: Link, account: Account, message: Pdu,
                            fault: SubmitFault) -> bool:
        """Apply a simulated fault that strikes before the message is stored; True when the
        submit is dealt with (connection dropped).

        Raises:
            Rejected: ESME_RTHROTTLED or ESME_RSYSERR.
        """
        match fault.fault:
            case Fault.THROTTLED:
                raise Rejected(S.ESME_RTHROTTLED)
            case Fault.SYSTEM_ERROR:
                raise Rejected(S.ESME_RSYSERR)
            case Fault.DISCONNECT:
                log.info("%s: simulated fault, connection dropped", link.peer)
                link.abort("simulated fault: connection dropped")
                return True
        return False

    def _submit_multi(self, link: Link, account: Account, message: SubmitMulti) -> None:
        received = link.received_at
        now = self._received_wall if received is self._received else self._wall_at(received)
        prepared = self.submits.prepare_multi(account, message, received, now)
        accepted, unsuccess = prepared.accepted, prepared.unsuccess
        first = accepted[0][1]  # the first destination's network decides a simulated fault
        fault = (None if self.simulation is None
                 else self.simulation.submit_fault(first.network, first.destination_addr,
                                                   source=first.source_addr,
                                                   payload=first.payload))
        if fault is not None and self._fault_before_store(link, account, message, fault):
            return
        self._accept_multi(link, account, message, accepted, unsuccess, fault)

    def _accept_multi(self, link: Link, account: Account, message: SubmitMulti,
                      accepted: list[tuple[SmeDest, NewMessage]], unsuccess: list[UnsuccessSme],
                      fault: SubmitFault | None) -> None:
        """Store a submit_multi's destinations under one id, the first stored one's: it is
        stored alone (its first attempt held back, so that no receipt of it precedes the
        answer), then the others with `multi_id` set to it. The answer carries it, and once
        it is sent the first destination's attempt starts (every destination's, when a
        slow_response fault delays the answer: all are held until it goes out). A first
        destination the store refuses (max_pending) hands the id on to the next; a write
        that failed ends the submit at once, answered ESME_RSYSERR, as a submit_sm is."""

        def refused(dest: SmeDest, result: AcceptRefused | None) -> None:
            status = S.ESME_RSYSERR if result is None else S.ESME_RMSGQFUL
            unsuccess.append(UnsuccessSme(dest.dest_addr_ton, dest.dest_addr_npi,
                                          dest.destination_addr, status))

        held = [False]
        """Whether the first destination stored is held (`accept_held`'s answer)."""
        delayed = (fault is not None and fault.fault is Fault.SLOW_RESPONSE
                   and self._nursery is not None)
        """Whether the answer waits (slow_response): every destination is held until then."""

        def store_first(index: int) -> None:
            held[0] = self.accept_held(accepted[index][1], partial(first_stored, index))

        def first_stored(index: int, result: int | AcceptRefused | None) -> None:
            if result is None:  # the store could not write: the next would wait for it too
                answer(None, S.ESME_RSYSERR)
                return
            if not isinstance(result, int):
                refused(accepted[index][0], result)
                if index + 1 < len(accepted):
                    store_first(index + 1)
                else:
                    answer(None, S.ESME_RSUBMITFAIL)
                return
            first = accepted[index][1]
            others = accepted[index + 1:]
            if not others:
                answer(result, then=partial(self.start_held, result, first) if held[0] else None)
                return
            held_ones = [(result, first)] if held[0] else []
            waiting = [len(others)]

            def other_stored(dest: SmeDest, new: NewMessage, is_held: list[bool],
                             outcome: int | AcceptRefused | None) -> None:
                if not isinstance(outcome, int):
                    refused(dest, outcome)
                elif is_held[0]:
                    held_ones.append((outcome, new))
                waiting[0] -= 1
                if not waiting[0]:
                    answer(result, then=partial(start_all, held_ones) if held_ones else None)

            for dest, new in others:
                new.multi_id = result
                is_held = [False]
                if delayed:  # held too: no receipt of it goes out before the late answer
                    is_held[0] = self.accept_held(new, partial(other_stored, dest, new,
                                                               is_held))
                else:
                    self.accept(new, partial(other_stored, dest, new, is_held))

        def start_all(held_ones: list[tuple[int, NewMessage]]) -> None:
            for message_id, new in held_ones:
                self.start_held(message_id, new)

        def answer(message_id: int | None, status: int = _ROK,
                   then: Callable[[], None] | None = None) -> None:
            """Answer the submit_multi (`status` when nothing was stored), then call `then`:
            after the answer has gone out, even when a simulated fault delays it."""
            self.metrics.record_submit(account.system_id, status)
            if not link.is_open or link.session.closed:
                pass  # the ESME is gone: what was stored is delivered, its receipts wait
            elif message_id is None:
                link.send(make_response(message, status))
            else:
                tail = self.answers.congestion.tail(link, account.system_id)
                response = make_response(
                    message, message_id=format_message_id(message_id, self.id_format),
                    unsuccess_sme=tuple(unsuccess),
                    tlvs={Tag.congestion_state: tail[-1]} if tail else {},
                )
                if fault is None:
                    link.send(response)
                elif delayed and fault is not None and self._nursery is not None:
                    self._nursery.start_soon(self._send_later, fault.delay, link, response,
                                             then)
                    return
            if then is not None:
                then()

        store_first(0)

__all__ = ["Rejected", "SmscService"]
