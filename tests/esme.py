"""A minimal ESME for shell tests: our own ESME-role session over any trio stream."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from smsc.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    FrameBuffer,
    Pdu,
    decode,
    make_response,
)
from smsc.session import (
    ConnectionClosed,
    Event,
    RequestReceived,
    ResponseReceived,
    Role,
    SessionLimits,
    SmppSession,
)

BIND_CLASSES = {"transmitter": BindTransmitter, "receiver": BindReceiver,
                "transceiver": BindTransceiver}


class Esme:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.session = SmppSession(
            Role.ESME, limits=SessionLimits(window=1000, enquire_link_timer=0,
                                            response_timer=3600), now=trio.current_time()
        )
        self.events: list[Event] = []
        self.auto_answer = True

    async def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            await self.stream.send_all(data)

    async def send(self, pdu: Pdu) -> Pdu:
        sent = self.session.send(pdu, trio.current_time())
        await self.flush()
        return sent

    async def next_event(self) -> Event:
        """The next event; deliver_sm is answered with ESME_ROK unless auto_answer is off."""
        while not self.events:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            self.session.receive_data(data, trio.current_time())
            while (event := self.session.next_event()) is not None:
                if (
                    self.auto_answer
                    and isinstance(event, RequestReceived)
                    and event.message.command_id & 0x7FFFFFFF in (0x05, 0x103)
                ):
                    self.session.send(make_response(event.message), trio.current_time())
                self.events.append(event)
            await self.flush()
        return self.events.pop(0)

    async def request(self, pdu: Pdu) -> Pdu:
        """Send a request and return its response (other events are kept in order)."""
        sent = await self.send(pdu)
        kept: list[Event] = []
        while True:
            event = await self.next_event()
            if isinstance(event, ResponseReceived) and event.request == sent:
                self.events = kept + self.events
                return event.message
            if isinstance(event, ConnectionClosed):
                raise AssertionError(f"closed while waiting: {event.reason}")
            kept.append(event)

    async def bind(self, mode: str = "transceiver", system_id: str = "smppclient1",
                   password: str = "password", **fields: Any) -> Pdu:
        return await self.request(
            BIND_CLASSES[mode](system_id=system_id, password=password, **fields)
        )

    async def next_request(self) -> Pdu:
        while True:
            event = await self.next_event()
            if isinstance(event, RequestReceived):
                return event.message
            if isinstance(event, ConnectionClosed):
                raise AssertionError(f"closed: {event.reason}")

    async def closed(self) -> ConnectionClosed:
        while True:
            event = await self.next_event()
            if isinstance(event, ConnectionClosed):
                return event


async def connect(running: Any) -> Esme:
    """An Esme on one end of a memory stream whose other end the running SMSC serves."""
    client, server = trio.testing.memory_stream_pair()
    running.attach(server)
    return Esme(client)


async def read_until_closed(stream: trio.abc.ReceiveStream) -> list[Pdu]:
    """Every PDU the SMSC sends on `stream` until it closes the connection."""
    frames = FrameBuffer(max_command_length=1 << 20)
    pdus: list[Pdu] = []
    while True:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            data = b""
        if not data:
            return pdus
        frames.feed(data)
        pdus += [decode(frame) for frame in frames.pop_all()]
