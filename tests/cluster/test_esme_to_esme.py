"""ESME to ESME across nodes: a message to another account's mo_addresses is handed to the
node where that account has a receiver bound, delivered there as MO, and the sender's
receipt comes back to the node where the sender's receiver is bound."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
import pytest
import trio

import esme_client
from smsc.app import RunningSmsc
from smsc.config import AccountConfig, Config, PostgresqlConfig
from smsc.pdu import DeliverSm, make_response
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.session import RequestReceived

from ..esme import Esme

pytestmark = pytest.mark.usefixtures("postgresql_server")
S = CommandStatus
BOB = "4915100009999"
ACCOUNTS = (
    AccountConfig(system_id="alice", password="alice"),
    AccountConfig(system_id="bob", password="bob", mo_addresses=(BOB,)),
)


def node_config(make_config: Any, dsn: str) -> Config:
    config: Config = make_config(accounts=ACCOUNTS)
    store = dataclasses.replace(config.store, kind="postgresql", dsn=dsn,
                                postgresql=PostgresqlConfig(node_timeout=30.0))
    return dataclasses.replace(config, store=store)


def connect(node: RunningSmsc, system_id: str, **options: Any) -> Any:
    return esme_client.connect("127.0.0.1", node.smpp_port, system_id=system_id,
                               password=system_id, **options)


def stored(dsn: str, number: str) -> list[tuple[int, int]]:
    with psycopg.connect(dsn) as db:
        return [(state, attempts) for state, attempts in db.execute(
            "SELECT state, attempts FROM messages WHERE destination_addr = %s ORDER BY id",
            (number,)).fetchall()]


async def test_a_message_to_an_esme_bound_on_another_node_is_handed_there(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(30):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        async with connect(b, "bob", mode="receiver") as bob, connect(a, "alice") as alice:
            assert a.node is not None
            while not a.node.bound_elsewhere("bob"):  # (else the first attempt may find
                await a.node.wait_binds_changed()   # none, and be made due when A knows)
            sent = [await alice.submit_text(BOB, f"hello bob {n}", source_addr="4915100001111",
                                            registered_delivery=1) for n in range(20)]
            texts = sorted([(await bob.next_delivery()).text for _ in sent])
            receipts = [await alice.wait_receipt(result.message_id) for result in sent]
    assert texts == sorted(f"hello bob {n}" for n in range(20))
    assert {r.state for r in receipts} == {MessageState.DELIVERED}
    # attempted once each, on B: a hand-over is not an attempt
    assert stored(postgresql_dsn, BOB) == [(int(MessageState.DELIVERED), 1)] * 20


async def test_a_message_waiting_for_an_esme_goes_when_it_binds_on_another_node(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(30):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        async with connect(a, "alice") as alice:
            sent = await alice.submit_text(BOB, "are you there?", registered_delivery=1)
            while stored(postgresql_dsn, "4915100009999") != [(int(MessageState.ENROUTE), 1)]:
                await trio.sleep(0.02)  # its first attempt found no receiver anywhere
            # the next retry is 5 s away: only the bind on B can bring it sooner
            with trio.fail_after(4):
                async with connect(b, "bob", mode="receiver") as bob:
                    mo = await bob.next_delivery()
                receipt = await alice.wait_receipt(sent.message_id)
    assert (mo.destination_addr, mo.text) == (BOB, "are you there?")
    assert receipt.state is MessageState.DELIVERED


async def test_refusals_on_the_other_node_make_it_undeliverable(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """Bob, bound on B only, refuses each attempt: the third refusal makes the message
    UNDELIV, and the receipt says so to alice on A."""
    config = node_config(make_config, postgresql_dsn)
    config = dataclasses.replace(config, store=dataclasses.replace(
        config.store, retry_schedule=(0.1,)))
    with trio.fail_after(30):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        stream = await trio.open_tcp_stream("127.0.0.1", b.smpp_port)
        bob = Esme(stream)
        bob.auto_answer = False
        assert (await bob.bind(system_id="bob", password="bob")).command_status == S.ESME_ROK
        assert a.node is not None
        while not a.node.bound_elsewhere("bob"):
            await a.node.wait_binds_changed()
        async with connect(a, "alice") as alice:
            sent = await alice.submit_text(BOB, "are you there?", registered_delivery=1)
            refused = 0
            while refused < 3:
                event = await bob.next_event()
                if isinstance(event, RequestReceived) and isinstance(event.message, DeliverSm):
                    await bob.send(make_response(event.message, S.ESME_RX_P_APPN))
                    refused += 1
            receipt = await alice.wait_receipt(sent.message_id)
        await stream.aclose()
    assert receipt.state is MessageState.UNDELIVERABLE
    assert receipt.err == f"{S.ESME_RX_P_APPN & 0xFF:03d}"
    assert stored(postgresql_dsn, BOB) == [(int(MessageState.UNDELIVERABLE), 3)]


async def test_a_bind_whose_waiting_messages_cannot_be_made_due_leaves_them_to_their_retry(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(30):
        a: RunningSmsc = await start_smsc(config)
        assert a.node is not None
        async with connect(a, "alice") as alice:
            await alice.submit_text(BOB, "are you there?")
            while stored(postgresql_dsn, BOB) != [(int(MessageState.ENROUTE), 1)]:
                await trio.sleep(0.02)  # its first attempt found no receiver
            with psycopg.connect(postgresql_dsn, autocommit=True) as db:  # (LISTEN's aside)
                db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name = 'smsc' AND query NOT LIKE 'LISTEN %'")
            await a.node.beat()  # (the node's own connection found cut: made again next)
            async with connect(a, "bob", mode="receiver") as bob:  # made due: a write failed
                mo = await bob.next_delivery()  # at its retry (5 s), the SMSC still running
    assert mo.text == "are you there?"
    assert not a.shutdown.is_set()
