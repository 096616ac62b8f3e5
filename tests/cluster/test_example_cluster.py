"""configs/examples/cluster.toml as docs/cluster.md says to run it: three `smsc serve`
processes on one PostgreSQL database named by libpq's environment."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio
from psycopg.conninfo import conninfo_to_dict

import esme_client
from tests.processes import SMSC, launched, ports

pytestmark = pytest.mark.usefixtures("postgresql_server")
EXAMPLE = Path(__file__).parents[2] / "configs" / "examples" / "cluster.toml"


async def test_three_nodes_of_the_example_share_receipts_mo_and_sessions(
        postgresql_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in conninfo_to_dict(postgresql_dsn).items():
        monkeypatch.setenv(f"PG{key.upper()}" if key != "dbname" else "PGDATABASE", str(value))
    command = [*SMSC, "--config", EXAMPLE, "--port", 0, "--http-port", 0]
    with trio.fail_after(60):
        async with launched(command) as one, launched(command) as two, \
                launched(command) as three:
            (smpp_1, _), (_, http_2), (smpp_3, _) = [
                await ports(node) for node in (one, two, three)]
            async with esme_client.connect("127.0.0.1", smpp_3, mode="receiver") as rx, \
                    esme_client.connect("127.0.0.1", smpp_1, mode="transmitter") as tx:
                results = [await tx.submit_text("4915100000002", f"three nodes {n}",
                                                registered_delivery=1) for n in range(10)]
                for result in results:  # submitted on the first node, receipted on the third
                    await rx.wait_receipts(result)
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_2}") as api:
                    created = await api.post("/v1/mo", json={
                        "source_addr": "4915100000001", "destination_addr": "4242",
                        "text": "via two"})
                    assert created.status_code == 201
                    mo = await rx.next_delivery()  # injected on the second node
                    assert mo.receipt is None and mo.text == "via two"
                    sessions = (await api.get("/v1/sessions")).json()
                listed = sessions["sessions"] if isinstance(sessions, dict) else sessions
                # the second node has none of its own: both are listed with their nodes
                assert sorted((s["bind_type"], s["node"]["name"]) for s in listed) == sorted(
                    [("receiver", f"SMSC@127.0.0.1:{smpp_3}"),
                     ("transmitter", f"SMSC@127.0.0.1:{smpp_1}")]), listed
