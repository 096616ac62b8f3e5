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
    SubmitMulti,
    SubmitSm,
    make_response,
)
from smsc.pdu.constants import CommandStatus
from smsc.server.answers import ACCEPTED, AcceptedAnswers
from smsc.server.authentication import BindAuthenticator
from smsc.server.broadcasts import BroadcastRequests
from smsc.server.link import Link
from smsc.server.multi_submits import MultiSubmits
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
        self.multi_submits = MultiSubmits(
            accept=accept, accept_held=accept_held, start_held=start_held, metrics=metrics,
            answers=answers, id_format=id_format, tasks=lambda: self._nursery)
        """Stores a submit_multi's destinations under one id and answers it."""
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
        self.multi_submits.accept(link, account, message, accepted, unsuccess, fault)


__all__ = ["Rejected", "SmscService"]
