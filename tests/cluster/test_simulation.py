"""The nodes of a PostgreSQL store share one simulation: a runtime change made through any
node's control API applies on every node (a node started later too), an unseeded cluster
draws one seed for all, and a message meets the same fate whichever node takes it."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
import trio

import esme_client
from esme_client.errors import SmppStatusError
from smsc.app import RunningSmsc, run
from smsc.config import (
    AccountConfig,
    Config,
    ConfigError,
    ControlConfig,
    FaultMixConfig,
    NetworkConfig,
    OutcomeMixConfig,
    PostgresqlConfig,
    SimulationConfig,
)
from smsc.pdu.constants import CommandStatus

pytestmark = pytest.mark.usefixtures("postgresql_server")
HANDSET = "4915100000002"


def node_config(make_config: Any, dsn: str, timeout: float = 3.0, **sections: Any) -> Config:
    config: Config = make_config(control=ControlConfig(port=0), **sections)
    store = dataclasses.replace(config.store, kind="postgresql", dsn=dsn,
                                postgresql=PostgresqlConfig(node_timeout=timeout))
    return dataclasses.replace(config, store=store)


def http(running: RunningSmsc) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}")


async def applied_on(node: RunningSmsc, seq: int) -> dict[str, Any]:
    """/v1/simulation on `node`, once it has applied change `seq`."""
    async with http(node) as client:
        answer = await client.get("/v1/simulation", params={"applied": seq})
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    return state


async def test_a_change_through_any_node_applies_on_every_node_and_on_one_started_later(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(30):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        async with http(a) as on_a, http(b) as on_b, \
                esme_client.connect("127.0.0.1", b.smpp_port) as esme:
            changed = await on_a.patch(f"/v1/handsets/{HANDSET}", json={"state": "offline"})
            assert changed.status_code == 200 and changed.json()["state"] == "offline"
            seq = (await applied_on(a, 0))["applied"]
            assert (await applied_on(b, seq))["applied"] >= seq
            assert (await on_b.get(f"/v1/handsets/{HANDSET}")).json()["state"] == "offline"

            # a message taken by B waits for the handset A's API switched off ...
            sent = await esme.submit_text(HANDSET, "waits", registered_delivery=1)
            assert b.simulation is not None
            while b.simulation.handset(HANDSET).waiting == 0:
                await b.committer.wait_committed()
            # ... and goes out on B when A's API switches it on again
            assert (await on_a.patch(f"/v1/handsets/{HANDSET}",
                                     json={"state": "online"})).status_code == 200
            [receipt] = await esme.wait_receipts(sent, timeout=10)
            assert receipt.delivered

            # an outage started on B is seen on A; a fault mix set on A throttles B's submits
            assert (await on_b.post("/v1/networks/default/outage")).json()["out"]
            faults = await on_a.put("/v1/networks/default/faults", json={"throttled": 1.0})
            assert faults.status_code == 200
            seq = (await applied_on(a, 0))["applied"]
            await applied_on(b, seq)
            assert (await on_a.get("/v1/networks/default")).json()["out"]
            with pytest.raises(SmppStatusError) as refused:
                await esme.submit_text("4915100000003", "throttled")
            assert refused.value.status == CommandStatus.ESME_RTHROTTLED

            # a node started now reads the changes made before it
            c: RunningSmsc = await start_smsc(config)
            async with http(c) as on_c:
                network = (await on_c.get("/v1/networks/default")).json()
                assert network["out"] and network["faults"]["throttled"] == 1.0
                assert (await on_c.get(f"/v1/handsets/{HANDSET}")).json()["overridden"]
                # a reset through it: everything back to the configuration on every node
                assert (await on_c.post("/v1/reset")).status_code == 200
                seq = (await applied_on(c, 0))["applied"]
            for node, client in ((a, on_a), (b, on_b)):
                await applied_on(node, seq)
                network = (await client.get("/v1/networks/default")).json()
                assert not network["out"] and network["faults"]["throttled"] == 0
                assert not (await client.get(f"/v1/handsets/{HANDSET}")).json()["overridden"]
            assert (await esme.submit_text("4915100000003", "accepted")).message_id
    with psycopg.connect(postgresql_dsn) as db:  # the reset left only itself in the log
        assert db.execute("SELECT key FROM simulation_changes").fetchall() == [("reset",)]


async def test_a_change_the_store_does_not_take_is_503_and_applied_nowhere(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(15):
        a: RunningSmsc = await start_smsc(config)
        async with http(a) as on_a:
            with psycopg.connect(postgresql_dsn, autocommit=True) as db:
                db.execute("ALTER TABLE simulation_changes RENAME TO elsewhere")
                try:
                    refused = await on_a.patch(f"/v1/handsets/{HANDSET}",
                                               json={"state": "offline"})
                finally:
                    db.execute("ALTER TABLE elsewhere RENAME TO simulation_changes")
            assert refused.status_code == 503
            assert refused.json()["error"].startswith("the store did not take the change")
            assert (await on_a.get(f"/v1/handsets/{HANDSET}")).json()["state"] == "online"
            assert (await on_a.patch(f"/v1/handsets/{HANDSET}",
                                     json={"state": "offline"})).json()["state"] == "offline"


async def test_a_change_made_while_a_node_listens_again_reaches_it_when_it_is_back(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """Polls 20 s apart: within seconds only if the node reads the changes when its LISTEN
    connection is made again."""
    config = node_config(make_config, postgresql_dsn, timeout=60.0)
    with trio.fail_after(15):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        with psycopg.connect(postgresql_dsn, autocommit=True) as db:
            cut = db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE query LIKE 'LISTEN %'").fetchall()
        assert len(cut) == 2
        async with http(a) as on_a, http(b) as on_b:
            started = await on_a.post("/v1/networks/default/outage", json={"duration": 3600})
            assert started.status_code == 200
            await applied_on(b, (await applied_on(a, 0))["applied"])
            network = (await on_b.get("/v1/networks/default")).json()
            assert network["out"]  # and it ends at the same time on both nodes
            ends = [datetime.fromisoformat(n["outage_ends_at"])
                    for n in (started.json(), network)]
            assert abs((ends[1] - ends[0]).total_seconds()) < 0.001


async def test_an_unseeded_cluster_shares_one_seed_and_a_different_configured_one_is_refused(
        make_config: Any, nursery: trio.Nursery, postgresql_dsn: str) -> None:
    unseeded = node_config(make_config, postgresql_dsn)
    with trio.fail_after(30):
        async with trio.open_nursery() as first_run:
            a: RunningSmsc = await first_run.start(run, unseeded)
            b: RunningSmsc = await first_run.start(run, unseeded)
            seed = (await applied_on(a, 0))["seed"]
            assert (await applied_on(b, 0))["seed"] == seed
            assert a.simulation is not None and b.simulation is not None
            # and one time base: handset schedules and scheduled outages agree
            first = a.simulation.clock.wall_of(a.simulation.started)
            assert abs((b.simulation.clock.wall_of(b.simulation.started) - first
                        ).total_seconds()) < 0.001
            other = int(seed) ^ 1
            seeded = node_config(make_config, postgresql_dsn,
                                 simulation=SimulationConfig(seed=other))
            with pytest.raises(ConfigError) as refused:
                await nursery.start(run, seeded)
            assert refused.value.key == "simulation.seed"
            assert (f"{other} differs from the seed of the nodes running"
                    in refused.value.problem)
            with psycopg.connect(postgresql_dsn) as db:  # the refused node is gone again
                assert len(db.execute("SELECT id FROM nodes").fetchall()) == 2
            a.shutdown.set()
            b.shutdown.set()
        # a new run: its first node's configured seed is the cluster's
        c: RunningSmsc = await nursery.start(run, seeded)
        assert (await applied_on(c, 0))["seed"] == str(other)
        c.shutdown.set()


MIXED = NetworkConfig(
    latency=0.01, latency_distribution="exponential",
    outcomes=OutcomeMixConfig(delivered=5, undeliverable=2, rejected=1, absent=2),
    faults=FaultMixConfig(throttled=0.1, system_error=0.05),
)
MESSAGES = 40


async def run_traffic(nodes: list[RunningSmsc], dsn: str) -> dict[str, Any]:
    """Distinct messages sent in turn through `nodes`; per destination, how it ended:
    refused with a status, or its final state and attempts."""
    outcomes: dict[str, Any] = {}
    with psycopg.connect(dsn) as db:
        before = [i for (i,) in db.execute("SELECT id FROM messages").fetchall()]
    async with contextlib.AsyncExitStack() as stack:  # one client per node (its receipts)
        clients = [await stack.enter_async_context(
            esme_client.connect("127.0.0.1", node.smpp_port)) for node in nodes]
        sent = []
        for n in range(MESSAGES):
            destination = f"49151{n:08d}"
            client = clients[n % len(clients)]
            try:
                sent.append((client, await client.submit_text(
                    destination, f"message {n}", registered_delivery=1)))
            except SmppStatusError as error:
                outcomes[destination] = error.status_name
        for client, result in sent:
            await client.wait_receipts(result, timeout=20)
    with psycopg.connect(dsn) as db:
        for destination, state, attempts in db.execute(
                "SELECT destination_addr, state, attempts FROM messages "
                "WHERE NOT (id = ANY(%s))", (before,)).fetchall():
            outcomes[destination] = (state, attempts)
    return outcomes


@pytest.mark.parametrize("seed", [None, 42])
async def test_the_same_traffic_meets_the_same_fates_on_one_node_or_split_over_two(
        make_config: Any, start_smsc: Any, postgresql_dsn: str, seed: int | None) -> None:
    """Unseeded, the nodes agree only through the seed they share; a reset between the runs
    (through the other node) counts the copies anew on both."""
    config = node_config(make_config, postgresql_dsn, networks=(MIXED,),
                         accounts=(AccountConfig(),), simulation=SimulationConfig(seed=seed))
    config = dataclasses.replace(config, store=dataclasses.replace(
        config.store, retry_schedule=(0.02,)))
    with trio.fail_after(60):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        alone = await run_traffic([a], postgresql_dsn)
        async with http(b) as on_b:
            assert (await on_b.post("/v1/reset")).status_code == 200
        assert b.simulation is not None
        await applied_on(a, b.simulation.applied)
        split = await run_traffic([a, b], postgresql_dsn)
    assert split == alone
    ended = {outcome if isinstance(outcome, str) else outcome[0]
             for outcome in alone.values()}
    assert len(ended) >= 4  # refusals and several final states, so a wrong seed shows
    assert any(not isinstance(o, str) and o[1] > 1 for o in alone.values())  # retried
