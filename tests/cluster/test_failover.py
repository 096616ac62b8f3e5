"""Two `smsc serve` processes on one PostgreSQL database: receipts and MO cross to the node
where the receiver is bound, and a node killed with messages in flight loses nothing."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest
import trio

import esme_client
from tests.processes import SMSC, launched, ports

pytestmark = pytest.mark.usefixtures("postgresql_server")


def write_config(tmp_path: Path, dsn: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(f"""
[store]
kind = "postgresql"
dsn = "{dsn}"
[store.postgresql]
node_timeout = 2.0
[[accounts]]
system_id = "smppclient1"
password = "password"
mo_addresses = ["4242"]
[[networks]]
name = "default"
latency = 1.0
""")
    return path


async def test_receipts_cross_nodes_and_survive_a_node_killed(
        tmp_path: Path, postgresql_dsn: str) -> None:
    config = write_config(tmp_path, postgresql_dsn)
    command = [*SMSC, "--config", config, "--port", 0, "--http-port", 0]
    with trio.fail_after(90):
        async with launched(command) as a, launched(command) as b:
            a_smpp, a_http = await ports(a)
            b_smpp, _ = await ports(b)
            async with esme_client.connect("127.0.0.1", b_smpp, mode="receiver") as rx:
                async with esme_client.connect("127.0.0.1", a_smpp, mode="transmitter",
                                               window=50) as tx:
                    crossing = [await tx.submit_text("4915100000002", f"to B {n}",
                                                     registered_delivery=1)
                                for n in range(20)]
                    for result in crossing:  # submitted on A, receipted on B
                        await rx.wait_receipts(result)
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{a_http}") as api:
                        created = await api.post("/v1/mo", json={
                            "source_addr": "4915100000001", "destination_addr": "4242",
                            "text": "STOP"})
                        assert created.status_code == 201
                    mo = await rx.next_delivery()
                    assert mo.receipt is None and mo.text == "STOP"
                    in_flight = [(await tx.submit_text("4915100000002", f"in flight {n}",
                                                       registered_delivery=1)).message_ids[0]
                                 for n in range(50)]
                    a.process.send_signal(signal.SIGKILL)  # acknowledged, attempts under way
                receipts: Counter[str] = Counter()
                while set(in_flight) - set(receipts):
                    delivery = await rx.next_delivery()
                    assert delivery.receipt is not None
                    receipts[delivery.receipt.message_id] += 1
                duplicates = sum(receipts.values()) - len(receipts)
                print(f"{len(in_flight)} messages in flight on the node killed: "
                      f"{duplicates} receipts twice")
                assert set(receipts) == set(in_flight)
                await b.stderr.until(b"took over dead node")
                assert await a.process.wait() == -signal.SIGKILL
                async with launched(command) as again:  # the dead node restarted
                    again_smpp, _ = await ports(again)
                    async with esme_client.connect("127.0.0.1", again_smpp,
                                                   mode="transmitter") as tx:
                        marker = await tx.submit_text("4915100000002", "after the restart",
                                                      registered_delivery=1)
                        while (delivery := await rx.next_delivery()).receipt is None or \
                                delivery.receipt.message_id != marker.message_ids[0]:
                            assert delivery.receipt is not None  # (no MO sent again)
                            receipts[delivery.receipt.message_id] += 1
                    again.process.send_signal(signal.SIGINT)
                    assert await again.finish() == 0, again.stderr.text
                # nothing acknowledged was sent again once the survivor had it all
                assert sum(receipts.values()) - len(receipts) == duplicates
    with psycopg.connect(postgresql_dsn) as db:
        states = db.execute("SELECT state, count(*) FROM messages WHERE id = ANY(%s) "
                            "GROUP BY state", ([int(i, 16) for i in in_flight],)).fetchall()
    assert states == [(2, len(in_flight))]  # every one DELIVERED
