"""Mobile-originated traffic through a real session: every encoding and length, every way of
carrying long messages, reassembled on the ESME side; scheduled streams under MockClock."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from smsc.config import AccountConfig, MoTrafficConfig
from smsc.pdu import DeliverSm, make_response
from smsc.pdu.concat import Reassembler, SarInfo
from smsc.pdu.constants import CommandStatus
from smsc.pdu.text import decode_text

from ..esme import connect

GSM_LONG = "A long GSM text with [brackets] and € signs, " * 6
UCS2_LONG = "Длинное сообщение 😀 " * 12
BINARY_LONG = bytes(range(256)) * 2
CASES = [
    ("gsm", "Short GSM {}€", 1), ("ucs2", "Кратко 😀", 1), ("binary", b"\x00\x01\xfe\xff", 1),
    *[(enc, body, 2) for enc, body in (("gsm", GSM_LONG), ("ucs2", UCS2_LONG),
                                        ("binary", BINARY_LONG))],
]
SCHEMES = ["udh8", "udh16", "sar", "payload"]


def reassemble(parts: list[DeliverSm]) -> tuple[bytes, int]:
    """What an ESME does: put the parts back together from UDH, SAR or message_payload."""
    assembler = Reassembler()
    whole = []
    for pdu in parts:
        sar = None
        if pdu.sar_msg_ref_num is not None:  # type: ignore[attr-defined]
            sar = SarInfo(pdu.sar_msg_ref_num, pdu.sar_total_segments,  # type: ignore[attr-defined]
                          pdu.sar_segment_seqnum)  # type: ignore[attr-defined]
        data = pdu.short_message or pdu.message_payload or b""  # type: ignore[attr-defined]
        whole.append(assembler.add(originator=pdu.source_addr, recipient=pdu.destination_addr,
                                   user_data=data, udhi=bool(pdu.esm_class & 0x40), sar=sar,
                                   now=0.0))
    (message,) = [w for w in whole if w is not None]
    assert not assembler.diagnostics
    return message.user_data, parts[0].data_coding


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("encoding", "body", "min_parts"), CASES,
                         ids=[f"{c[0]}-{'long' if c[2] > 1 else 'short'}" for c in CASES])
async def test_mo_in_every_encoding_length_and_scheme(
    make_config: Any, start_smsc: Any, autojump_clock: Any, scheme: str, encoding: str,
    body: str | bytes, min_parts: int,
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(mo_addresses=("4242",)),)))
    esme = await connect(running)
    await esme.bind("receiver", interface_version=0x34)
    if isinstance(body, bytes):
        ids = await running.mobile.send_binary("4915100000007", "4242", body, scheme=scheme)
    else:
        ids = await running.mobile.send_text("4915100000007", "4242", body,
                                             encoding=encoding, scheme=scheme)
    expected_parts = 1 if scheme == "payload" else min_parts
    assert len(ids) >= expected_parts and (scheme != "payload" or len(ids) == 1)
    parts = [await esme.next_request() for _ in ids]
    assert all(isinstance(p, DeliverSm) and p.esm_class & 0x3C == 0 for p in parts)
    limit = 160 if encoding == "gsm" else 140  # unpacked GSM: one octet a septet
    assert all(len(p.short_message) <= limit for p in parts if scheme != "payload")  # type: ignore[attr-defined]
    data, coding = reassemble(parts)  # type: ignore[arg-type]
    if isinstance(body, bytes):
        assert data == body and coding == 0x04
    else:
        assert decode_text(data, coding) == body
        assert coding == (0 if encoding == "gsm" else 8)


async def test_scheduled_mo_traffic_keeps_its_rate_and_turns(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    stream = MoTrafficConfig(destination="4242", sources=("4915100000001", "4915100000002"),
                             rate=0.5, texts=("STOP {n}", "Привет from {source}"), count=5,
                             start_after=10.0)
    started = trio.current_time()
    running = await start_smsc(make_config(
        accounts=(AccountConfig(mo_addresses=("4242",)),), mo_traffic=(stream,)))
    esme = await connect(running)
    await esme.bind("receiver")
    received = []
    for _ in range(5):
        pdu = await esme.next_request()
        received.append((round(trio.current_time() - started, 3), pdu.source_addr,  # type: ignore[attr-defined]
                         decode_text(pdu.short_message, pdu.data_coding)))  # type: ignore[attr-defined]
    assert received == [
        (10.0, "4915100000001", "STOP 1"),
        (12.0, "4915100000002", "Привет from 4915100000002"),
        (14.0, "4915100000001", "STOP 3"),
        (16.0, "4915100000002", "Привет from 4915100000002"),
        (18.0, "4915100000001", "STOP 5"),
    ]
    with trio.move_on_after(60) as nothing:  # count = 5: the stream has ended
        await esme.next_request()
    assert nothing.cancelled_caught


async def test_sar_parts_reach_a_v33_bind_as_udh_parts(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(mo_addresses=("4242",)),)))
    esme = await connect(running)
    await esme.bind("receiver", interface_version=0x33)
    ids = await running.mobile.send_text("4915100000007", "4242", UCS2_LONG, scheme="sar")
    parts = [await esme.next_request() for _ in ids]
    assert len(parts) > 1 and all(p.tlvs == {} and p.esm_class & 0x40 for p in parts)
    assert all(len(p.short_message) <= 140 for p in parts)  # type: ignore[attr-defined]
    data, coding = reassemble(parts)  # type: ignore[arg-type]
    assert decode_text(data, coding) == UCS2_LONG


@pytest.mark.parametrize(("encoding", "body"), [("gsm", GSM_LONG), ("ucs2", UCS2_LONG),
                                                ("binary", BINARY_LONG)])
async def test_a_long_payload_message_reaches_a_v33_bind_whole_as_udh_parts(
    make_config: Any, start_smsc: Any, autojump_clock: Any, encoding: str, body: str | bytes,
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(mo_addresses=("4242",)),)))
    esme = await connect(running)
    await esme.bind("receiver", interface_version=0x33)
    if isinstance(body, bytes):
        (message_id,) = await running.mobile.send_binary("4915100000007", "4242", body,
                                                         scheme="payload")
    else:
        (message_id,) = await running.mobile.send_text("4915100000007", "4242", body,
                                                       encoding=encoding, scheme="payload")
    first = await esme.next_request()
    assert isinstance(first, DeliverSm) and first.esm_class & 0x40 and first.tlvs == {}
    total = first.short_message[4]  # the 8-bit concatenation UDH: 05 00 03 ref total seq
    assert total > 1 and first.short_message[3] == message_id & 0xFF
    parts = [first] + [await esme.next_request() for _ in range(total - 1)]
    limit = 160 if encoding == "gsm" else 140  # unpacked GSM: one octet a septet
    assert all(len(p.short_message) <= limit for p in parts)  # type: ignore[attr-defined]
    data, coding = reassemble(parts)  # type: ignore[arg-type]
    if isinstance(body, bytes):
        assert data == body
    else:
        assert decode_text(data, coding) == body


async def test_a_refused_part_sends_the_whole_message_again(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(mo_addresses=("4242",)),)))
    esme = await connect(running)
    esme.auto_answer = False
    await esme.bind("receiver", interface_version=0x33)
    await running.mobile.send_text("4915100000007", "4242", UCS2_LONG, encoding="ucs2",
                                   scheme="payload")
    first = await esme.next_request()
    total = first.short_message[4]  # type: ignore[attr-defined]
    rest = [await esme.next_request() for _ in range(total - 1)]
    await esme.send(make_response(first, CommandStatus.ESME_RX_T_APPN))
    for part in rest:
        await esme.send(make_response(part))
    again = [await esme.next_request() for _ in range(total)]  # after the account's rest
    for part in again:
        await esme.send(make_response(part))
    data, coding = reassemble(again)  # type: ignore[arg-type]
    assert decode_text(data, coding) == UCS2_LONG
    assert [p.short_message for p in again] == [  # type: ignore[attr-defined]
        p.short_message for p in [first, *rest]]  # type: ignore[attr-defined]


async def test_more_parts_than_the_window_go_as_parts_are_answered(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(
        accounts=(AccountConfig(mo_addresses=("4242",), window=2),)))
    esme = await connect(running)
    await esme.bind("receiver", interface_version=0x33)
    await running.mobile.send_text("4915100000007", "4242", UCS2_LONG * 2, encoding="ucs2",
                                   scheme="payload")
    with trio.fail_after(3600):  # virtual time: fails at once if the parts never come
        first = await esme.next_request()  # answered at once by the Esme: room for the next
        total = first.short_message[4]  # type: ignore[attr-defined]
        assert total > 2
        parts = [first] + [await esme.next_request() for _ in range(total - 1)]
    data, coding = reassemble(parts)  # type: ignore[arg-type]
    assert decode_text(data, coding) == UCS2_LONG * 2


async def test_items_a_full_window_cannot_take_wait_for_the_next_round(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(
        accounts=(AccountConfig(mo_addresses=("4242",), window=2),)))
    esme = await connect(running)
    esme.auto_answer = False
    await esme.bind("receiver", interface_version=0x33)
    texts = [UCS2_LONG, UCS2_LONG[::-1], UCS2_LONG.upper()]
    for text in texts:  # each more parts than the window: the first fills it
        await running.mobile.send_text("4915100000007", "4242", text, encoding="ucs2",
                                       scheme="payload")
    received: list[str] = []
    with trio.fail_after(3600):  # virtual time: fails at once if a message never comes
        while len(received) < len(texts):
            first = await esme.next_request()
            total = first.short_message[4]  # type: ignore[attr-defined]
            parts = [first]
            await esme.send(make_response(first))
            while len(parts) < total:
                part = await esme.next_request()
                parts.append(part)
                await esme.send(make_response(part))
            data, coding = reassemble(parts)  # type: ignore[arg-type]
            received.append(decode_text(data, coding))
    assert received == texts
