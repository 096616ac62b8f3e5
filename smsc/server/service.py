"""SmscService: the SMSC's answers to its ESMEs (binds, submits, queries, cancels, replaces).

It receives every session event of every link (synchronously, on the trio thread), has each
submit checked and its message built by `smsc.submit.SubmitPreparation`, hands accepted
messages to the committer and answers each submit only once its message is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import trio

from smsc.accounts import Account, Accounts
from smsc.clock import Clock
from smsc.config import Config
from smsc.delivery.committer import AcceptCallback, Committer
from smsc.delivery.outbound import OutboundDispatcher
from smsc.logs import trace_event
from smsc.metrics import SmscMetrics
from smsc.pdu import (
    CancelSm,
    DataSm,
    Pdu,
    Prebuilt,
    PrebuiltDataSmResp,
    PrebuiltSubmitSmResp,
    QuerySm,
    ReplaceSm,
    SmeDest,
    SubmitMulti,
    SubmitSm,
    UnsuccessSme,
    make_response,
)
from smsc.pdu.constants import (
    SMPP_VERSION_34,
    CommandStatus,
    Tag,
)
from smsc.pdu.smpp_time import format_absolute
from smsc.routing.networks import Fault
from smsc.routing.simulation import Simulation, SubmitFault
from smsc.routing.table import RoutingTable
from smsc.server.binds import BindRegistry
from smsc.server.link import Link
from smsc.session import (
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
from smsc.session.states import BIND_TYPE_OF
from smsc.store import (
    AcceptRefused,
    NewMessage,
    format_message_id,
    parse_message_id,
)
from smsc.submit import Rejected, SubmitPreparation

log = logging.getLogger("smsc.service")
S = CommandStatus
SUBMIT_COMMANDS = frozenset({SubmitSm.command_id, DataSm.command_id, SubmitMulti.command_id})
# Members used once or more per message, as module constants: on Python 3.11 each
# `EnumClass.MEMBER` runs EnumType.__getattr__'s lookup hook, four times a global's cost.
_ROK = S.ESME_ROK


_ACCEPTED: dict[int, type[Prebuilt]] = {SubmitSm.command_id: PrebuiltSubmitSmResp,
                                        DataSm.command_id: PrebuiltDataSmResp}
"""The response that acknowledges a stored submit_sm or data_sm."""


def _send_accepted_run(link: Link, kind: type[Prebuilt], answers: list[tuple[int, bytes]]
                       ) -> None:
    """A link's usual answers of one kind, (sequence, body) each, unless it closed meanwhile
    (the messages are stored all the same: they will be delivered, their receipts wait)."""
    if link.is_open and not link.session.closed:
        link.send_accepted_run(kind, answers)
        link.flush()  # the peer's window waits for these, not for this round's receipts


class SmscService:
    """Handles every link's session events; see the module docstring."""

    def __init__(
        self,
        *,
        config: Config,
        accounts: Accounts,
        binds: BindRegistry,
        committer: Committer,
        outbound: OutboundDispatcher,
        clock: Clock,
        routes: RoutingTable,
        metrics: SmscMetrics,
        simulation: Simulation | None = None,
        accept: Callable[[NewMessage, AcceptCallback], None] | None = None,
    ) -> None:
        self.config = config
        self.accounts = accounts
        self.binds = binds
        self.committer = committer
        self.store = committer.store
        self.outbound = outbound
        self.clock = clock
        self.routes = routes
        self.metrics = metrics
        self.simulation = simulation
        """Submit-time faults and magic numbers; None simulates none."""
        self.accept = accept or committer.accept
        """Where accepted MT messages go (DeliveryScheduler.accept starts their first
        attempt); answered through the callback once stored."""
        self.id_format = config.server.message_id_format
        self._accepted_body: Callable[[int], bytes] = (
            b"%x\x00" if self.id_format == "hex" else b"%d\x00").__mod__
        """A message id → the usual submit_sm_resp body (`format_message_id`'s text and its
        NUL), in one C call."""
        self.submits = SubmitPreparation(routes, config.store)
        """What an accepted submit stores (the checks, route, times and token bucket)."""
        self._received: float | None = None
        self._received_wall = datetime.fromtimestamp(0, UTC)
        """The last chunk's arrival time (`Link.received_at`, compared by identity) and its
        wall time: its submits share them, so that a chunk converts one time."""
        self._account_of: dict[int, Account] = {}
        self._bound: dict[int, tuple[str, str]] = {}
        """Live binds: id(link) → (system_id, bind mode)."""
        self._answers: list[tuple[Link, str, Pdu, float, int]] = []
        """The usual answers queued by a commit's callbacks: (link, system_id, request, when
        it was received, message id); `send_answers` sends them once all have run."""
        committer.after_callbacks.append(self.send_answers)
        self._nursery: trio.Nursery | None = None
        self.trace: Callable[[str, Pdu], None] | None = None
        """PDU trace hook (logging.pdu_trace): ("in" | "out", pdu)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hosts the tasks of requests that read the store (query, cancel, replace)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- events --------------------------------------------------------------------------------

    def on_event(self, link: Link, event: Event) -> None:
        if self.trace is not None:
            trace_event(self.trace, event)
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
                self._bind(link, message)
            case ResponseTimedOut(request):
                self.outbound.on_timeout(link, request)
            case Bound(bind_type, system_id):
                self.binds.add(system_id, link)
                self._bound[id(link)] = (system_id, bind_type.value)
                metrics.record_bind(system_id, bind_type.value)
                log.info("%s bound as %s (%s)", link.peer, system_id, bind_type.value)
            case Unbound():
                self._forget_bind(link)
            case RequestAnswered(request, response):
                metrics.count_received(request.command_id)
                metrics.count_sent(response.command_id, response.command_status)
            case PeerErrorAnswered(status, command_id, _, reason):
                metrics.count_received(command_id or 0)
                log.info("%s sent a bad PDU (%s): answered 0x%08X", link.peer, reason, status)
            case ConnectionClosed(reason, unanswered):
                self._forget_bind(link)
                self._account_of.pop(id(link), None)
                self.outbound.on_closed(link, unanswered)
                log.info("%s closed: %s", link.peer, reason)
            case _:
                pass

    def on_requests(self, link: Link, events: list[RequestReceived]) -> None:
        if self.trace is not None:
            self._trace_all(events)
        self._requests(link, events)

    def _trace_all(self, events: Sequence[Event]) -> None:
        assert self.trace is not None
        for event in events:
            trace_event(self.trace, event)

    def _requests(self, link: Link, events: list[RequestReceived]) -> None:
        """A read chunk's requests, in order: submit_sm the usual way inlined (once per
        message), anything else through `_request`."""
        received = self.metrics.pdus_received
        account = self._account_of.get(id(link))
        submit_sm = self._submit_sm
        for event in events:
            message = event.message
            key = message.command_id  # its pdu_key: counted inline, twice per message
            if key in received:
                received[key] += 1
            else:
                self.metrics.count_received(key)
            if type(message) is SubmitSm and account is not None:  # _request's usual case
                try:
                    submit_sm(link, account, message)
                except Rejected as rejected:
                    self._refuse(link, account, message, rejected.status)
            else:
                self._request(link, message)

    def on_responses(self, link: Link, events: list[ResponseReceived]) -> None:
        if self.trace is not None:
            self._trace_all(events)
        self._responses(link, events)

    def _responses(self, link: Link, events: list[ResponseReceived]) -> None:
        metrics = self.metrics
        received = metrics.pdus_received
        for event in events:
            message = event.message
            key: int = message.command_id
            status = message.command_status
            if status:
                key |= status << 32  # as pdu_key makes it
            if key in received:
                received[key] += 1
            else:
                metrics.count_received(message.command_id, status)
        self.outbound.on_responses(link, events)

    def _forget_bind(self, link: Link) -> None:
        bound = self._bound.pop(id(link), None)
        if bound is not None:
            self.binds.remove(bound[0], link)

    def _bind(self, link: Link, message: Pdu) -> None:
        bind_type = BIND_TYPE_OF[message.command_id]
        result = self.accounts.authenticate(
            system_id=message.system_id,  # type: ignore[attr-defined]
            password=message.password,  # type: ignore[attr-defined]
            bind_mode=bind_type.value,
            system_type=message.system_type,  # type: ignore[attr-defined]
            peer_ip=link.peer_ip,
        )
        if not isinstance(result, CommandStatus) and (
            self.binds.count(result.system_id) >= result.config.max_binds
        ):
            result = S.ESME_RBINDFAIL
        if isinstance(result, CommandStatus):
            log.info("%s bind refused: %s", link.peer, result.name)
            link.send(make_response(message, result))
            link.session.close("bind refused")
            return
        self._account_of[id(link)] = result
        link.session.limits = replace(link.session.limits, window=result.config.window)
        tlvs = {}
        if message.interface_version >= SMPP_VERSION_34:  # type: ignore[attr-defined]
            tlvs[Tag.sc_interface_version] = SMPP_VERSION_34
        link.send(make_response(message, system_id=self.config.server.system_id, tlvs=tlvs))

    def _request(self, link: Link, message: Pdu) -> None:
        account = self._account_of.get(id(link))
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
                    assert self._nursery is not None
                    self._nursery.start_soon(self._store_request, link, account, message)
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
                 else self.simulation.submit_fault(new.network, new.destination_addr))
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
            self._answers.append((link, account.system_id, request, received, result))
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
            link.send_accepted(_ACCEPTED[request.command_id], self._accepted_body(result),
                               request.sequence_number)
        else:
            link.send(make_response(request, status))

    def send_answers(self) -> None:
        """Send the usual answers a commit's callbacks queued (the committer calls this once
        they have all run): each link's as runs of octets, one count and one wakeup for each
        run; their submit_sm_resp latency from one clock reading, recorded once for each
        account and read chunk (whose submits share their received time)."""
        answers = self._answers
        if not answers:
            return
        self._answers = []
        now = self.clock.monotonic()
        record = self.metrics.record_submits
        body_of = self._accepted_body
        run: list[tuple[int, bytes]] = []
        run_link: Link | None = None
        run_kind: type[Prebuilt] | None = None
        counted_id = ""
        counted_at = 0.0
        counted = 0
        for link, system_id, request, received, message_id in answers:
            kind = _ACCEPTED[request.command_id]
            if link is not run_link or kind is not run_kind:
                if run:
                    _send_accepted_run(run_link, run_kind, run)  # type: ignore[arg-type]
                    run = []
                run_link, run_kind = link, kind
            run.append((request.sequence_number, body_of(message_id)))
            if received is not counted_at or system_id != counted_id:
                if counted:
                    record(counted_id, _ROK, now - counted_at, counted)
                counted_id, counted_at, counted = system_id, received, 0
            counted += 1
        _send_accepted_run(run_link, run_kind, run)  # type: ignore[arg-type]
        record(counted_id, _ROK, now - counted_at, counted)

    async def _answer_later(self, delay: float, link: Link, account: Account, request: Pdu,
                            received: float, result: int) -> None:
        await trio.sleep(delay)
        self._answer(link, account, request, received, None, result)
        self.send_answers()

    async def _send_later(self, delay: float, link: Link, response: Pdu) -> None:
        await trio.sleep(delay)
        if link.is_open and not link.session.closed:
            link.send(response)

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
                 else self.simulation.submit_fault(first.network, first.destination_addr))
        if fault is not None and self._fault_before_store(link, account, message, fault):
            return
        results: list[int | AcceptRefused | None] = []

        def collect(dest: SmeDest, result: int | AcceptRefused | None) -> None:
            results.append(result)
            if not isinstance(result, int):
                status = S.ESME_RSYSERR if result is None else S.ESME_RMSGQFUL
                unsuccess.append(UnsuccessSme(dest.dest_addr_ton, dest.dest_addr_npi,
                                              dest.destination_addr, status))
            if len(results) < len(accepted):
                return
            ids = [r for r in results if isinstance(r, int)]
            self.metrics.record_submit(account.system_id,
                                       S.ESME_ROK if ids else S.ESME_RSUBMITFAIL)
            if not link.is_open or link.session.closed:
                return
            if not ids:
                link.send(make_response(message, S.ESME_RSUBMITFAIL))
                return
            response = make_response(
                message, message_id=format_message_id(ids[0], self.id_format),
                unsuccess_sme=tuple(unsuccess),
            )
            if fault is None:
                link.send(response)
            elif fault.fault is Fault.SLOW_RESPONSE and self._nursery is not None:
                self._nursery.start_soon(self._send_later, fault.delay, link, response)

        for dest, new in accepted:
            self.accept(new, partial(collect, dest))

    # -- query / cancel / replace -----------------------------------------------------------

    async def _store_request(self, link: Link, account: Account, message: Pdu) -> None:
        try:
            response = await self._answer_store_request(account, message)
        except Rejected as rejected:
            response = make_response(message, rejected.status)
        if link.is_open and not link.session.closed:
            link.send(response)
        self.outbound.wake()

    async def _answer_store_request(self, account: Account, message: Pdu) -> Pdu:
        now = self.clock.wall()
        system_id = account.system_id
        call = self.committer.call
        match message:
            case QuerySm():
                message_id = parse_message_id(message.message_id, self.id_format)
                found = None if message_id is None else await call(
                    self.store.query, message_id, system_id
                )
                if found is None or found.fields.source_addr != message.source_addr:
                    raise Rejected(S.ESME_RQUERYFAIL)
                return make_response(
                    message,
                    message_id=message.message_id,
                    final_date=format_absolute(found.final_at) if found.final_at else "",
                    message_state=int(found.state),
                    error_code=(found.network_error_code or 0) & 0xFF,
                )
            case CancelSm():
                message_id = None
                if message.message_id:
                    message_id = parse_message_id(message.message_id, self.id_format)
                    if message_id is None:
                        raise Rejected(S.ESME_RCANCELFAIL)
                elif not message.destination_addr:
                    raise Rejected(S.ESME_RCANCELFAIL)
                cancelled = await call(
                    self.store.cancel, system_id=system_id, now=now, message_id=message_id,
                    source_addr=message.source_addr, destination_addr=message.destination_addr,
                    service_type=message.service_type,
                )
                if not cancelled:
                    raise Rejected(S.ESME_RCANCELFAIL)
                return make_response(message)
            case ReplaceSm():
                message_id = parse_message_id(message.message_id, self.id_format)
                if message_id is None:
                    raise Rejected(S.ESME_RREPLACEFAIL)
                times = self.submits.times(account, message.schedule_delivery_time,
                                           message.validity_period, now)
                replaced = await call(
                    self.store.replace, message_id=message_id, system_id=system_id,
                    source_addr=message.source_addr, now=now,
                    payload=message.short_message if message.short_message else None,
                    schedule_at=times.schedule_at,
                    expires_at=times.expires_at if message.validity_period else None,
                    registered_delivery=message.registered_delivery,
                )
                if not replaced:
                    raise Rejected(S.ESME_RREPLACEFAIL)
                return make_response(message)
        raise Rejected(S.ESME_RINVCMDID)  # pragma: no cover


__all__ = ["Rejected", "SmscService"]
