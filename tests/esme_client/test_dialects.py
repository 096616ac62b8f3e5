"""Our own client reads every receipt dialect back, and tells SME acknowledgements from
receipts (real sockets on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio

from esme_client import connect
from smsc.config import AccountConfig, ReceiptDialectConfig
from smsc.pdu import MessageState

DIALECTS = (
    ReceiptDialectConfig(name="legacy", id_format="decimal", id_width=10, label_case="spec",
                         date_format="yyyymmddhhmmss", err_width=0),
    ReceiptDialectConfig(name="tlv-only", text=False),
    ReceiptDialectConfig(name="datasm", pdu="data_sm", label_case="upper"),
    ReceiptDialectConfig(name="text-only", tlvs=()),
)


@pytest.mark.parametrize("dialect", [d.name for d in DIALECTS])
async def test_client_reads_each_dialect_and_skips_sme_acks(
    make_config: Any, start_smsc: Any, dialect: str
) -> None:
    config = make_config(receipt_dialects=DIALECTS,
                         accounts=(AccountConfig(receipt_dialect=dialect),))
    config = dataclasses.replace(config, server=dataclasses.replace(config.server,
                                                                    host="127.0.0.1"))
    running = await start_smsc(config)
    with trio.fail_after(10):
        async with connect("127.0.0.1", running.smpp_port, mode="transceiver") as client:
            result = await client.submit_text("4915100000002", "hello dialect",
                                              source_addr="4915100000001",
                                              registered_delivery=0x0D)
            (message_id,) = result.message_ids
            receipt = await client.wait_receipt(message_id)
            assert receipt.delivered and receipt.state is MessageState.DELIVERED
            acks = [await client.next_delivery() for _ in range(2)]
            assert {d.pdu.esm_class & 0x3C for d in acks} == {0x08, 0x10}  # type: ignore[attr-defined]
            assert not any(d.is_receipt for d in acks)
    running.shutdown.set()
