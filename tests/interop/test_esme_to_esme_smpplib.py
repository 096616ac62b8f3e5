"""ESME to ESME with smpplib (an independent client) as the receiving ESME: a long UCS2
text from our client arrives as smpplib reads it, in the form it was submitted, and the
sender's receipts say DELIVRD once smpplib has answered."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import esme_client
from smsc.config import AccountConfig
from smsc.pdu.concat import Reassembler, SarInfo
from smsc.pdu.constants import MessageState
from smsc.pdu.text import decode_text

from .test_mobile_smpplib import bind_and_read

BOB = "4915100009999"
TEXT = "Von einer Anwendung zur anderen 😀 — " * 6


@pytest.mark.parametrize("scheme", ["udh8", "sar"])
async def test_a_long_message_from_another_esme_reaches_smpplib(
        make_config: Any, start_smsc: Any, scheme: str) -> None:
    running = await start_smsc(make_config(accounts=(
        AccountConfig(system_id="alice", password="alice"),
        AccountConfig(system_id="bob", password="bob", mo_addresses=(BOB,)))))
    received: list[Any] = []
    with trio.fail_after(20):
        async with esme_client.connect("127.0.0.1", running.smpp_port, system_id="alice",
                                       password="alice") as alice, \
                trio.open_nursery() as nursery:
            async def read(parts: int) -> None:
                received.extend(await trio.to_thread.run_sync(
                    bind_and_read, running.smpp_port, parts, "bob", "bob"))

            # stored while bob is not bound yet: it goes when smpplib binds
            sent = await alice.submit_text(BOB, TEXT, source_addr="4915100001111",
                                           scheme=scheme, registered_delivery=1)
            nursery.start_soon(read, sent.parts)
            receipts = await alice.wait_receipts(sent)
    assert {r.state for r in receipts} == {MessageState.DELIVERED}
    assembler = Reassembler()
    whole = []
    for pdu in received:
        sar = None
        if getattr(pdu, "sar_msg_ref_num", None) is not None:
            sar = SarInfo(pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum)
        whole.append(assembler.add(originator=pdu.source_addr.decode(),
                                   recipient=pdu.destination_addr.decode(),
                                   user_data=pdu.short_message,
                                   udhi=bool(pdu.esm_class & 0x40), sar=sar, now=0.0))
    (message,) = [w for w in whole if w is not None]
    assert received[0].data_coding == 8 and decode_text(message.user_data, 8) == TEXT
    assert (message.originator, message.recipient) == ("4915100001111", BOB)
    assert (sar is not None) == (scheme == "sar")
    running.shutdown.set()
