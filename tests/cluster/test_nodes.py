"""SMSC processes on one PostgreSQL store are nodes: each its row with a heartbeat, seen in
/v1/status, and what is owed to an account goes to the node where it has a receiver bound."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest
import trio

import esme_client
from esme_client.errors import SmppStatusError
from smsc.app import RunningSmsc, run
from smsc.config import AccountConfig, Config, ControlConfig, PostgresqlConfig

pytestmark = pytest.mark.usefixtures("postgresql_server")


def node_config(make_config: Any, dsn: str, timeout: float = 3.0) -> Config:
    config: Config = make_config(control=ControlConfig(port=0),
                                 accounts=(AccountConfig(mo_addresses=("4242",)),))
    store = dataclasses.replace(config.store, kind="postgresql", dsn=dsn,
                                postgresql=PostgresqlConfig(node_timeout=timeout))
    return dataclasses.replace(config, store=store)


def http(running: RunningSmsc) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}")


async def test_each_smsc_on_postgresql_is_a_node_with_a_heartbeat_in_the_status(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            one: RunningSmsc = await nursery.start(run, config)
            two: RunningSmsc = await start_smsc(config)
            assert one.node is not None and two.node is not None
            assert one.node.node_id != two.node.node_id
            await two.node.beat()  # (the list as of now: both rows are there)
            async with http(two) as client:
                status = (await client.get("/v1/status")).json()
            node = status["node"]
            assert node["id"] == two.node.node_id and node["timeout"] == 3.0
            listed = {n["id"]: n for n in node["nodes"]}
            assert set(listed) == {one.node.node_id, two.node.node_id}
            assert all(n["alive"] and n["heartbeat_age"] < 3.0 for n in listed.values())
            assert listed[one.node.node_id]["name"] == f"SMSC@127.0.0.1:{one.smpp_port}"
            one.shutdown.set()  # a clean stop: its row goes
        with psycopg.connect(postgresql_dsn) as db:
            assert db.execute("SELECT id FROM nodes").fetchall() == [(two.node.node_id,)]


async def test_the_status_lists_a_node_started_since_the_last_heartbeat(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn, timeout=60.0)  # a heartbeat each 20 s
    with trio.fail_after(30):
        one: RunningSmsc = await start_smsc(config)
        two: RunningSmsc = await start_smsc(config)
        assert one.node is not None and two.node is not None
        async with http(one) as client:
            listed = [n["id"] for n in (await client.get("/v1/status")).json()["node"]["nodes"]]
            assert listed == [one.node.node_id, two.node.node_id]
            async with one.node._status_reads:  # a read still running: the list last read
                status = (await client.get("/v1/status")).json()
            assert [n["id"] for n in status["node"]["nodes"]] == listed


async def test_receipts_and_mo_go_to_the_node_where_the_receiver_is_bound(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(60):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        async with esme_client.connect("127.0.0.1", a.smpp_port, mode="transmitter") as tx:
            # nobody receives anywhere yet: the receipts wait, on node A
            waiting = [await tx.submit_text("4915100000002", f"early {n}", registered_delivery=1)
                       for n in range(3)]
            async with esme_client.connect("127.0.0.1", b.smpp_port, mode="receiver") as rx:
                for result in waiting:
                    await rx.wait_receipts(result)
                later = [await tx.submit_text("4915100000002", f"late {n}",
                                              registered_delivery=1) for n in range(20)]
                for result in later:
                    await rx.wait_receipts(result)
                async with http(a) as client:
                    created = await client.post("/v1/mo", json={
                        "source_addr": "4915100000001", "destination_addr": "4242",
                        "text": "STOP"})
                    assert created.status_code == 201
                delivery = await rx.next_delivery()
                assert delivery.receipt is None and delivery.text == "STOP"
    with psycopg.connect(postgresql_dsn) as db:  # everything acknowledged is gone
        assert db.execute("SELECT count(*) FROM outbound").fetchone() == (0,)


async def test_a_lost_listen_connection_is_made_again_and_what_came_meanwhile_read(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """With polls 20 s apart, receipts handed over after the LISTEN connections were cut
    arrive within seconds only if the node listens again and reads what it missed."""
    config = node_config(make_config, postgresql_dsn, timeout=60.0)
    with trio.fail_after(15):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        async with esme_client.connect("127.0.0.1", b.smpp_port, mode="receiver") as rx, \
                esme_client.connect("127.0.0.1", a.smpp_port, mode="transmitter") as tx:
            first = await tx.submit_text("4915100000002", "before", registered_delivery=1)
            await rx.wait_receipts(first)
            with psycopg.connect(postgresql_dsn, autocommit=True) as db:
                cut = db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE query LIKE 'LISTEN %'").fetchall()
            assert len(cut) == 2  # one per node
            results = [await tx.submit_text("4915100000002", f"after {n}",
                                            registered_delivery=1) for n in range(5)]
            for result in results:
                await rx.wait_receipts(result)


async def test_a_node_that_finds_itself_taken_over_stops(
        make_config: Any, postgresql_dsn: str) -> None:
    """Silent too long (stalled, cut off): the others took its work, so it must not go on."""
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            running: RunningSmsc = await nursery.start(run, config)
            assert running.node is not None
            with psycopg.connect(postgresql_dsn, autocommit=True) as db:
                db.execute("DELETE FROM nodes WHERE id = %s", (running.node.node_id,))
            await running.node.beat()
            assert running.shutdown.is_set()


async def test_what_a_node_stopped_cleanly_left_is_delivered_by_an_idle_one(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """No node died, so the take-over names none: the messages and receipts it took are due
    here all the same, and an idle node (nothing committed since) must look at them."""
    config = node_config(make_config, postgresql_dsn, timeout=60.0)  # (no heartbeat but ours)
    with trio.fail_after(30):
        idle: RunningSmsc = await start_smsc(config)
        assert idle.node is not None
        async with trio.open_nursery() as nursery:
            leaving: RunningSmsc = await nursery.start(run, config)
            async with esme_client.connect("127.0.0.1", leaving.smpp_port) as client:
                left = await client.submit_text("4915100000002", "left", registered_delivery=1,
                                                schedule_delivery_time="000000000001000R")
            leaving.shutdown.set()  # a clean stop: its work to no node
        async with esme_client.connect("127.0.0.1", idle.smpp_port) as client:
            await idle.node.beat()  # the take-over: none dead, the message taken
            assert (await client.wait_receipt(left.message_id)).delivered


async def test_a_node_whose_connections_are_cut_goes_on(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """The node's connections cut (a proxy gone), LISTEN's aside: its next heartbeat's
    take-over fails (its heartbeat too, on a connection of its own), and is made again at
    the next; the node does not stop."""
    config = node_config(make_config, postgresql_dsn, timeout=60.0)
    with trio.fail_after(30):
        running: RunningSmsc = await start_smsc(config)
        assert running.node is not None
        with psycopg.connect(postgresql_dsn, autocommit=True) as db:
            cut = db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name = 'smsc' AND query NOT LIKE 'LISTEN %'"
                             ).fetchall()
            assert len(cut) >= 2  # the store's, the node's own
        for _ in range(3):  # (the first finds its own connection cut: no heartbeat)
            await running.node.beat()
        async with esme_client.connect("127.0.0.1", running.smpp_port) as client:
            while True:  # (a submit that meets a cut connection is ESME_RSYSERR)
                try:
                    await client.submit_text("4915100000002", "still here")
                    break
                except SmppStatusError:
                    pass
        assert not running.shutdown.is_set()


def owed(dsn: str) -> int:
    with psycopg.connect(dsn) as db:
        row = db.execute("SELECT count(*) FROM outbound").fetchone()
    assert row is not None
    return int(row[0])


async def test_notifications_lost_for_good_under_load_everything_arrives_once(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """The LISTEN connections cut every few milliseconds for a whole run: receipts handed
    from A to the sender's receiver on B, and messages handed from A to an ESME bound on B,
    arrive all the same (read after each reconnection, or at the poll), each once."""
    accounts = (AccountConfig(system_id="alice", password="alice"),
                AccountConfig(system_id="bob", password="bob", mo_addresses=("4915100009999",)))
    config = dataclasses.replace(node_config(make_config, postgresql_dsn), accounts=accounts)
    cuts = 0

    async def cut_again_and_again() -> None:
        nonlocal cuts
        with psycopg.connect(postgresql_dsn, autocommit=True) as db:
            while True:
                cut = await trio.to_thread.run_sync(db.execute, (
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query "
                    "LIKE 'LISTEN %' AND datname = current_database()"))
                cuts += len(cut.fetchall())
                await trio.sleep(0.01)

    receipts: Counter[str] = Counter()
    mo: Counter[str] = Counter()

    async def receive(client: Any, count: Counter[str], done: trio.Event, wanted: int) -> None:
        async for delivery in client.deliveries():
            key = (delivery.receipt.message_id.lower() if delivery.receipt is not None
                   else delivery.text)
            count[key] += 1
            if len(count) == wanted:
                done.set()

    with trio.fail_after(60):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        async with esme_client.connect("127.0.0.1", b.smpp_port, mode="receiver",
                                       system_id="alice", password="alice") as alice_rx, \
                esme_client.connect("127.0.0.1", b.smpp_port, mode="receiver",
                                    system_id="bob", password="bob") as bob, \
                esme_client.connect("127.0.0.1", a.smpp_port, mode="transmitter",
                                    system_id="alice", password="alice") as tx, \
                trio.open_nursery() as nursery:
            assert a.node is not None
            while not (a.node.bound_elsewhere("alice") and a.node.bound_elsewhere("bob")):
                await a.node.wait_binds_changed()
            all_receipts, all_mo = trio.Event(), trio.Event()
            nursery.start_soon(cut_again_and_again)
            nursery.start_soon(receive, alice_rx, receipts, all_receipts, 300)
            nursery.start_soon(receive, bob, mo, all_mo, 100)
            sent = [await tx.submit_text("4915100000002", f"crossing {n}",
                                         registered_delivery=1) for n in range(200)]
            sent += [await tx.submit_text("4915100009999", f"to bob {n}",
                                          registered_delivery=1) for n in range(100)]
            await all_receipts.wait()
            await all_mo.wait()
            while await trio.to_thread.run_sync(owed, postgresql_dsn):
                await trio.sleep(0.05)  # (acknowledgements on their way to the store)
            nursery.cancel_scope.cancel()  # nothing is owed: no duplicate is on its way
    assert cuts >= 10, cuts  # (some 100 in a run of a few seconds)
    assert set(receipts) == {result.message_id.lower() for result in sent}
    assert set(mo) == {f"to bob {n}" for n in range(100)}
    duplicates = sum(receipts.values()) - 300 + sum(mo.values()) - 100
    assert duplicates == 0, (duplicates, receipts.most_common(3), mo.most_common(3))
