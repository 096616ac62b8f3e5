"""smpplib (a blocking, independent client) against a live SMSC on 127.0.0.1."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import trio

from smsc.pdu.constants import CommandStatus, MessageState

TIMEOUT = 5


def client_for(port: int) -> smpplib.client.Client:
    client = smpplib.client.Client("127.0.0.1", port, timeout=TIMEOUT,
                                   allow_unknown_opt_params=True)
    client.connect()
    return client


def read_until(client: smpplib.client.Client, predicate: Any, limit: int = 20) -> list[Any]:
    """Read PDUs (answering deliver_sm as smpplib does) until one satisfies `predicate`."""
    seen: list[Any] = []
    client.set_message_received_handler(lambda pdu: seen.append(pdu))
    for _ in range(limit):
        client.read_once()
        if any(predicate(p) for p in seen):
            return seen
    raise AssertionError(f"no matching PDU among {seen}")


def submit_and_get_receipt(port: int, system_id: str, password: str) -> dict[str, Any]:
    client = client_for(port)
    try:
        client.bind_transceiver(system_id=system_id, password=password)
        sent: list[Any] = []
        client.set_message_sent_handler(lambda pdu: sent.append(pdu))
        client.send_message(
            source_addr_ton=1, source_addr="4915100000001", dest_addr_ton=1,
            destination_addr="4915100000002", short_message=b"hello receipt",
            registered_delivery=1,
        )
        seen = read_until(client, lambda p: p.command == "deliver_sm")
        resp = sent[0]
        receipt = next(p for p in seen if p.command == "deliver_sm")
        client.unbind()
        return {"resp": resp, "receipt": receipt}
    finally:
        client.disconnect()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_bind_submit_and_receipt_with_smpplib(make_config: Any, start_smsc: Any,
                                                    kind: str) -> None:
    config = make_config()
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, kind=kind))
    running = await start_smsc(config)
    result = await trio.to_thread.run_sync(
        submit_and_get_receipt, running.smpp_port, "smppclient1", "password"
    )
    resp, receipt = result["resp"], result["receipt"]
    message_id = resp.message_id.decode()
    assert message_id
    assert receipt.esm_class == 0x04
    assert receipt.receipted_message_id.decode() == message_id
    assert receipt.message_state == MessageState.DELIVERED
    text = receipt.short_message.decode()
    assert text.startswith(f"id:{message_id} sub:001 dlvrd:001 ")
    assert "stat:DELIVRD" in text and "text:hello receipt" in text
    assert receipt.destination_addr.decode() == "4915100000001"
    assert receipt.source_addr.decode() == "4915100000002"
    running.shutdown.set()


def bind_and_fail(port: int, system_id: str, password: str) -> int:
    client = client_for(port)
    try:
        client.bind_transmitter(system_id=system_id, password=password)
    except smpplib.exceptions.PDUError as error:
        return int(error.args[1])
    finally:
        client.disconnect()
    return 0


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        ("nobody", "password", CommandStatus.ESME_RINVSYSID),
        ("smppclient1", "wrong", CommandStatus.ESME_RINVPASWD),
    ],
)
async def test_bad_credentials_are_refused(
    make_config: Any, start_smsc: Any, system_id: str, password: str, status: int
) -> None:
    running = await start_smsc(make_config())
    got = await trio.to_thread.run_sync(bind_and_fail, running.smpp_port, system_id, password)
    assert got == status
    running.shutdown.set()
