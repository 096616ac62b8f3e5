"""Mobile-originated messages as smpplib (an independent client) receives them."""

from __future__ import annotations

from typing import Any

import pytest
import smpplib.client
import trio

from smsc.config import AccountConfig
from smsc.pdu.concat import Reassembler, SarInfo
from smsc.pdu.text import decode_text

TIMEOUT = 5
TEXT = "Ответ с телефона 😀 — " * 10


def bind_and_read(port: int, count: int, system_id: str = "smppclient1",
                  password: str = "password") -> list[Any]:
    """smpplib (blocking, in a thread) binds as receiver, reads `count` deliveries (each
    answered by smpplib itself) and unbinds; returns the PDUs it read."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=TIMEOUT,
                                   allow_unknown_opt_params=True)
    client.connect()
    try:
        received: list[Any] = []
        client.set_message_received_handler(lambda pdu: received.append(pdu))
        client.bind_receiver(system_id=system_id, password=password)
        while len(received) < count:
            client.read_once()
        client.unbind()
        return received
    finally:
        client.disconnect()


@pytest.mark.parametrize("scheme", ["udh8", "udh16", "sar", "payload"])
async def test_long_ucs2_mo_reassembled_from_smpplib_pdus(
    make_config: Any, start_smsc: Any, scheme: str
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(mo_addresses=("4242",)),)))
    ids = await running.mobile.send_text("4915100000007", "4242", TEXT, scheme=scheme)
    assert (len(ids) == 1) == (scheme == "payload")
    pdus = await trio.to_thread.run_sync(bind_and_read, running.smpp_port, len(ids))
    assembler = Reassembler()
    whole = []
    for pdu in pdus:
        sar = None
        if getattr(pdu, "sar_msg_ref_num", None) is not None:
            sar = SarInfo(pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum)
        data = pdu.short_message or pdu.message_payload
        whole.append(assembler.add(originator=pdu.source_addr.decode(),
                                   recipient=pdu.destination_addr.decode(), user_data=data,
                                   udhi=bool(pdu.esm_class & 0x40), sar=sar, now=0.0))
    (message,) = [w for w in whole if w is not None]
    assert pdus[0].data_coding == 8 and decode_text(message.user_data, 8) == TEXT
    assert message.originator == "4915100000007" and message.recipient == "4242"
    running.shutdown.set()
