"""Link.flush: answers written from the caller's task, never out of order with the writer's."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from smsc.clock import Clock
from smsc.pdu import BindTransceiver, DeliverSm, Pdu, Unbind, decode, encode, make_response
from smsc.pdu.constants import Tag
from smsc.server.link import Link
from smsc.session import (
    ConnectionClosed,
    Event,
    RequestReceived,
    ResponseReceived,
    Role,
    SessionLimits,
    SmppSession,
    Unbound,
)

LIMITS = SessionLimits(window=100, enquire_link_timer=0, session_init_timer=0)


class Ignore:
    """A handler with nothing to do: these tests only send."""

    def on_event(self, link: Link, event: Event) -> None:
        pass

    def on_requests(self, link: Link, events: list[RequestReceived]) -> None:
        pass

    def on_responses(self, link: Link, events: list[ResponseReceived]) -> None:
        pass


async def connected(buffer: int | None = None
                    ) -> tuple[trio.SocketStream, trio.SocketStream, trio.SocketListener]:
    """A connected pair of TCP streams on 127.0.0.1, (the SMSC's side, the peer's side),
    with `buffer` octets of send buffer on ours and receive buffer on the peer's (set before
    connecting, so that the peer's window is small from the start)."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    sock = trio.socket.socket()
    if buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    await sock.connect(listener.socket.getsockname())
    ours = await listener.accept()
    if buffer is not None:
        ours.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
    return ours, trio.SocketStream(sock), listener


@pytest.fixture
async def streams() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    ours, peer, listener = await connected()
    yield ours, peer
    for resource in (ours, peer, listener):
        await resource.aclose()


@pytest.fixture
async def small_streams() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    """As `streams`, with room for about 9,000 octets between the two."""
    ours, peer, listener = await connected(4096)
    yield ours, peer
    for resource in (ours, peer, listener):
        await resource.aclose()


def bound_link(stream: trio.SocketStream) -> tuple[Link, bytes]:
    """A link whose session has already answered a bind_transceiver; returns it and the
    octets of that answer (queued, not sent)."""
    session = SmppSession(Role.SMSC, limits=LIMITS, now=0.0)
    bind = BindTransceiver(system_id="acme", password="pw", interface_version=0x34,
                           sequence_number=1)
    session.receive_data(encode(bind), 0.0)
    (requested,) = session.events
    session.events.clear()
    session.send(make_response(requested.message, system_id="SMSC"), 0.0)  # type: ignore[attr-defined]
    session.events.clear()
    link = Link(stream, session, clock=Clock(), handler=Ignore(), peer="127.0.0.1:1")
    return link, encode(make_response(bind, system_id="SMSC"))


def receipt(size: int) -> DeliverSm:
    return DeliverSm(source_addr="1", destination_addr="2", esm_class=0x04,
                     tlvs={Tag.message_payload: bytes([size % 251]) * size})


def split(data: bytes) -> list[Pdu]:
    pdus = []
    while data:
        length = int.from_bytes(data[:4], "big")
        pdus.append(decode(data[:length]))
        data = data[length:]
    return pdus


async def read_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = bytearray()
    with trio.fail_after(10):
        while len(data) < size:
            data += await stream.receive_some(65536)
    return bytes(data)


async def test_flush_writes_what_is_queued_without_the_writer(
    streams: tuple[trio.SocketStream, trio.SocketStream]
) -> None:
    ours, peer = streams
    link, bind_resp = bound_link(ours)  # its tasks never run: only flush can write
    sent = link.send(receipt(10), now=0.0)
    link.flush()
    assert link.session.pending_output == 0  # taken and written before any checkpoint
    data = await read_exactly(peer, len(bind_resp) + len(encode(sent)))
    assert data == bind_resp + encode(sent)
    link.flush()  # nothing queued: nothing written, nothing raised


async def test_flush_never_overtakes_what_it_or_the_writer_left(
    small_streams: tuple[trio.SocketStream, trio.SocketStream]
) -> None:
    ours, peer = small_streams
    link, bind_resp = bound_link(ours)
    sent: list[Pdu] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.run)
        await trio.testing.wait_all_tasks_blocked()
        # more than the socket takes: the flush writes part and leaves the rest to the writer
        sent.append(link.send(receipt(20_000), now=0.0))
        link.flush()
        assert link.writer.backlog is not None
        sent.append(link.send(receipt(15_000), now=0.0))
        link.flush()  # must wait behind what the first one left
        await trio.testing.wait_all_tasks_blocked()
        assert link.writer.writing  # the writer is stuck in send_all: the peer does not read
        # the peer reads some (no checkpoint: the writer cannot take the room first), and
        # the next flush must still wait behind what the writer is sending
        head = os.read(peer.socket.fileno(), 4000)
        sent.append(link.send(receipt(10_000), now=0.0))
        link.flush()
        expected = bind_resp + b"".join(encode(pdu) for pdu in sent)
        data = head + await read_exactly(peer, len(expected) - len(head))
        nursery.cancel_scope.cancel()
    assert data == expected
    assert [pdu.sequence_number for pdu in split(data)[1:]] == [
        pdu.sequence_number for pdu in sent]


async def test_flush_on_a_connection_the_peer_reset_closes_the_link(
    streams: tuple[trio.SocketStream, trio.SocketStream]
) -> None:
    ours, peer = streams
    link, _ = bound_link(ours)
    closed: list[Event] = []
    link.handler.on_event = lambda link, event: closed.append(event)  # type: ignore[method-assign]
    peer.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await peer.aclose()  # an RST, not a FIN: the next write fails
    await trio.testing.wait_all_tasks_blocked()
    link.flush()  # the queued bind_resp meets the reset
    assert link.session.closed
    assert link.close_reason == "connection lost"
    assert [type(event) for event in closed] == [Unbound, ConnectionClosed]
    link.flush()  # closed: nothing to write, nothing raised


class GatedStream(trio.abc.Stream):
    """A stream (not a plain socket, so only the writer task sends, as on TLS) whose first
    send_all hands its octets over and then waits for `gate`: the peer can read them and
    answer while the writer is still inside send_all."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.gate = trio.Event()
        self.waited = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)
        if not self.waited:
            self.waited = True
            await self.gate.wait()

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_unbind_read_while_the_writer_sends_is_still_answered() -> None:
    ours, peer = trio.testing.memory_stream_pair()
    gated = GatedStream(ours)
    link, _ = bound_link(gated)  # type: ignore[arg-type]
    unbind = Unbind(sequence_number=2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.run)
        link.send(receipt(10), now=0.0)  # wakes the writer: it sends, then waits at the gate
        await trio.testing.wait_all_tasks_blocked()
        assert gated.waited
        await peer.send_all(encode(unbind))
        await trio.testing.wait_all_tasks_blocked()
        assert link.session.closed  # the unbind was read; its answer is still queued
        gated.gate.set()
        data = bytearray()
        with trio.fail_after(5):
            while chunk := await peer.receive_some(65536):
                data += chunk
    assert split(bytes(data))[-1] == make_response(unbind)
