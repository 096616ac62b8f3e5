"""`smsc serve --workers N`: N processes on one SMPP port (SO_REUSEPORT) and one PostgreSQL
store, one node each; refused for a store the workers could not share."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import psycopg
import pytest
import trio

import esme_client
from tests.processes import SMSC, launched


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_workers_need_a_shared_store(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "smsc.toml"
    config.write_text(f'[store]\nkind = "{kind}"\n')
    done = subprocess.run([*SMSC, "--config", str(config), "--workers", "2", "--port", "0",
                           "--data-dir", str(tmp_path / "var")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == (f"smsc: --workers 2 needs a store the workers share: "
                           f"store.kind = postgresql (not {kind})\n")
    assert not (tmp_path / "var").exists()


@pytest.mark.usefixtures("postgresql_server")
async def test_two_workers_share_the_port_and_receipts_cross_between_them(
        tmp_path: Path, postgresql_dsn: str) -> None:
    config = tmp_path / "smsc.toml"
    config.write_text(f'[store]\nkind = "postgresql"\ndsn = "{postgresql_dsn}"\n'
                      "[store.postgresql]\nnode_timeout = 3.0\n")
    with trio.fail_after(60):
        command = [*SMSC, "--config", config, "--workers", 2, "--port", 0, "--http-port", 0]
        async with launched(command) as smsc:
            banners = (await smsc.stdout.lines(2)).decode()
            ports = set(re.findall(r"SMPP on 127\.0\.0\.1:(\d+)", banners))
            assert len(ports) == 1, banners  # one port, two processes
            (http,) = set(re.findall(r"dashboard http://127\.0\.0\.1:(\d+)", banners))
            port = int(ports.pop())
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}") as api, \
                    AsyncExitStack() as clients:

                async def on_first(mode: str) -> int:
                    sessions = (await api.get("/v1/status")).json()["sessions"]
                    return sum(s["bind_type"] == mode for s in sessions)

                rx = await clients.enter_async_context(
                    esme_client.connect("127.0.0.1", port, mode="receiver"))
                rx_on_first = await on_first("receiver") == 1
                for _ in range(40):  # a transmitter on the other process than the receiver
                    before = await on_first("transmitter")
                    tx = await clients.enter_async_context(
                        esme_client.connect("127.0.0.1", port, mode="transmitter"))
                    if (await on_first("transmitter") > before) != rx_on_first:
                        break
                else:
                    raise AssertionError("40 connections, all on one process")
                results = [await tx.submit_text("4915100000002", f"crossing {n}",
                                                registered_delivery=1) for n in range(10)]
                for result in results:
                    await rx.wait_receipts(result)
                with psycopg.connect(postgresql_dsn) as db:  # two nodes, bound alike
                    assert db.execute("SELECT count(*) FROM nodes").fetchone() == (2,)
                # the first worker's API shows both workers' sessions and metrics
                sessions = (await api.get("/v1/sessions")).json()["sessions"]
                counted = Counter((s["node"]["id"], s["bind_type"]) for s in sessions)
                assert len({node for node, _ in counted}) == 2
                metrics = (await api.get("/metrics")).text
                for (node, mode), count in counted.items():
                    assert (f'smsc_bound_sessions{{account="smppclient1",mode="{mode}",'
                            f'node="{node}"}} {count:.1f}') in metrics
            smsc.process.send_signal(signal.SIGINT)
            assert await smsc.finish() == 0, smsc.stderr.text



def test_workers_on_a_port_in_use_is_one_line_before_any_worker_starts(
        tmp_path: Path) -> None:
    config = tmp_path / "smsc.toml"  # (no such server: a worker would say it cannot connect)
    config.write_text(f'[store]\nkind = "postgresql"\ndsn = "host={tmp_path} port=1"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*SMSC, "--config", str(config), "--workers", "2",
                               "--port", str(port), "--http-port", "0"],
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == f"smsc: cannot listen on SMPP 127.0.0.1:{port}: address already in use\n"


def test_workers_on_a_database_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    """Said by the supervisor, which connects once, before any worker starts (each worker
    would connect, and say it, if they started). What listens at the database's socket
    counts the connections and hangs up on each a second later (time enough for every
    worker started to connect before the first to fail stops the others)."""
    config = tmp_path / "smsc.toml"
    config.write_text(f'[store]\nkind = "postgresql"\ndsn = "host={tmp_path} port=1"\n')
    connections = 0

    def hang_up(listener: socket.socket) -> None:
        nonlocal connections
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            connections += 1
            threading.Timer(1.0, connection.close).start()

    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / ".s.PGSQL.1"))
        listener.listen(16)
        thread = threading.Thread(target=hang_up, args=(listener,), daemon=True)
        thread.start()
        done = subprocess.run([*SMSC, "--config", str(config), "--workers", "4", "--port",
                               "0", "--http-port", "0"],
                              capture_output=True, text=True, timeout=60, check=False)
        listener.shutdown(socket.SHUT_RDWR)
    thread.join(10)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"smsc: postgresql host={tmp_path} port=1: cannot connect ("), line
    assert connections == 1
