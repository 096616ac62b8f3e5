"""Receipt dialects and SME acknowledgements as smpplib (an independent client) reads them."""

from __future__ import annotations

from typing import Any

import smpplib.client
import smpplib.smpp
import trio

from smsc.config import AccountConfig, ReceiptDialectConfig
from smsc.pdu.receipt_text import parse_receipt_text, receipt_ids_match

TIMEOUT = 5
DIALECTS = (
    ReceiptDialectConfig(name="legacy", id_format="decimal", id_width=10, label_case="spec",
                         tlv_id_format="hex", date_format="yyyymmddhhmmss"),
    ReceiptDialectConfig(name="datasm", pdu="data_sm"),
)


def submit_and_read(port: int, system_id: str, password: str, registered_delivery: int,
                    expected: int) -> dict[str, Any]:
    """Submit one message and read `expected` deliveries, answering each (deliver_sm and
    data_sm) as an ESME must."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=TIMEOUT,
                                   allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=system_id, password=password)
        client.send_message(source_addr_ton=1, source_addr="4915100000001", dest_addr_ton=1,
                            destination_addr="4915100000002", short_message=b"hi smpplib",
                            registered_delivery=registered_delivery,
                            user_message_reference=99)
        resp = None
        received: list[Any] = []
        while resp is None or len(received) < expected:
            pdu = client.read_pdu()
            if pdu.command == "submit_sm_resp":
                resp = pdu
            elif pdu.command in ("deliver_sm", "data_sm"):
                received.append(pdu)
                answer = smpplib.smpp.make_pdu(f"{pdu.command}_resp", client=client,
                                               sequence=pdu.sequence)
                client.send_pdu(answer)
        client.unbind()
        return {"message_id": resp.message_id.decode(), "received": received}
    finally:
        client.disconnect()


def config_with(make_config: Any, dialect: str) -> Any:
    return make_config(receipt_dialects=DIALECTS,
                       accounts=(AccountConfig(receipt_dialect=dialect),))


async def test_legacy_dialect_as_smpplib_reads_it(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(config_with(make_config, "legacy"))
    result = await trio.to_thread.run_sync(
        submit_and_read, running.smpp_port, "smppclient1", "password", 1, 1)
    (receipt,) = result["received"]
    assert receipt.command == "deliver_sm" and receipt.esm_class == 0x04
    text = receipt.short_message.decode()
    assert " Text:hi smpplib" in text
    parsed = parse_receipt_text(text)
    assert parsed is not None and len(parsed.id) == 10 and parsed.id.isdigit()
    assert parsed.done_date is not None and parsed.stat == "DELIVRD"
    assert receipt.receipted_message_id.decode() == result["message_id"]  # hex, as submitted
    assert receipt_ids_match(parsed.id, result["message_id"])
    assert receipt.user_message_reference == 99
    running.shutdown.set()


async def test_data_sm_receipts_and_sme_acks_as_smpplib_reads_them(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(config_with(make_config, "datasm"))
    result = await trio.to_thread.run_sync(
        submit_and_read, running.smpp_port, "smppclient1", "password", 0x0D, 3)
    kinds = {pdu.esm_class & 0x3C: pdu for pdu in result["received"]}
    assert set(kinds) == {0x04, 0x08, 0x10}
    assert {pdu.command for pdu in result["received"]} == {"data_sm"}
    receipt = kinds[0x04]
    parsed = parse_receipt_text(receipt.message_payload.decode())
    assert parsed is not None and parsed.id == result["message_id"]
    for pdu in result["received"]:
        assert pdu.receipted_message_id.decode() == result["message_id"]
        assert pdu.user_message_reference == 99
    assert kinds[0x10].message_payload == b"OK"
    running.shutdown.set()
