"""Bind refusals that tell a guesser nothing, and the per-address backoff after failed binds,
over real TCP connections from two loopback addresses."""

from __future__ import annotations

import struct
from typing import Any

import trio

from smsc.config import AccountConfig, ServerConfig
from smsc.pdu.constants import CommandStatus as S

from ..esme import Esme, read_until_closed


async def bind_from(running: Any, address: str, password: str,
                    system_id: str = "smppclient1") -> int:
    """One bind over TCP from `address`; its status (the connection is closed after)."""
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port, local_address=address)
    esme = Esme(stream)
    try:
        with trio.fail_after(10):
            response = await esme.bind(system_id=system_id, password=password)
            if response.command_status:
                await esme.closed()  # every refusal closes the connection
            return response.command_status
    finally:
        await stream.aclose()


async def test_failed_binds_shut_out_only_their_address_for_the_backoff(
    make_config: Any, start_smsc: Any, mock_clock: Any
) -> None:
    running = await start_smsc(make_config(server=ServerConfig(
        port=0, enquire_link_timer=0, bind_failures_allowed=2, bind_failure_backoff=5.0,
        bind_failure_backoff_max=20.0)))
    guesser = "127.0.0.2"
    for _ in range(3):  # two for free, the third starts the backoff
        assert await bind_from(running, guesser, "wrong") == S.ESME_RINVPASWD
    # the right password from the guessing address is refused, before it is looked at
    assert await bind_from(running, guesser, "password") == S.ESME_RBINDFAIL
    # another address is not shut out
    assert await bind_from(running, "127.0.0.1", "password") == S.ESME_ROK
    mock_clock.jump(4.9)
    assert await bind_from(running, guesser, "password") == S.ESME_RBINDFAIL
    mock_clock.jump(0.2)
    assert await bind_from(running, guesser, "password") == S.ESME_ROK
    # the success cleared the count: two more failures are free again
    for _ in range(2):
        assert await bind_from(running, guesser, "wrong") == S.ESME_RINVPASWD
    assert await bind_from(running, guesser, "password") == S.ESME_ROK
    running.shutdown.set()


async def test_the_backoff_doubles_up_to_its_max(make_config: Any, start_smsc: Any,
                                                 mock_clock: Any) -> None:
    running = await start_smsc(make_config(server=ServerConfig(
        port=0, enquire_link_timer=0, bind_failures_allowed=0, bind_failure_backoff=1.0,
        bind_failure_backoff_max=3.0)))
    guesser = "127.0.0.3"
    for wait in (1.0, 2.0, 3.0, 3.0):  # 1, 2, 4 capped at 3, then 3 again
        assert await bind_from(running, guesser, "wrong") == S.ESME_RINVPASWD
        mock_clock.jump(wait - 0.01)
        assert await bind_from(running, guesser, "wrong") == S.ESME_RBINDFAIL
        mock_clock.jump(0.02)
    running.shutdown.set()


async def test_a_refused_address_learns_nothing_of_the_password(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(make_config(accounts=(
        AccountConfig(allowed_ips=("10.0.0.0/8",)),)))
    right = await bind_from(running, "127.0.0.1", "password")
    wrong = await bind_from(running, "127.0.0.1", "wrong")
    assert right == wrong == S.ESME_RBINDFAIL
    running.shutdown.set()


async def test_an_account_with_every_bind_in_use_is_refused_whatever_the_password(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(max_binds=1),)))
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    holder = Esme(stream)
    with trio.fail_after(10):
        assert (await holder.bind()).command_status == S.ESME_ROK
    assert await bind_from(running, "127.0.0.1", "password") == S.ESME_RBINDFAIL
    assert await bind_from(running, "127.0.0.1", "wrong") == S.ESME_RBINDFAIL
    await stream.aclose()
    running.shutdown.set()


async def test_a_bind_refused_for_an_over_long_field_is_closed_like_any_other(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(make_config())
    for field, status in (("password", S.ESME_RINVPASWD), ("system_id", S.ESME_RINVSYSID)):
        system_id = b"x" * 20 if field == "system_id" else b"smppclient1"
        password = b"p" * 20 if field == "password" else b"password"
        body = system_id + b"\0" + password + b"\0\0" + bytes([0x34, 0, 0]) + b"\0"
        bind = struct.pack(">IIII", 16 + len(body), 0x00000009, 0, 1) + body
        stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
        await stream.send_all(bind)
        with trio.fail_after(10):
            answers = await read_until_closed(stream)
        assert [a.command_status for a in answers] == [status], field
        await stream.aclose()
    running.shutdown.set()
