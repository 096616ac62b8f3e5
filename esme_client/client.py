"""EsmeClient: bind to an SMSC, submit with a window, receive MO and receipts, reconnect.

    async with esme_client.connect("127.0.0.1", 2775, system_id="smppclient1",
                                   password="password") as client:
        result = await client.submit_text("4915100000002", "Hello", registered_delivery=1)
        receipt = await client.wait_receipt(result.message_id, timeout=30)

Every deliver_sm is answered as soon as it is read. Receipts go to whoever waits for their
message id (`wait_receipt`), everything else to `deliveries()`; when nobody reads that and its
buffer is full, deliver_sm is answered ESME_RMSGQFUL so the SMSC keeps the message and retries.
With `reconnect=True` a lost connection is opened and bound again with exponential backoff;
requests in flight when it drops fail with ConnectionLost (they are not re-sent).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import ssl
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from esme_client.compose import choose_data_coding, part_pdus, scheme_named, split_message
from esme_client.connection import Connection, PendingRequest
from esme_client.errors import (
    BindError,
    ConnectError,
    ConnectionLost,
    EncodingError,
    GenericNackError,
    ResponseTimeout,
    SmppError,
    SmppStatusError,
)
from esme_client.results import (
    BroadcastQueryResult,
    BroadcastResult,
    Delivery,
    QueryResult,
    Receipt,
    SubmitMultiResult,
    SubmitResult,
    is_receipt_pdu,
    mobile_originated,
    receipt_of,
    receipted_id,
    user_data_of,
)
from smsc.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    BroadcastSm,
    BroadcastSmResp,
    CancelBroadcastSm,
    CancelSm,
    CommandId,
    CommandStatus,
    DistributionListDest,
    EnquireLink,
    GenericNack,
    MessageState,
    Pdu,
    QueryBroadcastSm,
    QueryBroadcastSmResp,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    SmeDest,
    SubmitMulti,
    SubmitMultiResp,
    Tag,
    Unbind,
    UnsuccessSme,
    with_sequence,
)
from smsc.pdu.broadcast import area_name, frequency_interval, name_area
from smsc.pdu.concat import Reassembler
from smsc.pdu.text import TextError, encode_text
from smsc.session import SessionLimits

BIND_MODES: dict[str, type[Pdu]] = {
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
    "transceiver": BindTransceiver,
}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Where to connect, how to bind and the client's limits (seconds for times)."""

    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "smppclient1"
    password: str = field(default="password", repr=False)
    mode: str = "transceiver"
    """transmitter, receiver or transceiver."""
    system_type: str = ""
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    interface_version: int = 0x34
    """The SMPP version the bind names: 0x34, or 0x50 for SMPP 5.0 (broadcasts,
    congestion_state); the session speaks the lower of it and the SMSC's answer."""
    ssl_context: ssl.SSLContext | None = None
    """TLS when set (the certificate is checked against `host`)."""
    window: int = 10
    """Most requests awaiting a response at once."""
    enquire_link_interval: float = 30.0
    """Idle seconds before we probe the SMSC with enquire_link; 0 disables."""
    response_timeout: float = 30.0
    connect_timeout: float = 10.0
    reconnect: bool = False
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    delivery_buffer: int = 10000
    """Deliveries kept for `deliveries()`; beyond this deliver_sm is answered ESME_RMSGQFUL."""
    max_tracked: int = 100000
    """Submitted message ids remembered to correlate (and time) their receipts."""
    reassembly_timeout: float = 300.0


class ReceiptTimeout(SmppError):
    """The receipt did not arrive within the given time."""


def _seconds(value: float | None) -> str:
    """A duration for people: 2, 0.5, 1.25 (not 1.9999990589858498)."""
    return "∞" if value is None else f"{round(value, 3):g}"


class EsmeClient:
    """A bound SMPP client; build it with `connect` (an async context manager)."""

    def __init__(self, config: ClientConfig, nursery: trio.Nursery) -> None:
        self.config = config
        self._nursery = nursery
        self._connection: Connection | None = None
        self._ready = trio.Event()
        self._closing = False
        self._finished = False
        self.reconnects = 0
        """How many times the connection was opened and bound again."""
        self.last_error: BaseException | None = None
        self.smsc_system_id = ""
        self._references = itertools.count(random.randrange(1 << 16))
        self._queue: deque[Delivery] = deque()
        self._queue_lot = trio.lowlevel.ParkingLot()
        self._submitted: OrderedDict[str, float] = OrderedDict()
        self._arrived: OrderedDict[str, Delivery] = OrderedDict()
        self._receipt_waiters: dict[str, trio.Event] = {}
        self._reassembler = Reassembler(config.reassembly_timeout)
        self._lost_lot = trio.lowlevel.ParkingLot()

    # -- connection ------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        connection = self._connection
        return connection is not None and connection.session.state.is_bound

    @property
    def connection(self) -> Connection | None:
        """The current connection (None while reconnecting)."""
        return self._connection

    async def _open(self) -> Connection:
        config = self.config
        try:
            with trio.fail_after(config.connect_timeout):
                stream: trio.abc.Stream
                if config.ssl_context is not None:
                    stream = await trio.open_ssl_over_tcp_stream(
                        config.host, config.port, ssl_context=config.ssl_context,
                        https_compatible=False,
                    )
                    await stream.do_handshake()
                else:
                    stream = await trio.open_tcp_stream(config.host, config.port)
        except (OSError, trio.TooSlowError, trio.BrokenResourceError, ssl.SSLError) as error:
            raise ConnectError(f"cannot connect to {config.host}:{config.port}: {error}") from error
        limits = SessionLimits(
            window=config.window,
            enquire_link_timer=config.enquire_link_interval,
            response_timer=config.response_timeout,
        )
        connection = Connection(stream, limits, self._on_deliver)
        await self._nursery.start(connection.run)
        bind = BIND_MODES[config.mode](
            system_id=config.system_id, password=config.password,  # type: ignore[call-arg]
            system_type=config.system_type, addr_ton=config.addr_ton,
            addr_npi=config.addr_npi, address_range=config.address_range,
            interface_version=config.interface_version,
        )
        try:
            response = await connection.request(bind)
        except SmppError:
            connection.abort("bind failed")
            raise
        if response.command_status != CommandStatus.ESME_ROK:
            connection.abort("bind refused")
            raise BindError(response.command_status, bind, response)
        self.smsc_system_id = str(getattr(response, "system_id", ""))
        return connection

    async def _start(self) -> None:
        self._connection = await self._open()
        self._ready.set()
        self._nursery.start_soon(self._supervise)

    async def _supervise(self) -> None:
        config = self.config
        while True:
            connection = self._connection
            assert connection is not None
            await connection.closed.wait()
            self._connection = None
            self._ready = trio.Event()
            self._lost_lot.unpark_all()
            if self._closing or not config.reconnect:
                break
            delay = config.backoff_initial
            while not self._closing:
                await trio.sleep(delay * random.uniform(0.5, 1.0))
                try:
                    self._connection = await self._open()
                    break
                except SmppError as error:
                    self.last_error = error
                    delay = min(delay * 2, config.backoff_max)
            if self._closing:
                break
            self.reconnects += 1
            self._ready.set()
        self._finished = True
        self._ready.set()
        self._queue_lot.unpark_all()
        for event in self._receipt_waiters.values():
            event.set()

    async def wait_connected(self) -> Connection:
        """The bound connection, waiting while a reconnect is under way.

        Raises:
            ConnectionLost: the client is closed, or lost its connection without reconnect.
        """
        while True:
            connection = self._connection
            if connection is not None and not connection.session.closed:
                return connection
            if self._finished or self._closing:
                raise ConnectionLost("the client is not connected")
            if connection is not None:
                await connection.closed.wait()
            await self._ready.wait()

    async def wait_disconnected(self) -> None:
        """Return once the current connection is lost (for monitoring and tests)."""
        if self._connection is not None and not self._connection.session.closed:
            await self._lost_lot.park()

    async def aclose(self) -> None:
        """Unbind cleanly (bounded by the response timeout) and close the connection."""
        if self._closing:
            return
        self._closing = True
        connection = self._connection
        if connection is not None and connection.session.state.is_bound:
            with trio.move_on_after(self.config.response_timeout):
                with contextlib.suppress(SmppError):
                    await connection.request(Unbind())
        if connection is not None:
            connection.abort("closed by the client")
            await connection.closed.wait()

    async def unbind(self) -> None:
        await self.aclose()

    # -- requests --------------------------------------------------------------------------

    async def request(self, message: Pdu) -> Pdu:
        """Send any request and return its response.

        Raises:
            SmppStatusError: the response's command_status is not ESME_ROK (GenericNackError
                for generic_nack).
            ConnectionLost, ResponseTimeout.
        """
        connection = await self.wait_connected()
        response = await connection.request(fresh(message))
        return check(message, response)

    async def ping(self) -> float:
        """Send enquire_link; returns the round trip in seconds."""
        started = trio.current_time()
        await self.request(EnquireLink())
        return trio.current_time() - started

    async def submit_text(
        self,
        destination_addr: str,
        content: str | bytes,
        *,
        source_addr: str = "",
        encoding: str | int = "auto",
        scheme: str = "udh8",
        registered_delivery: int = 0,
        tlvs: Mapping[int, Any] | None = None,
        **fields: Any,
    ) -> SubmitResult:
        """Submit a text (or binary user data), split into parts when it does not fit one.

        `encoding` "auto" picks GSM 03.38 when every character fits, else UCS2; `scheme` is how
        long messages travel: udh8, udh16, sar or payload (whole in message_payload). Other
        submit_sm fields (source_addr_ton, validity_period, ...) go in `fields`.

        Raises:
            EncodingError: the text cannot be carried in that encoding.
            SmppStatusError: the SMSC refused a part (the parts before it were accepted).
        """
        data_coding = (
            choose_data_coding(content, encoding) if isinstance(content, str)
            else choose_data_coding("", encoding if encoding != "auto" else "binary")
        )
        parts = split_message(content, data_coding, scheme=scheme_named(scheme),
                              reference=next(self._references) & 0xFFFF)
        pdus = part_pdus(parts, data_coding, {
            "destination_addr": destination_addr, "source_addr": source_addr,
            "registered_delivery": registered_delivery, **fields}, tlvs or {})
        ids, started = await self._send_all(pdus, track=bool(registered_delivery & 0x13))
        return SubmitResult(tuple(ids), data_coding, started)

    async def submit_multi(
        self,
        destinations: Sequence[str],
        content: str | bytes,
        *,
        source_addr: str = "",
        encoding: str | int = "auto",
        scheme: str = "udh8",
        registered_delivery: int = 0,
        dest_addr_ton: int = 0,
        dest_addr_npi: int = 0,
        distribution_lists: Sequence[str] = (),
        **fields: Any,
    ) -> SubmitMultiResult:
        """One text to several destinations (and distribution lists) in submit_multi."""
        data_coding = (
            choose_data_coding(content, encoding) if isinstance(content, str)
            else choose_data_coding("", encoding if encoding != "auto" else "binary")
        )
        parts = split_message(content, data_coding, scheme=scheme_named(scheme),
                              reference=next(self._references) & 0xFFFF)
        singles = part_pdus(parts, data_coding, {"registered_delivery": registered_delivery,
                                                 **fields}, {})
        dests: tuple[SmeDest | DistributionListDest, ...] = (
            *(SmeDest(dest_addr_ton, dest_addr_npi, d) for d in destinations),
            *(DistributionListDest(name) for name in distribution_lists),
        )
        pdus = [
            SubmitMulti(
                source_addr=source_addr, dest_address=dests, esm_class=p.esm_class,
                registered_delivery=p.registered_delivery, data_coding=p.data_coding,
                short_message=p.short_message, tlvs=p.tlvs,
                **{k: v for k, v in fields.items() if k != "esm_class"},
            )
            for p in singles
        ]
        connection = await self.wait_connected()
        started = trio.current_time()
        hook = self._track_response if registered_delivery & 0x13 else None
        pending = [await connection.send(pdu, hook) for pdu in pdus]
        ids: list[str] = []
        unsuccessful: list[UnsuccessSme] = []
        for item in pending:
            response = check(item.request, await item.wait())
            assert isinstance(response, SubmitMultiResp)
            ids.append(response.message_id)
            unsuccessful.extend(response.unsuccess_sme)
        return SubmitMultiResult(tuple(ids), tuple(unsuccessful), data_coding, started)

    async def submit(self, message: Pdu) -> str:
        """Submit a ready-made submit_sm / data_sm; returns the message id."""
        ids, _ = await self._send_all(
            [fresh(message)],
            track=bool(int(getattr(message, "registered_delivery", 0)) & 0x13))
        return ids[0]

    async def _send_all(self, pdus: Sequence[Pdu], *, track: bool) -> tuple[list[str], float]:
        connection = await self.wait_connected()
        started = trio.current_time()
        hook = self._track_response if track else None
        pending: list[PendingRequest] = [await connection.send(pdu, hook) for pdu in pdus]
        ids = [str(getattr(check(item.request, await item.wait()), "message_id", ""))
               for item in pending]
        return ids, started

    def _track_response(self, pending: PendingRequest, response: Pdu) -> None:
        if response.command_status == CommandStatus.ESME_ROK:
            self._track(str(getattr(response, "message_id", "")), pending.sent_at)

    def _track(self, message_id: str, sent_at: float) -> None:
        submitted = self._submitted
        submitted[message_id.lower()] = sent_at
        if len(submitted) > self.config.max_tracked:
            submitted.popitem(last=False)

    async def query(self, message_id: str, source_addr: str = "", *, source_addr_ton: int = 0,
                    source_addr_npi: int = 0) -> QueryResult:
        response = await self.request(QuerySm(
            message_id=message_id, source_addr=source_addr, source_addr_ton=source_addr_ton,
            source_addr_npi=source_addr_npi))
        assert isinstance(response, QuerySmResp)
        state: MessageState | int
        try:
            state = MessageState(response.message_state)
        except ValueError:
            state = response.message_state
        return QueryResult(response.message_id, state, response.final_date, response.error_code)

    async def cancel(self, message_id: str = "", *, source_addr: str = "",
                     destination_addr: str = "", service_type: str = "", **fields: Any) -> None:
        """cancel_sm one message (by id) or all pending ones from source to destination."""
        await self.request(CancelSm(
            message_id=message_id, source_addr=source_addr, destination_addr=destination_addr,
            service_type=service_type, **fields))

    async def replace(self, message_id: str, content: str | bytes, *, source_addr: str = "",
                      encoding: str | int = "gsm", registered_delivery: int = 0,
                      schedule_delivery_time: str = "", validity_period: str = "",
                      **fields: Any) -> None:
        """replace_sm: the new text must fit one message in the original's data_coding."""
        if isinstance(content, str):
            try:
                content = encode_text(content, choose_data_coding(content, encoding))
            except TextError as error:
                raise EncodingError(str(error)) from None
        await self.request(ReplaceSm(
            message_id=message_id, source_addr=source_addr, short_message=content,
            registered_delivery=registered_delivery,
            schedule_delivery_time=schedule_delivery_time, validity_period=validity_period,
            **fields))

    # -- SMPP 5.0 broadcasts ---------------------------------------------------------------

    async def broadcast(self, content: str | bytes, areas: Sequence[str], *,
                        source_addr: str = "", rep_num: int = 1, interval: float = 0.0,
                        content_type: int = 0x0000, network: int = 0,
                        encoding: str | int = "gsm", **fields: Any) -> BroadcastResult:
        """broadcast_sm (a session bound at SMPP 5.0): `content` to the areas named,
        `rep_num` times every `interval` seconds (0: as often as possible); `content_type` and
        `network` make broadcast_content_type (0x0000 index, 0x0001 emergency...).

        Raises:
            SmppStatusError: refused (ESME_RBCASTFAIL when no area took it...).
        """
        data_coding = fields.pop("data_coding", None)
        if isinstance(content, str):
            data_coding = choose_data_coding(content, encoding)
            try:
                content = encode_text(content, data_coding)
            except TextError as error:
                raise EncodingError(str(error)) from None
        tlvs: dict[int, Any] = {
            Tag.broadcast_area_identifier: tuple(name_area(area) for area in areas),
            Tag.broadcast_content_type: bytes((network,)) + content_type.to_bytes(2, "big"),
            Tag.broadcast_rep_num: rep_num,
            Tag.broadcast_frequency_interval: frequency_interval(interval),
            Tag.message_payload: content,
            **fields.pop("tlvs", {}),
        }
        response = await self.request(BroadcastSm(
            source_addr=source_addr, data_coding=data_coding or 0, tlvs=tlvs, **fields))
        assert isinstance(response, BroadcastSmResp)
        failed = _as_tuple(response.tlvs.get(Tag.broadcast_area_identifier))
        statuses = _as_tuple(response.tlvs.get(Tag.broadcast_error_status))
        return BroadcastResult(response.message_id,
                               {area_name(a): s for a, s in zip(failed, statuses, strict=False)})

    async def query_broadcast(self, message_id: str, source_addr: str = "",
                              **fields: Any) -> BroadcastQueryResult:
        """query_broadcast_sm: where a broadcast stands, area by area."""
        response = await self.request(QueryBroadcastSm(
            message_id=message_id, source_addr=source_addr, **fields))
        assert isinstance(response, QueryBroadcastSmResp)
        raw_state = response.tlvs.get(Tag.message_state, MessageState.UNKNOWN)
        state: MessageState | int
        try:
            state = MessageState(raw_state)
        except ValueError:
            state = raw_state
        areas = _as_tuple(response.tlvs.get(Tag.broadcast_area_identifier))
        success = _as_tuple(response.tlvs.get(Tag.broadcast_area_success))
        return BroadcastQueryResult(
            response.message_id, state,
            {area_name(a): s for a, s in zip(areas, success, strict=False)},
            response.tlvs.get(Tag.broadcast_end_time) or "")

    async def cancel_broadcast(self, message_id: str = "", *, source_addr: str = "",
                               service_type: str = "", **fields: Any) -> None:
        """cancel_broadcast_sm one broadcast (by id) or all of this source's still running."""
        await self.request(CancelBroadcastSm(
            message_id=message_id, source_addr=source_addr, service_type=service_type,
            **fields))

    # -- deliveries and receipts -----------------------------------------------------------

    def _on_deliver(self, pdu: Pdu) -> int:
        now = trio.current_time()
        full = len(self._queue) >= self.config.delivery_buffer
        if is_receipt_pdu(pdu):
            if full and receipted_id(pdu).lower() not in self._receipt_waiters:
                return CommandStatus.ESME_RMSGQFUL  # the SMSC keeps it and tries again
            receipt = receipt_of(pdu, self._submitted, now)
            data = user_data_of(pdu)
            delivery = Delivery(
                pdu, str(getattr(pdu, "source_addr", "")),
                str(getattr(pdu, "destination_addr", "")), int(getattr(pdu, "data_coding", 0)),
                data, data.decode("latin-1"), 1, receipt, now)
            key = receipt.message_id.lower()
            arrived = self._arrived
            arrived[key] = delivery
            if len(arrived) > self.config.max_tracked:
                arrived.popitem(last=False)
            waiter = self._receipt_waiters.pop(key, None)
            if waiter is not None:
                waiter.set()
                return CommandStatus.ESME_ROK
        elif full:
            return CommandStatus.ESME_RMSGQFUL
        else:
            mo = mobile_originated(pdu, self._reassembler, now)
            if mo is None:
                return CommandStatus.ESME_ROK  # a part; the rest is still to come
            delivery = mo
        self._queue.append(delivery)
        self._queue_lot.unpark()
        return CommandStatus.ESME_ROK

    async def next_delivery(self) -> Delivery:
        """The next MO message or receipt nobody waits for by id.

        Raises:
            ConnectionLost: the client closed (or lost its connection without reconnect).
        """
        while not self._queue:
            if self._finished:
                raise ConnectionLost("the client is closed")
            await self._queue_lot.park()
        delivery = self._queue.popleft()
        if delivery.receipt is not None:
            self._arrived.pop(delivery.receipt.message_id.lower(), None)
        return delivery

    def deliveries(self) -> DeliveryIterator:
        """MO messages and receipts as they arrive (`async for`), until the client closes."""
        return DeliveryIterator(self)

    async def wait_receipt(self, message_id: str, timeout: float | None = None) -> Receipt:
        """The receipt for `message_id` (it may have arrived already).

        Raises:
            ReceiptTimeout: none within `timeout` seconds.
            ConnectionLost: the client closed first.
        """
        key = message_id.lower()
        with trio.move_on_after(timeout if timeout is not None else math.inf):
            while True:
                delivery = self._arrived.pop(key, None)
                if delivery is not None:
                    with contextlib.suppress(ValueError):
                        self._queue.remove(delivery)
                    assert delivery.receipt is not None
                    return delivery.receipt
                if self._finished:
                    raise ConnectionLost("the client closed before the receipt came")
                event = self._receipt_waiters.setdefault(key, trio.Event())
                try:
                    await event.wait()
                finally:
                    if not event.is_set() and self._receipt_waiters.get(key) is event:
                        del self._receipt_waiters[key]
        raise ReceiptTimeout(f"no receipt for {message_id} within {_seconds(timeout)} s")

    async def wait_receipts(self, result: SubmitResult | SubmitMultiResult,
                            timeout: float | None = None) -> list[Receipt]:
        """A receipt for every part of a submitted text."""
        receipts = []
        deadline = trio.current_time() + (timeout if timeout is not None else float("inf"))
        for message_id in result.message_ids:
            remaining = max(0.0, deadline - trio.current_time())
            try:
                receipts.append(await self.wait_receipt(message_id, remaining))
            except ReceiptTimeout:  # say the whole wait, not what was left of it
                raise ReceiptTimeout(f"no receipt for {message_id} within "
                                     f"{_seconds(timeout)} s") from None
        return receipts


class DeliveryIterator:
    """`async for delivery in client.deliveries()` (a plain class: nothing to finalize)."""

    def __init__(self, client: EsmeClient) -> None:
        self._client = client

    def __aiter__(self) -> DeliveryIterator:
        return self

    async def __anext__(self) -> Delivery:
        try:
            return await self._client.next_delivery()
        except ConnectionLost:
            raise StopAsyncIteration from None


def _as_tuple(value: Any) -> tuple[Any, ...]:
    """A repeatable TLV's values: none, one, or the tuple of several."""
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def fresh(message: Pdu) -> Pdu:
    """A copy of an unnumbered request: the session numbers what it sends in place, and the
    caller's PDU should stay reusable (a PDU with its own sequence number is sent as it is)."""
    return with_sequence(message, 0) if message.sequence_number == 0 else message


def check(request: Pdu, response: Pdu) -> Pdu:
    """`response`, or the typed error its status names."""
    status = response.command_status
    if isinstance(response, GenericNack):
        raise GenericNackError(status or CommandStatus.ESME_RUNKNOWNERR, request, response)
    if status != CommandStatus.ESME_ROK:
        if request.command_id in (CommandId.bind_transmitter, CommandId.bind_receiver,
                                  CommandId.bind_transceiver):
            raise BindError(status, request, response)
        raise SmppStatusError(status, request, response)
    return response


async def _shielded_nursery(*, task_status: trio.TaskStatus[trio.Nursery]) -> None:
    async with trio.open_nursery() as nursery:
        nursery.cancel_scope.shield = True
        task_status.started(nursery)
        await trio.sleep_forever()


@asynccontextmanager
async def connect(
    host: str = "127.0.0.1", port: int = 2775, *, config: ClientConfig | None = None,
    **options: Any,
) -> AsyncIterator[EsmeClient]:
    """Connect and bind; unbinds and closes on exit.

    `options` are ClientConfig fields (system_id, password, mode, window, ssl_context,
    reconnect, ...). Raises ConnectError or BindError when the first bind fails.
    """
    base = config if config is not None else ClientConfig()
    settings = replace(base, host=host, port=port, **options)
    if settings.mode not in BIND_MODES:
        raise ValueError(f"mode must be one of {', '.join(BIND_MODES)}, not {settings.mode!r}")
    try:
        async with trio.open_nursery() as nursery:
            # the connection's tasks run in a shielded nursery, so that the unbind on the way
            # out still works when the caller's block was cancelled
            service: trio.Nursery = await nursery.start(_shielded_nursery)
            client = EsmeClient(settings, service)
            try:
                await client._start()
                yield client
            finally:
                with trio.CancelScope(shield=True):
                    await client.aclose()
                service.cancel_scope.cancel()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # our own tasks never raise: a group here holds the caller's one exception
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


__all__ = ["ClientConfig", "EsmeClient", "ReceiptTimeout", "ResponseTimeout", "check", "connect"]
