"""SmscService: the SMSC's answers to its ESMEs (binds, submits, queries, cancels, replaces).

It receives every session event of every link (synchronously, on the trio thread), checks
requests against the account and SMPP's field rules, hands accepted messages to the committer
and answers each submit only once its message is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import trio

from smsc.accounts import Account
from smsc.clock import Clock
from smsc.config import NO_NETWORK, Config
from smsc.constructors import constructor
from smsc.delivery.committer import AcceptCallback, Committer
from smsc.delivery.outbound import OutboundDispatcher
from smsc.logs import trace_event
from smsc.metrics import SmscMetrics
from smsc.pdu import (
    CancelSm,
    DataSm,
    Pdu,
    QuerySm,
    ReplaceSm,
    SmeDest,
    SubmitMulti,
    SubmitSm,
    UnsuccessSme,
    make_response,
)
from smsc.pdu.constants import (
    ESM_MODE_MASK,
    ESM_TYPE_MASK,
    CommandStatus,
    DataCoding,
    EsmFeature,
    EsmMode,
    EsmType,
    Tag,
)
from smsc.pdu.smpp_time import SmppTimeError, format_absolute, parse_smpp_time
from smsc.pdu.tlv import encode_tlvs
from smsc.routing.table import RoutingTable
from smsc.server.answers import ACCEPTED, AcceptedAnswers
from smsc.server.authentication import BindAuthenticator
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
from smsc.simulation.fate import Simulation, SubmitFault
from smsc.simulation.networks import Fault
from smsc.store import (
    AcceptRefused,
    Direction,
    NewMessage,
    format_message_id,
    parse_message_id,
)

log = logging.getLogger("smsc.service")
S = CommandStatus
MAX_TON = 6
SUBMIT_COMMANDS = frozenset({SubmitSm.command_id, DataSm.command_id, SubmitMulti.command_id})
SEGMENT_TAGS = (Tag.sar_msg_ref_num, Tag.sar_total_segments, Tag.sar_segment_seqnum,
                Tag.set_dpf, Tag.user_message_reference)
"""Segment info, set_dpf and the ESME's own reference, kept with a message (as encoded TLVs
in its `extra`); receipts and SME acknowledgements give user_message_reference back."""
UDHI = int(EsmFeature.UDHI)
"""As a plain int: `int & IntFlag` builds a flag object each time."""
SUBMIT_ESM_TYPES = frozenset({EsmType.NORMAL, EsmType.DELIVERY_ACK, EsmType.MANUAL_ACK})
"""Message types an ESME may submit (SPEC 5.2.12: receipts only flow SMSC → ESME)."""
# Members used once or more per message, as module constants: on Python 3.11 each
# `EnumClass.MEMBER` runs EnumType.__getattr__'s lookup hook, four times a global's cost.
_ROK = S.ESME_ROK
_PAYLOAD = Tag.message_payload
_MT = Direction.MT
_UCS2 = DataCoding.UCS2
_FORWARD = EsmMode.FORWARD


_bare = object.__new__


class Rejected(Exception):
    """A request that must be answered with `status` (no message is stored)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(slots=True)
class Times:
    expires_at: datetime
    schedule_at: datetime | None
    now: datetime
    """The wall time the submit was resolved at (its submit date)."""


_make_times = constructor(Times)


def resolve_times(
    schedule: str, validity: str, now: datetime, *, default_validity: float, max_validity: float
) -> Times:
    """Absolute schedule and expiry for a submit (REFERENCE.md §9).

    Raises:
        Rejected: ESME_RINVSCHED / ESME_RINVEXPIRY for malformed or impossible times.
    """
    if not schedule and not validity:  # the usual submit: default validity from now on
        return Times(now + timedelta(seconds=min(default_validity, max_validity)), None, now)
    try:
        schedule_at = parse_smpp_time(schedule, now)
    except SmppTimeError:
        raise Rejected(S.ESME_RINVSCHED) from None
    try:
        expires_at = parse_smpp_time(validity, now)
    except SmppTimeError:
        raise Rejected(S.ESME_RINVEXPIRY) from None
    start = max(schedule_at or now, now)
    if expires_at is None:
        expires_at = start + timedelta(seconds=default_validity)
    if expires_at <= now:
        raise Rejected(S.ESME_RINVEXPIRY)
    if schedule_at is not None and schedule_at >= expires_at:
        raise Rejected(S.ESME_RINVSCHED)
    return Times(min(expires_at, start + timedelta(seconds=max_validity)), schedule_at, now)


def check_message_fields(message: SubmitSm | SubmitMulti | DataSm, account: Account) -> None:
    """SMPP field rules shared by submit_sm, submit_multi and data_sm.

    Raises:
        Rejected: with the status SPEC 5.1.3 names for the first rule broken.
    """
    esm = message.esm_class
    if (esm & ESM_TYPE_MASK) not in SUBMIT_ESM_TYPES or esm & 0x80 or (
        (esm & ESM_MODE_MASK) == _FORWARD and not isinstance(message, DataSm)
    ):
        raise Rejected(S.ESME_RINVESMCLASS)
    if message.registered_delivery & 0xE0:
        raise Rejected(S.ESME_RINVREGDLVFLG)
    if message.source_addr_ton > MAX_TON:
        raise Rejected(S.ESME_RINVSRCTON)
    if account.source_patterns and not account.source_allowed(message.source_addr):
        raise Rejected(S.ESME_RINVSRCADR)
    if isinstance(message, DataSm):
        return
    if message.priority_flag > 3:
        raise Rejected(S.ESME_RINVPRTFLG)
    if message.sm_default_msg_id:
        raise Rejected(S.ESME_RINVDFTMSGID)  # no canned messages are configured
    tlvs = message.tlvs
    payload = tlvs.get(_PAYLOAD) if tlvs else None
    if message.short_message and payload is not None:
        raise Rejected(S.ESME_RINVMSGLEN)  # SPEC 3.2.3: one or the other
    if message.replace_if_present_flag > 1:
        raise Rejected(S.ESME_RINVREPFLAG)
    if esm & UDHI or message.data_coding == _UCS2:
        check_user_data(esm, message.data_coding, payload or message.short_message)


def check_user_data(esm_class: int, data_coding: int, user_data: bytes) -> None:
    """Lengths that cannot be right: a UDH longer than the data, half a UCS2 character.

    Raises:
        Rejected: ESME_RINVESMCLASS for a broken UDH, ESME_RINVMSGLEN for odd UCS2.
    """
    text = user_data
    if esm_class & UDHI:
        if not user_data or user_data[0] + 1 > len(user_data):
            raise Rejected(S.ESME_RINVESMCLASS)  # UDHI set but no whole UDH (REFERENCE §11.5)
        text = user_data[user_data[0] + 1 :]
    if data_coding == DataCoding.UCS2 and len(text) % 2:
        raise Rejected(S.ESME_RINVMSGLEN)


def _segment_info(tlvs: Mapping[int, Any]) -> bytes:
    return encode_tlvs({tag: tlvs[tag] for tag in SEGMENT_TAGS if tag in tlvs})


def check_destination(ton: int, address: str) -> None:
    if ton > MAX_TON:
        raise Rejected(S.ESME_RINVDSTTON)
    if not address:
        raise Rejected(S.ESME_RINVDSTADR)


class SmscService:
    """Handles every link's session events; see the module docstring."""

    def __init__(
        self,
        *,
        config: Config,
        authenticator: BindAuthenticator,
        committer: Committer,
        outbound: OutboundDispatcher,
        clock: Clock,
        routes: RoutingTable,
        metrics: SmscMetrics,
        simulation: Simulation | None = None,
        answers: AcceptedAnswers,
        accept: Callable[[NewMessage, AcceptCallback], None] | None = None,
        trace: Callable[[str, Pdu], None] | None = None,
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        """Answers binds and knows which account each link is bound as."""
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
        self.answers = answers
        """Where the usual answers wait until the commit's callbacks have all run."""
        self._received: float | None = None
        self._received_wall = datetime.fromtimestamp(0, UTC)
        self._expiry: dict[timedelta, datetime] = {}
        """The last chunk's arrival time (`Link.received_at`, compared by identity), its wall
        time and the expiries computed from it: its submits share them, so that a chunk
        converts one time, and the stores and receipts meet the same objects again."""
        self._validity_of: dict[str, timedelta] = {}
        """Per account, the validity of a submit that sets none (config is fixed)."""
        self._nursery: trio.Nursery | None = None
        self.trace = trace
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
            case ConnectionClosed(reason, unanswered):
                self.authenticator.closed(link)
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
        if self.trace is not None:
            self._trace_all(events)
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
                case SubmitSm():
                    self._submit_sm(link, account, message)
                case DataSm():
                    self._data_sm(link, account, message)
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

    def _throttle(self, account: Account, now: float) -> None:
        bucket = account.bucket
        if bucket.rate and not bucket.take(now):
            raise Rejected(S.ESME_RTHROTTLED)

    def _new_message(
        self,
        account: Account,
        message: SubmitSm | SubmitMulti | DataSm,
        dest_addr_ton: int,
        dest_addr_npi: int,
        destination_addr: str,
        payload: bytes,
        submitted_at: datetime,
        expires_at: datetime,
        schedule_at: datetime | None,
        network: str,
    ) -> NewMessage:
        # set field by field on a bare object: the dataclass's keyword __init__ costs four
        # times as much here, once per message (tests check every field is set); called with
        # positional arguments, which cost less than keywords
        new: NewMessage = _bare(NewMessage)
        new.system_id = account.system_id
        new.destination_addr = destination_addr
        new.payload = payload
        new.direction = _MT
        new.service_type = message.service_type
        new.source_addr_ton = message.source_addr_ton
        new.source_addr_npi = message.source_addr_npi
        new.source_addr = message.source_addr
        new.dest_addr_ton = dest_addr_ton
        new.dest_addr_npi = dest_addr_npi
        new.esm_class = message.esm_class
        if type(message) is DataSm:  # data_sm has no protocol_id, priority or replace flag
            new.protocol_id = new.priority_flag = 0
            new.replace_if_present = False
        else:
            new.protocol_id = message.protocol_id  # type: ignore[union-attr]
            new.priority_flag = message.priority_flag  # type: ignore[union-attr]
            new.replace_if_present = (
                message.replace_if_present_flag != 0)  # type: ignore[union-attr]
        new.registered_delivery = message.registered_delivery
        new.data_coding = message.data_coding
        new.submitted_at = submitted_at
        new.expires_at = expires_at
        new.schedule_at = schedule_at
        new.network = network
        new.extra = _segment_info(message.tlvs) if message.tlvs else b""
        return new

    def _route(self, account: Account, message: SubmitSm | SubmitMulti | DataSm, ton: int,
               npi: int, destination: str) -> str:
        """The network for one destination.

        Raises:
            Rejected: ESME_RINVDSTADR when no network takes it and routing.unroutable is
                "reject", or when validate_numbers is on and the number is impossible.
        """
        routes = self.routes
        if routes.trivial:  # no rules, no validation: no number to parse
            network = routes.default
        else:
            route = routes.resolve(ton=ton, npi=npi, destination=destination,
                                   account=account.system_id, source=message.source_addr)
            if routes.config.validate_numbers and (
                route.number is None or not route.number.valid
            ):
                raise Rejected(S.ESME_RINVDSTADR)
            network = route.network
        if network is None:
            if routes.config.unroutable == "reject":
                raise Rejected(S.ESME_RINVDSTADR)
            return NO_NETWORK
        return network

    def _times(self, account: Account, schedule: str, validity: str, now: datetime) -> Times:
        """When a submit received at `now` (wall time) is due and expires."""
        if not schedule and not validity:  # the usual submit: one sum, no time parsing
            usual = self._validity_of.get(account.system_id)
            if usual is not None:
                return _make_times(now + usual, None, now)
        store = self.config.store
        default_validity = account.config.default_validity or store.default_validity
        max_validity = account.config.max_validity or store.max_validity
        if not schedule and not validity:
            usual = self._validity_of[account.system_id] = timedelta(
                seconds=min(default_validity, max_validity))
            return _make_times(now + usual, None, now)
        return resolve_times(schedule, validity, now, default_validity=default_validity,
                             max_validity=max_validity)

    def _submit_sm(self, link: Link, account: Account, message: SubmitSm) -> None:
        # the checks and steps of _data_sm, with their usual cases inlined (once per message)
        check_message_fields(message, account)
        destination = message.destination_addr
        ton = message.dest_addr_ton
        if ton > MAX_TON or not destination:
            check_destination(ton, destination)  # (raises)
        routes = self.routes
        network = routes.default if routes.trivial else None
        if network is None:
            network = self._route(account, message, ton, message.dest_addr_npi, destination)
        received = link.received_at
        if received is self._received:  # a chunk's submits share its times (and objects)
            now = self._received_wall
        else:
            now = self._received_wall = self.clock.wall_at(received)
            self._received = received
            self._expiry.clear()
        usual = (None if message.schedule_delivery_time or message.validity_period
                 else self._validity_of.get(account.system_id))
        if usual is None:
            times = self._times(account, message.schedule_delivery_time,
                                message.validity_period, now)
            expires_at, schedule_at = times.expires_at, times.schedule_at
        else:  # the usual: default validity from now on
            schedule_at = None
            expiry = self._expiry.get(usual)
            if expiry is None:
                expiry = self._expiry[usual] = now + usual
            expires_at = expiry
        bucket = account.bucket
        if bucket.rate and not bucket.take(received):
            raise Rejected(S.ESME_RTHROTTLED)
        payload = message.tlvs.get(_PAYLOAD) or message.short_message
        fault = (None if self.simulation is None
                 else self.simulation.submit_fault(network, destination,
                                                   source=message.source_addr, payload=payload))
        if fault is not None and self._fault_before_store(link, account, message, fault):
            return
        new = self._new_message(account, message, ton, message.dest_addr_npi, destination,
                                payload, now, expires_at, schedule_at, network)
        self.accept(new, partial(self._answer, link, account, message, received, fault))

    def _data_sm(self, link: Link, account: Account, message: DataSm) -> None:
        check_message_fields(message, account)
        check_destination(message.dest_addr_ton, message.destination_addr)
        network = self._route(account, message, message.dest_addr_ton, message.dest_addr_npi,
                              message.destination_addr)
        received = self.clock.monotonic()
        times = self._times(account, "", "", self.clock.wall_at(received))
        self._throttle(account, received)
        payload = message.tlvs.get(Tag.message_payload) or b""
        fault = (None if self.simulation is None
                 else self.simulation.submit_fault(network, message.destination_addr,
                                                   source=message.source_addr, payload=payload))
        if fault is not None and self._fault_before_store(link, account, message, fault):
            return
        new = self._new_message(
            account, message, message.dest_addr_ton, message.dest_addr_npi,
            message.destination_addr, payload, times.now,
            times.expires_at, times.schedule_at, network,
        )
        self.accept(new, partial(self._answer, link, account, message, received, fault))

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
            link.send_accepted(ACCEPTED[request.command_id], self.answers.body_of(result),
                               request.sequence_number)
        else:
            link.send(make_response(request, status))

    async def _answer_later(self, delay: float, link: Link, account: Account, request: Pdu,
                            received: float, result: int) -> None:
        await trio.sleep(delay)
        self._answer(link, account, request, received, None, result)
        self.answers.send()

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
        check_message_fields(message, account)
        if not 1 <= len(message.dest_address) <= 254:
            raise Rejected(S.ESME_RINVNUMDESTS)
        if not all(isinstance(d, SmeDest) for d in message.dest_address):
            raise Rejected(S.ESME_RCNTSUBDL)  # no distribution lists are configured
        times = self._times(account, message.schedule_delivery_time, message.validity_period,
                            self.clock.wall())
        self._throttle(account, self.clock.monotonic())
        payload = message.tlvs.get(_PAYLOAD) or message.short_message
        accepted: list[tuple[SmeDest, NewMessage]] = []
        unsuccess: list[UnsuccessSme] = []
        for dest in message.dest_address:
            assert isinstance(dest, SmeDest)
            try:
                check_destination(dest.dest_addr_ton, dest.destination_addr)
                network = self._route(account, message, dest.dest_addr_ton, dest.dest_addr_npi,
                                      dest.destination_addr)
            except Rejected as rejected:
                unsuccess.append(UnsuccessSme(dest.dest_addr_ton, dest.dest_addr_npi,
                                              dest.destination_addr, rejected.status))
                continue
            accepted.append((dest, self._new_message(
                account, message, dest.dest_addr_ton, dest.dest_addr_npi,
                dest.destination_addr, payload, times.now, times.expires_at, times.schedule_at,
                network,
            )))
        if not accepted:
            raise Rejected(S.ESME_RSUBMITFAIL)
        first = accepted[0][1]  # the first destination's network decides a simulated fault
        fault = (None if self.simulation is None
                 else self.simulation.submit_fault(first.network, first.destination_addr,
                                                   source=first.source_addr, payload=payload))
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
                times = self._times(account, message.schedule_delivery_time,
                                    message.validity_period, self.clock.wall())
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
