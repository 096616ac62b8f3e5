"""smpplib (a blocking, independent client) against a live SMSC on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp
import trio

from smsc.config import AccountConfig
from smsc.pdu.constants import CommandStatus, MessageState
from tests.postgresql import on_store

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


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
async def test_bind_submit_and_receipt_with_smpplib(make_config: Any, start_smsc: Any,
                                                    kind: str,
                                                    request: pytest.FixtureRequest) -> None:
    running = await start_smsc(on_store(make_config(), kind, request))
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


def send_parts_and_collect(port: int, mode: str, text: str, encoding: int,
                           use_sar: bool) -> dict[str, Any]:
    """Bind a transmitter and a receiver (or one transceiver), send `text` split by smpplib,
    and return the message ids and the receipts' ids."""
    sender = client_for(port)
    receiver = sender if mode == "transceiver" else client_for(port)
    try:
        if mode == "transceiver":
            sender.bind_transceiver(system_id="smppclient1", password="password")
        else:
            sender.bind_transmitter(system_id="smppclient1", password="password")
            receiver.bind_receiver(system_id="smppclient1", password="password")
        parts, coding, esm_class = smpplib.gsm.make_parts(text, encoding=encoding,
                                                          use_udhi=not use_sar)
        responses: list[Any] = []
        sender.set_message_sent_handler(lambda pdu: responses.append(pdu))
        for index, part in enumerate(parts, 1):
            extra: dict[str, Any] = {}
            if use_sar and len(parts) > 1:
                extra = {"sar_msg_ref_num": 77, "sar_total_segments": len(parts),
                         "sar_segment_seqnum": index}
            sender.send_message(source_addr="100", destination_addr="4915100000002",
                                short_message=part, data_coding=coding, esm_class=esm_class,
                                registered_delivery=1, **extra)
        if receiver is not sender:
            while len(responses) < len(parts):
                sender.read_once()
        sender.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=sender))
        collected: list[Any] = []
        receiver.set_message_received_handler(lambda pdu: collected.append(pdu))
        while len([p for p in collected if p.command == "deliver_sm"]) < len(parts):
            receiver.read_once()
        while len(responses) < len(parts):
            sender.read_once()
        ids = [r.message_id.decode() for r in responses]
        receipt_ids = [p.receipted_message_id.decode() for p in collected
                       if p.command == "deliver_sm"]
        for client in {id(sender): sender, id(receiver): receiver}.values():
            client.unbind()
        return {"ids": ids, "receipts": receipt_ids, "parts": len(parts)}
    finally:
        sender.disconnect()
        if receiver is not sender:
            receiver.disconnect()


@pytest.mark.parametrize(
    ("mode", "text", "encoding", "use_sar"),
    [
        ("transceiver", "short GSM text €", smpplib.consts.SMPP_ENCODING_DEFAULT, False),
        ("separate", "Привет, 世界 😀", smpplib.consts.SMPP_ENCODING_ISO10646, False),
        ("transceiver", "long GSM " * 40, smpplib.consts.SMPP_ENCODING_DEFAULT, False),
        ("separate", "длинный текст " * 12, smpplib.consts.SMPP_ENCODING_ISO10646, True),
    ],
    ids=["gsm", "ucs2", "long-udh", "long-ucs2-sar"],
)
async def test_smpplib_modes_encodings_and_long_messages(
    make_config: Any, start_smsc: Any, mode: str, text: str, encoding: int, use_sar: bool
) -> None:
    running = await start_smsc(make_config())
    result = await trio.to_thread.run_sync(
        send_parts_and_collect, running.smpp_port, mode, text, encoding, use_sar
    )
    assert result["parts"] == len(result["ids"]) >= (2 if len(text) > 100 else 1)
    assert sorted(result["receipts"]) == sorted(result["ids"])
    assert len(set(result["ids"])) == len(result["ids"])
    running.shutdown.set()


async def test_ip_allow_list_and_passwords_stay_out_of_logs(
    make_config: Any, start_smsc: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    accounts = (
        AccountConfig(system_id="remote", password="s3cr3t!", allowed_ips=("10.0.0.0/8",)),
        AccountConfig(system_id="local", password="l0cal!", allowed_ips=("127.0.0.0/8",)),
    )
    running = await start_smsc(make_config(accounts=accounts))
    port = running.smpp_port
    assert await trio.to_thread.run_sync(bind_and_fail, port, "remote", "s3cr3t!") == (
        CommandStatus.ESME_RBINDFAIL
    )
    assert await trio.to_thread.run_sync(bind_and_fail, port, "local", "l0cal!") == 0
    assert await trio.to_thread.run_sync(bind_and_fail, port, "local", "wr0ng!") == (
        CommandStatus.ESME_RINVPASWD
    )
    assert "bind refused" in caplog.text
    for secret in ("s3cr3t!", "l0cal!", "wr0ng!"):
        assert secret not in caplog.text
    running.shutdown.set()


def answer_probes_then_submit(port: int) -> int:
    client = client_for(port)
    try:
        client.bind_transceiver(system_id="smppclient1", password="password")
        received: list[Any] = []
        client.set_message_received_handler(lambda pdu: received.append(pdu))
        for _ in range(15):  # 3 s of probes every 0.2 s: longer than the 2 s response timer,
            client.read_once()  # so an unanswered probe would have closed the session
        assert not received  # the probes are answered inside smpplib, not handed to us
        responses: list[Any] = []
        client.set_message_sent_handler(lambda pdu: responses.append(pdu))
        client.send_message(destination_addr="4915100000004", short_message=b"still here")
        while not responses:  # further probes may come first; read_once answers them
            client.read_once()
        return int(responses[0].status)
    finally:
        client.disconnect()


async def test_smsc_probes_with_enquire_link_and_smpplib_answers(
    make_config: Any, start_smsc: Any
) -> None:
    config = make_config()
    config = dataclasses.replace(config, server=dataclasses.replace(
        config.server, enquire_link_timer=0.2, response_timer=2.0))
    running = await start_smsc(config)
    status = await trio.to_thread.run_sync(answer_probes_then_submit, running.smpp_port)
    assert status == CommandStatus.ESME_ROK
    running.shutdown.set()
