"""Outbind: the SMSC calls an ESME that has receipts waiting and no receiver bound."""

from __future__ import annotations

import dataclasses
from typing import Any

import trio

from smsc.config import AccountConfig
from smsc.pdu import DeliverSm, Outbind, SubmitSm, Unbind
from smsc.pdu.constants import CommandStatus

from ..esme import Esme

LIMIT = 10


async def test_smsc_outbinds_to_deliver_a_waiting_receipt(
    make_config: Any, start_smsc: Any, nursery: trio.Nursery
) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    esme_port = listeners[0].socket.getsockname()[1]
    account = AccountConfig(outbind_host="127.0.0.1", outbind_port=esme_port,
                            outbind_password="smscpw", outbind_retry=0.2)
    config = make_config(accounts=(account,))
    config = dataclasses.replace(config, server=dataclasses.replace(config.server,
                                                                    system_id="SIM"))
    running = await start_smsc(config)

    sender = Esme(await trio.open_tcp_stream("127.0.0.1", running.smpp_port))
    with trio.fail_after(LIMIT):
        await sender.bind("transmitter")
        resp = await sender.request(SubmitSm(destination_addr="4915100000002",
                                             registered_delivery=1, short_message=b"call me"))
        await sender.request(Unbind())
    await sender.stream.aclose()

    with trio.fail_after(LIMIT):
        incoming = await listeners[0].accept()
        esme = Esme(incoming)
        outbind = await esme.next_request()
        assert isinstance(outbind, Outbind)
        assert (outbind.system_id, outbind.password) == ("SIM", "smscpw")
        assert (await esme.bind("receiver")).command_status == CommandStatus.ESME_ROK
        receipt = await esme.next_request()
    assert isinstance(receipt, DeliverSm)
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    await incoming.aclose()
    await listeners[0].aclose()
    running.shutdown.set()
