"""The cluster's view and limits: every node's binds in /v1/sessions, max_binds counted
across the live nodes, submit throttling and max_pending per node (docs/cluster.md, "What is
per node"), /metrics per node and gathered from the --workers siblings."""

from __future__ import annotations

import dataclasses
import socket
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

import esme_client
from esme_client.errors import BindError, SmppStatusError
from smsc.app import RunningSmsc, run
from smsc.config import AccountConfig, Config, ControlConfig, PostgresqlConfig
from smsc.pdu.constants import CommandStatus
from smsc.store.postgresql_nodes import ACCOUNT_LOCK

pytestmark = pytest.mark.usefixtures("postgresql_server")
NEVER_REACHABLE = "447700900200"
"""A magic number: retried until validity ends, so its messages stay pending."""


def cluster_config(make_config: Any, dsn: str, account: AccountConfig,
                   node_timeout: float = 3.0) -> Config:
    config: Config = make_config(control=ControlConfig(port=0), accounts=(account,))
    store = dataclasses.replace(config.store, kind="postgresql", dsn=dsn,
                                postgresql=PostgresqlConfig(node_timeout=node_timeout))
    return dataclasses.replace(config, store=store)


async def sessions_of(running: RunningSmsc) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as api:
        answer = await api.get("/v1/sessions")
    assert answer.status_code == 200
    found: list[dict[str, Any]] = answer.json()["sessions"]
    return found


async def test_max_binds_counts_every_live_node_and_sessions_show_the_cluster(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = cluster_config(make_config, postgresql_dsn, AccountConfig(max_binds=1))
    with trio.fail_after(30):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        assert a.node is not None and b.node is not None
        async with esme_client.connect("127.0.0.1", a.smpp_port, mode="receiver"):
            with pytest.raises(BindError) as refused:
                async with esme_client.connect("127.0.0.1", b.smpp_port, mode="transmitter"):
                    pass
            assert refused.value.status == CommandStatus.ESME_RBINDFAIL
            await b.node.beat()  # (the node names as of now)
            (seen,) = await sessions_of(b)  # A's session, seen from B
            assert seen["node"] == {"id": a.node.node_id,
                                    "name": f"SMSC@127.0.0.1:{a.smpp_port}"}
            assert (seen["system_id"], seen["bind_type"], seen["state"], seen["window"],
                    seen["in_flight"]) == ("smppclient1", "receiver", "bound_rx", 10, None)
            assert seen["peer"].startswith("127.0.0.1:") and seen["bound_since"]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{b.http_port}") as api:
                assert (await api.get("/v1/overview")).json()["sessions"] == [seen]
            await a.node.beat()
            (own,) = await sessions_of(a)  # and from A, with its live counters
            assert own["node"] == seen["node"] and own["id"] == seen["id"]
            assert own["in_flight"] == 0 and own["bound_since"] == seen["bound_since"]
        await a.node.wait_sessions_ended()  # unbound on A: its row is gone
        async with esme_client.connect("127.0.0.1", b.smpp_port, mode="transmitter"):
            (seen,) = await sessions_of(a)
            assert seen["node"]["id"] == b.node.node_id
            assert seen["bind_type"] == "transmitter"
            with psycopg.connect(postgresql_dsn) as db:
                assert db.execute("SELECT node, system_id FROM sessions").fetchall() == [
                    (b.node.node_id, "smppclient1")]


async def test_a_dead_nodes_sessions_do_not_count_and_go_with_its_take_over(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = cluster_config(make_config, postgresql_dsn, AccountConfig(max_binds=1),
                            node_timeout=60.0)  # (no heartbeat but ours below)
    with trio.fail_after(30):
        running: RunningSmsc = await start_smsc(config)
        assert running.node is not None
        with psycopg.connect(postgresql_dsn, autocommit=True) as db:
            row = db.execute("INSERT INTO nodes (name, host, pid, started, heartbeat) "
                             "VALUES ('gone', 'elsewhere', 1, 0, 0) RETURNING id").fetchone()
            assert row is not None
            db.execute("INSERT INTO sessions VALUES (%s, 1, 'smppclient1', 'receiver', "
                       "'192.0.2.1:4000', 10, 0)", (row[0],))
            async with esme_client.connect("127.0.0.1", running.smpp_port,
                                           mode="transmitter"):
                assert db.execute("SELECT count(*) FROM sessions").fetchone() == (2,)
                await running.node.beat()  # takes the dead node over
                assert db.execute("SELECT node, bind_type FROM sessions").fetchall() == [
                    (running.node.node_id, "transmitter")]


async def test_a_sessions_row_not_deleted_at_unbind_goes_at_the_next_heartbeat(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """Its delete failed (a connection cut): left there, the row would count for max_binds
    as long as the node runs."""
    config = cluster_config(make_config, postgresql_dsn, AccountConfig(max_binds=1))
    with trio.fail_after(30):
        running: RunningSmsc = await start_smsc(config)
        assert running.node is not None
        async with esme_client.connect("127.0.0.1", running.smpp_port, mode="transmitter"):
            with psycopg.connect(postgresql_dsn, autocommit=True) as db:  # (LISTEN's aside)
                db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name = 'smsc' AND query NOT LIKE 'LISTEN %'")
        await running.node.wait_sessions_ended()  # its delete tried, and failed
        with psycopg.connect(postgresql_dsn) as db:
            assert db.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
        await running.node.beat()
        async with esme_client.connect("127.0.0.1", running.smpp_port, mode="transmitter"):
            pass  # bound again: the row is gone


async def test_two_binds_at_once_on_two_nodes_one_is_admitted(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = cluster_config(make_config, postgresql_dsn, AccountConfig(max_binds=1))
    with trio.fail_after(30):
        nodes = [await start_smsc(config), await start_smsc(config)]
        outcomes: list[int] = []
        done = trio.Event()

        async def bind(running: RunningSmsc) -> None:
            try:
                async with esme_client.connect("127.0.0.1", running.smpp_port,
                                               mode="transceiver"):
                    outcomes.append(0)
                    await done.wait()
            except BindError as error:
                outcomes.append(error.status or -1)
            if len(outcomes) == 2:
                done.set()

        with psycopg.connect(postgresql_dsn, autocommit=True) as db:
            # the account's lock held here: both binds count only once it is let go
            db.execute("SELECT pg_advisory_lock(%s, hashtext('smppclient1'))", (ACCOUNT_LOCK,))
            async with trio.open_nursery() as nursery:
                for running in nodes:
                    nursery.start_soon(bind, running)
                waited: set[int] = set()  # (each node's tries wait for it in turn)
                while len(waited) < 2:
                    waited.update(pid for (pid,) in db.execute(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))
                    await trio.sleep(0.01)  # (both nodes waiting for it: one poll of the server)
                db.execute("SELECT pg_advisory_unlock_all()")
        assert sorted(outcomes) == [0, CommandStatus.ESME_RBINDFAIL]


async def test_a_bind_waiting_for_its_accounts_lock_holds_up_no_other_account(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = cluster_config(make_config, postgresql_dsn, AccountConfig())
    config = dataclasses.replace(config, accounts=(
        *config.accounts, AccountConfig(system_id="other", password="secret")))
    with trio.fail_after(30):
        running: RunningSmsc = await start_smsc(config)
        admitted = trio.Event()

        async def bind_held_up() -> None:
            async with esme_client.connect("127.0.0.1", running.smpp_port,
                                           mode="transmitter"):
                admitted.set()

        with psycopg.connect(postgresql_dsn, autocommit=True) as db:
            # (as a node stalled in its bind's transaction would hold it)
            db.execute("SELECT pg_advisory_lock(%s, hashtext('smppclient1'))", (ACCOUNT_LOCK,))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(bind_held_up)
                while db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                 "AND NOT granted").fetchone() != (1,):
                    await trio.sleep(0.01)  # (one poll of the server, until it has waited)
                with trio.fail_after(2):  # another account's bind is answered meanwhile
                    async with esme_client.connect("127.0.0.1", running.smpp_port,
                                                   mode="transmitter", system_id="other",
                                                   password="secret"):
                        pass
                assert not admitted.is_set()
                db.execute("SELECT pg_advisory_unlock_all()")
        assert admitted.is_set()


async def test_throttling_and_max_pending_are_per_node(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    account = AccountConfig(submit_rate=0.001, submit_burst=4, max_pending=2)
    config = cluster_config(make_config, postgresql_dsn, account)
    with trio.fail_after(30):
        nodes = [await start_smsc(config), await start_smsc(config)]
        for running in nodes:  # each node its own bucket of 4 and its own 2 pending
            async with esme_client.connect("127.0.0.1", running.smpp_port,
                                           mode="transmitter") as tx:
                statuses = []
                for destination in ("4915100000002", NEVER_REACHABLE, NEVER_REACHABLE,
                                    NEVER_REACHABLE, "4915100000002"):
                    try:
                        await tx.submit_text(destination, "hello")
                        statuses.append(CommandStatus.ESME_ROK)
                    except SmppStatusError as error:
                        statuses.append(CommandStatus(error.status or 0))
                assert statuses == [CommandStatus.ESME_ROK, CommandStatus.ESME_ROK,
                                    CommandStatus.ESME_ROK, CommandStatus.ESME_RMSGQFUL,
                                    CommandStatus.ESME_RTHROTTLED]


async def test_metrics_carry_the_node_and_the_first_worker_gathers_its_siblings(
        make_config: Any, postgresql_dsn: str) -> None:
    """Two workers of one supervisor (this process: SO_REUSEPORT is --workers): the one
    with the control API serves both nodes' samples; a sibling that does not answer is
    left out and named in smsc_cluster_scrape_errors."""
    served = cluster_config(make_config, postgresql_dsn, AccountConfig())
    sibling = dataclasses.replace(served, control=ControlConfig(enabled=False, port=0))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            first: RunningSmsc = await nursery.start(partial(run, served, reuse_port=True))
            second: RunningSmsc = await nursery.start(partial(run, sibling, reuse_port=True))
            assert first.node is not None and second.node is not None
            one, two = first.node.node_id, second.node.node_id
            async with esme_client.connect("127.0.0.1", second.smpp_port, mode="receiver"), \
                    httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.http_port}") as api:
                text = (await api.get("/metrics")).text
                families = {f.name: f for f in text_string_to_metric_families(text)}
                bound = {(s.labels["node"], s.labels["mode"]): s.value
                         for s in families["smsc_bound_sessions"].samples}
                assert bound[str(one), "receiver"] == 0 and bound[str(two), "receiver"] == 1
                assert {s.labels["node"] for s in families["smsc_build_info"].samples} == {
                    str(one), str(two)}
                assert text.count("# TYPE smsc_build_info ") == 1
                assert families["smsc_cluster_scrape_errors"].samples == []
                with socket.socket() as silent, psycopg.connect(postgresql_dsn,
                                                                autocommit=True) as db:
                    silent.bind(("127.0.0.1", 0))  # (not listening: refused)
                    db.execute("UPDATE nodes SET metrics = %s WHERE id = %s",
                               (f"127.0.0.1:{silent.getsockname()[1]}", two))
                    text = (await api.get("/metrics")).text
                families = {f.name: f for f in text_string_to_metric_families(text)}
                assert {s.labels["node"] for s in families["smsc_build_info"].samples} == {
                    str(one)}
                (error,) = families["smsc_cluster_scrape_errors"].samples
                assert error.labels == {"node": str(two)} and error.value == 1
            nursery.cancel_scope.cancel()
