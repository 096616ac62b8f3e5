"""Hostile and broken peers over real loopback sockets: each gets its SMPP answer or a closed
connection within bounded time, and a well-behaved ESME beside them notices nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from typing import Any

import pytest
import trio

from smsc.config import AccountConfig
from smsc.pdu import EnquireLink, GenericNack, SubmitSm, encode
from smsc.pdu.codec import HEADER
from smsc.pdu.constants import CommandId, CommandStatus
from smsc.session import UnmatchedResponse

from ..esme import Esme, read_until_closed

LIMIT = 10  # seconds any single exchange may take


@pytest.fixture
async def running(make_config: Any, start_smsc: Any) -> Any:
    config = make_config()
    config = dataclasses.replace(config, server=dataclasses.replace(
        config.server, pdu_read_timer=0.5, response_timer=1.0, session_init_timer=5.0))
    smsc = await start_smsc(config)
    yield smsc
    smsc.shutdown.set()


async def read_all(stream: trio.SocketStream) -> list[Any]:
    """Every PDU the server sends until it closes the connection (within the limit)."""
    with trio.fail_after(LIMIT):
        return await read_until_closed(stream)


async def good_esme_still_works(port: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    esme = Esme(stream)
    with trio.fail_after(LIMIT):
        assert (await esme.bind("transmitter")).command_status == CommandStatus.ESME_ROK
        resp = await esme.request(SubmitSm(destination_addr="4915100000009", short_message=b"x"))
        assert resp.command_status == CommandStatus.ESME_ROK
    await stream.aclose()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ((0).to_bytes(4, "big") + bytes(12), CommandStatus.ESME_RINVCMDLEN),
        ((15).to_bytes(4, "big") + bytes(12), CommandStatus.ESME_RINVCMDLEN),
        ((1 << 31).to_bytes(4, "big") + bytes(12), CommandStatus.ESME_RINVCMDLEN),
        ((0xFFFFFFFF).to_bytes(4, "big") + bytes(12), CommandStatus.ESME_RINVCMDLEN),
        ((100).to_bytes(4, "big") + bytes(16), CommandStatus.ESME_RINVCMDLEN),  # never completes
    ],
    ids=["length-0", "length-15", "length-2^31", "length-max", "longer-than-stream"],
)
async def test_broken_lengths_get_generic_nack_and_close(
    running: Any, data: bytes, status: int
) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    async with stream:
        await stream.send_all(data)
        pdus = await read_all(stream)
    assert len(pdus) == 1 and isinstance(pdus[0], GenericNack)
    assert pdus[0].command_status == status
    await good_esme_still_works(running.smpp_port)


async def test_a_broken_deliver_sm_resp_is_dropped_unanswered_and_the_receipt_comes_again(
    running: Any
) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    esme = Esme(stream)
    esme.auto_answer = False
    with trio.fail_after(LIMIT):
        assert (await esme.bind("transceiver")).command_status == CommandStatus.ESME_ROK
        submitted = await esme.request(SubmitSm(
            destination_addr="4915100000009", registered_delivery=1, short_message=b"x"))
        receipt = await esme.next_request()
        message_id = submitted.message_id  # type: ignore[attr-defined]
        assert receipt.receipted_message_id == message_id  # type: ignore[attr-defined]
        # its deliver_sm_resp with a message_id that has no NUL: no answer is due to it
        await stream.send_all(
            HEADER.pack(20, CommandId.deliver_sm_resp, 0, receipt.sequence_number) + b"abcd")
        probe = await esme.request(EnquireLink())
        assert probe.command_id == CommandId.enquire_link_resp
        assert not any(isinstance(event, UnmatchedResponse) for event in esme.events)  # no nack
        # unacknowledged, the receipt goes again once its response timer (1 s) has run out
        again = await esme.next_request()
        assert again.receipted_message_id == message_id  # type: ignore[attr-defined]
        assert again.sequence_number != receipt.sequence_number
    await stream.aclose()


async def test_random_garbage_never_disturbs_other_sessions(running: Any) -> None:
    rng = random.Random(1234)
    for _ in range(25):
        stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
        size = rng.randrange(1, 200)
        garbage = bytes(rng.randrange(256) for _ in range(size))
        if rng.random() < 0.5 and size >= 4:  # half of them with a plausible length
            garbage = size.to_bytes(4, "big") + garbage[4:]
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(garbage)
        with trio.fail_after(LIMIT):
            await stream.aclose()
    await good_esme_still_works(running.smpp_port)
    assert len(running.links) <= 1


async def test_one_byte_at_a_time_is_cut_off_by_the_read_timer(running: Any) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    pdu = encode(EnquireLink(sequence_number=5))
    async with trio.open_nursery() as nursery:
        async def trickle() -> None:
            for octet in pdu:
                try:
                    await stream.send_all(bytes((octet,)))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                await trio.sleep(0.2)  # a slow peer, not synchronisation
        nursery.start_soon(trickle)
        pdus = await read_all(stream)
        nursery.cancel_scope.cancel()
    await stream.aclose()
    assert [type(p) for p in pdus] == [GenericNack]
    await good_esme_still_works(running.smpp_port)


async def test_peer_that_never_reads_is_dropped(running: Any) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    burst = encode(EnquireLink(sequence_number=1)) * 4096
    sent = 0
    with trio.move_on_after(LIMIT):
        try:
            while True:  # keep asking, never read an answer
                await stream.send_all(burst)
                sent += len(burst)
        except trio.BrokenResourceError:
            pass
    assert sent > 0
    with trio.fail_after(LIMIT):
        for link in list(running.links):
            await link.wait_closed()
    await good_esme_still_works(running.smpp_port)
    await stream.aclose()


async def test_many_sessions_at_once(make_config: Any, start_smsc: Any) -> None:
    """100 ESMEs bind, submit and collect their receipts concurrently."""
    accounts = tuple(AccountConfig(system_id=f"esme{n}", password=f"pw{n}") for n in range(100))
    running = await start_smsc(make_config(accounts=accounts))

    async def one(number: int) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
        esme = Esme(stream)
        bound = await esme.bind(system_id=f"esme{number}", password=f"pw{number}")
        assert bound.command_status == CommandStatus.ESME_ROK
        ids = set()
        for part in range(3):
            resp = await esme.request(SubmitSm(
                destination_addr=f"49151{number:04d}{part}", registered_delivery=1,
                short_message=b"load"))
            ids.add(resp.message_id)  # type: ignore[attr-defined]
        receipts = {(await esme.next_request()).receipted_message_id  # type: ignore[attr-defined]
                    for _ in range(3)}
        assert receipts == ids
        await stream.aclose()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for number in range(100):
                nursery.start_soon(one, number)
    running.shutdown.set()
