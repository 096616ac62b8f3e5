"""The listener's limits over real loopback sockets: connection caps, what an unbound peer may
make the SMSC hold, and no new connections once shutdown has begun."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from smsc.config import ServerConfig
from smsc.pdu import (
    BindTransceiver,
    EnquireLink,
    FrameBuffer,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from smsc.pdu.constants import CommandId, CommandStatus, Tag
from smsc.pdu.framing import MAX_UNBOUND_COMMAND_LENGTH

from ..certificates import server_certificate
from ..esme import Esme, read_until_closed

LIMIT = 20  # seconds any test here may take


async def open_from(port: int, source: str) -> trio.SocketStream:
    """A TCP connection to the SMSC on 127.0.0.1 from `source` (any 127.x.y.z is loopback)."""
    sock = trio.socket.socket()
    try:
        await sock.bind((source, 0))
        await sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return trio.SocketStream(sock)


async def answered(stream: trio.SocketStream) -> bool:
    """Whether the SMSC serves this connection: True when enquire_link gets its response,
    False when the connection is closed instead."""
    try:
        await stream.send_all(encode(EnquireLink(sequence_number=1)))
        data = await stream.receive_some(16)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return bool(data) and decode(bytes(data)).command_id == CommandId.enquire_link_resp


def with_server(config: Any, **changes: Any) -> Any:
    return dataclasses.replace(config, server=dataclasses.replace(config.server, **changes))


async def test_the_connection_caps_close_what_is_over_them(
    make_config: Any, start_smsc: Any
) -> None:
    defaults = ServerConfig()
    per_address = defaults.max_connections_per_address  # the shipped default: 100
    total = per_address + 20
    running = await start_smsc(with_server(make_config(), max_connections=total))
    opened: list[trio.SocketStream] = []
    try:
        with trio.fail_after(LIMIT):
            first = [await open_from(running.smpp_port, "127.0.0.1")
                     for _ in range(per_address + 10)]
            opened += first
            served = [await answered(stream) for stream in first]
            assert served == [True] * per_address + [False] * 10
            second = [await open_from(running.smpp_port, "127.0.0.2") for _ in range(30)]
            opened += second
            served = [await answered(stream) for stream in second]
            assert served == [True] * 20 + [False] * 10  # the total cap, not the address's
            await first[0].aclose()  # one leaves: one more may come in, from either address
            with trio.fail_after(LIMIT):
                while len(running.links) > total - 1:
                    await trio.testing.wait_all_tasks_blocked()
            late = await open_from(running.smpp_port, "127.0.0.2")
            opened.append(late)
            assert await answered(late)
            refused = await open_from(running.smpp_port, "127.0.0.3")
            opened.append(refused)
            assert not await answered(refused)
    finally:
        for stream in opened:
            await stream.aclose()
        running.shutdown.set()


async def test_an_unbound_peer_may_not_announce_more_than_a_bind(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(make_config())
    with trio.fail_after(LIMIT):
        stream = await open_from(running.smpp_port, "127.0.0.1")
        header = (65536).to_bytes(4, "big") + int(CommandId.submit_sm).to_bytes(4, "big")
        await stream.send_all(header + bytes(4) + (7).to_bytes(4, "big") + b"\x00" * 100)
        answers = await read_until_closed(stream)
        await stream.aclose()
    assert answers == [GenericNack(sequence_number=7,
                                   command_status=CommandStatus.ESME_RINVCMDLEN)]
    with trio.fail_after(LIMIT):  # the largest bind still fits
        stream = await open_from(running.smpp_port, "127.0.0.1")
        esme = Esme(stream)
        bind = BindTransceiver(system_id="smppclient1", password="password",
                               system_type="x" * 12, address_range="9" * 40)
        assert len(encode(bind)) == MAX_UNBOUND_COMMAND_LENGTH - 4  # system_id, password short
        assert (await esme.request(bind)).command_status == CommandStatus.ESME_ROK
        big = SubmitSm(destination_addr="4915100000001",
                       tlvs={Tag.message_payload: b"x" * 65000})
        assert len(encode(big)) > 65000
        response = await esme.request(big)  # bound: the configured maximum applies
        assert isinstance(response, SubmitSmResp)
        assert response.command_status == CommandStatus.ESME_ROK
        await stream.aclose()
    running.shutdown.set()


async def test_shutdown_closes_the_listener_but_lets_open_sessions_unbind(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(with_server(make_config(), shutdown_grace=10.0))
    with trio.fail_after(LIMIT):
        stream = await open_from(running.smpp_port, "127.0.0.1")
        esme = Esme(stream)
        assert (await esme.bind()).command_status == CommandStatus.ESME_ROK
        running.shutdown.set()
        frames = FrameBuffer()
        while not (got := frames.pop_all()):  # the SMSC's unbind: the grace period began
            frames.feed(bytes(await stream.receive_some(1024)))
        unbind = decode(got[0])
        assert isinstance(unbind, Unbind)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(OSError):
            await open_from(running.smpp_port, "127.0.0.1")
        await stream.send_all(encode(UnbindResp(sequence_number=unbind.sequence_number)))
        assert await read_until_closed(stream) == []  # answered: the session ends normally
        await stream.aclose()


async def test_the_tls_listener_shares_the_caps_and_refuses_before_the_handshake(
    make_config: Any, start_smsc: Any, tmp_path: Path
) -> None:
    certificate = server_certificate(tmp_path)
    running = await start_smsc(with_server(make_config(), tls=certificate.tls(),
                                           max_connections_per_address=1))
    context = ssl.create_default_context()
    certificate.authority.configure_trust(context)
    with trio.fail_after(LIMIT):
        plain = await open_from(running.smpp_port, "127.0.0.1")
        assert await answered(plain)  # the address's one connection
        secure = trio.SSLStream(await open_from(running.tls_port, "127.0.0.1"), context,
                                server_hostname="127.0.0.1")
        with pytest.raises(trio.BrokenResourceError):
            await secure.do_handshake()  # closed before any TLS octet was answered
        await secure.transport_stream.aclose()
        await plain.aclose()
        while running.links:
            await trio.testing.wait_all_tasks_blocked()
        secure = trio.SSLStream(await open_from(running.tls_port, "127.0.0.1"), context,
                                server_hostname="127.0.0.1")
        esme = Esme(secure)
        assert (await esme.bind()).command_status == CommandStatus.ESME_ROK
        await secure.aclose()
    running.shutdown.set()
