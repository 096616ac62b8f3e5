"""ESME to ESME: an MT to another account's mo_addresses is delivered to that ESME as MO,
and the sender's receipt reports the receiving ESME's real answer.

Two real ESMEs on 127.0.0.1 (esme_client, and our own session for the one that refuses),
an SMSC in process (`open_smsc`), simulated time moved with `advance` (docs/clock.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio
import trio.testing

import esme_client
from smsc.config import (
    AccountConfig,
    ConfigError,
    ReceiptDialectConfig,
    RouteConfig,
    RoutingConfig,
    parse_config,
)
from smsc.embed import EmbeddedSmsc, open_smsc
from smsc.pdu import DataSm, DeliverSm, make_response
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.session import RequestReceived

from ..esme import Esme

S = CommandStatus
BOB = "4915100009999"
ACCOUNTS = (
    AccountConfig(system_id="alice", password="alice"),
    AccountConfig(system_id="bob", password="bob", mo_addresses=(BOB, r"4242\d")),
)
LONG = "A long message from one ESME to another, more than one part can hold. " * 4


def as_alice() -> Any:
    return {"system_id": "alice", "password": "alice"}


async def stored(smsc: EmbeddedSmsc, number: str) -> dict[str, Any]:
    [message] = await smsc.messages(number=number)
    return message


@pytest.mark.parametrize("scheme", ["udh8", "sar", "payload"])
async def test_a_message_to_another_esme_arrives_as_mo_and_is_receipted_delivrd(
        scheme: str) -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="bob",
                                password="bob") as bob:
        with trio.fail_after(10):
            sent = await alice.submit_text(BOB, LONG, source_addr="4915100001111",
                                           scheme=scheme, registered_delivery=1)
            mo = await bob.next_delivery()
            assert not mo.is_receipt
            assert (mo.source_addr, mo.destination_addr, mo.text) == (
                "4915100001111", BOB, LONG)
            assert mo.parts == sent.parts  # the parts as submitted: UDH, SAR or one payload
            receipts = await alice.wait_receipts(sent)
            messages = await smsc.messages(number=BOB)
    assert {r.state for r in receipts} == {MessageState.DELIVERED}
    assert {m["network"] for m in messages} == {"esme:bob"}


async def test_a_pattern_of_mo_addresses_claims_too() -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="bob",
                                password="bob") as bob:
        with trio.fail_after(10):
            sent = await alice.submit_text("42421", "to a pattern", registered_delivery=1)
            mo = await bob.next_delivery()
            receipt = await alice.wait_receipt(sent.message_id)
    assert (mo.destination_addr, mo.text) == ("42421", "to a pattern")
    assert receipt.state is MessageState.DELIVERED


async def refusing_bob(smsc: EmbeddedSmsc) -> Esme:
    stream = await trio.open_tcp_stream("127.0.0.1", smsc.smpp_port)
    bob = Esme(stream)
    bob.auto_answer = False
    assert (await bob.bind(system_id="bob", password="bob")).command_status == S.ESME_ROK
    return bob


async def refuse_next(bob: Esme, status: int) -> DeliverSm:
    while True:
        event = await bob.next_event()
        if isinstance(event, RequestReceived) and isinstance(event.message, DeliverSm):
            await bob.send(make_response(event.message, status))
            return event.message


async def test_a_permanent_refusal_is_retried_then_undeliverable() -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice:
        bob = await refusing_bob(smsc)
        with trio.fail_after(10):
            sent = await alice.submit_text(BOB, "are you there?", registered_delivery=1)
            first = await refuse_next(bob, S.ESME_RX_P_APPN)
            assert first.short_message == b"are you there?"
            await trio.testing.wait_all_tasks_blocked()
            waiting = await stored(smsc, BOB)
            assert waiting["state"] is MessageState.ENROUTE and waiting["attempts"] == 1, waiting
            async with trio.open_nursery() as nursery:
                nursery.start_soon(smsc.advance, 5.0)  # the retry schedule: 5 s, 15 s, ...
                await refuse_next(bob, S.ESME_RX_P_APPN)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(smsc.advance, 15.0)
                await refuse_next(bob, S.ESME_RX_P_APPN)
            receipt = await alice.wait_receipt(sent.message_id)
            assert (await stored(smsc, BOB))["attempts"] == 3
        await bob.stream.aclose()
    assert receipt.state is MessageState.UNDELIVERABLE
    assert receipt.err == f"{S.ESME_RX_P_APPN & 0xFF:03d}"


async def test_a_burst_past_the_receivers_window_waits_for_room_not_for_a_retry() -> None:
    """Bob's window is 10: the other 5 go as his answers free room, each in its first
    attempt (the clock does not move: a retry would never come)."""
    async with open_smsc(accounts=ACCOUNTS) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice:
        bob = await refusing_bob(smsc)
        with trio.fail_after(10):
            sent = [await alice.submit_text(BOB, f"burst {n}", registered_delivery=1)
                    for n in range(15)]
            held = []
            while len(held) < 10:
                event = await bob.next_event()
                if isinstance(event, RequestReceived):
                    held.append(event.message)
            for request in held:
                await bob.send(make_response(request, S.ESME_ROK))
            rest = [await refuse_next(bob, S.ESME_ROK) for _ in range(5)]
            receipts = [await alice.wait_receipt(result.message_id) for result in sent]
            messages = await smsc.messages(number=BOB)
        await bob.stream.aclose()
    assert sorted(m.short_message for m in [*held, *rest]) == sorted(
        f"burst {n}".encode() for n in range(15))
    assert {r.state for r in receipts} == {MessageState.DELIVERED}
    assert {m["attempts"] for m in messages} == {1}


async def test_an_esme_that_never_binds_leaves_the_message_to_expire() -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice:
        with trio.fail_after(10):
            sent = await alice.submit_text(BOB, "anyone?", registered_delivery=1,
                                           validity_period="000000001000000R")  # 10 min
            await smsc.advance(60)
            waiting = await stored(smsc, BOB)
            assert waiting["state"] is MessageState.ENROUTE and waiting["attempts"] >= 3
            await smsc.advance(10 * 60)
            receipt = await alice.wait_receipt(sent.message_id)
    assert receipt.state is MessageState.EXPIRED
    assert receipt.err == "027"  # absent: no receiver bound


async def test_an_esme_binding_later_gets_the_waiting_message_at_once() -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice:
        with trio.fail_after(10):
            sent = await alice.submit_text(BOB, "catch up", registered_delivery=1)
            await smsc.advance(30.0)  # attempts at 0, 5 and 20 s; the next at 80 s
            waiting = await stored(smsc, BOB)
            assert waiting["state"] is MessageState.ENROUTE and waiting["attempts"] == 3
            async with esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="bob",
                                           password="bob") as bob:
                mo = await bob.next_delivery()  # at once, not at the retry 50 s away
                receipt = await alice.wait_receipt(sent.message_id)
    assert mo.text == "catch up"
    assert receipt.state is MessageState.DELIVERED


async def test_a_message_to_its_own_mo_address_goes_to_the_network() -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="bob",
                                password="bob") as bob:
        with trio.fail_after(10):
            sent = await bob.submit_text(BOB, "to myself", registered_delivery=1)
            receipt = await bob.wait_receipt(sent.message_id)
            message = await stored(smsc, BOB)
    assert receipt.state is MessageState.DELIVERED
    assert message["network"] != "esme:bob"


async def test_a_routing_rule_may_name_an_esme() -> None:
    routing = RoutingConfig(rules=(RouteConfig(prefix="4917", network="esme:bob"),))
    async with open_smsc(accounts=ACCOUNTS, routing=routing) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="bob",
                                password="bob") as bob:
        with trio.fail_after(10):
            sent = await alice.submit_text("4917012345678", "routed", registered_delivery=1,
                                           dest_addr_ton=1, dest_addr_npi=1)
            mo = await bob.next_delivery()
            receipt = await alice.wait_receipt(sent.message_id)
    assert (mo.destination_addr, mo.text) == ("4917012345678", "routed")
    assert receipt.state is MessageState.DELIVERED


def test_a_rule_may_name_only_a_configured_account() -> None:
    with pytest.raises(ConfigError, match="no network named 'esme:carol'"):
        parse_config({"accounts": [{"system_id": "bob"}],
                      "routing": {"rules": [{"prefix": "49", "network": "esme:carol"}]}},
                     "test.toml")


async def test_an_esme_whose_dialect_says_data_sm_gets_a_data_sm() -> None:
    accounts = (ACCOUNTS[0], dataclasses.replace(ACCOUNTS[1], receipt_dialect="tlvs"))
    dialects = (ReceiptDialectConfig(name="tlvs", pdu="data_sm"),)
    async with open_smsc(accounts=accounts, receipt_dialects=dialects) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, **as_alice()) as alice, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="bob",
                                password="bob") as bob:
        with trio.fail_after(10):
            sent = await alice.submit_text(BOB, LONG, scheme="sar", registered_delivery=1)
            mo = await bob.next_delivery()
            receipts = await alice.wait_receipts(sent)
    assert isinstance(mo.pdu, DataSm)
    assert (mo.text, mo.parts) == (LONG, sent.parts)  # each SAR part a data_sm, reassembled
    assert {r.state for r in receipts} == {MessageState.DELIVERED}
