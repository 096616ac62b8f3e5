"""`store.postgresql.managed = true`: `smsc serve` runs a PostgreSQL server of its own in its
data directory (one for all of `--workers N`), keeps it across restarts and stops it at exit."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import trio

import esme_client
from esme_client.results import QueryResult
from smsc.cli import main
from smsc.cluster import managed
from smsc.pdu.constants import MessageState
from tests.postgresql import missing_reason
from tests.processes import SMSC, launched

CONFIG = '[store]\nkind = "postgresql"\n[store.postgresql]\nmanaged = true\n'

needs_postgresql = pytest.mark.skipif(missing_reason() is not None,
                                      reason=missing_reason() or "")


@pytest.fixture
def directory() -> Iterator[Path]:
    """A temporary directory the postgres user can reach too (as root, PostgreSQL runs as
    postgres, and pytest's tmp_path is closed to it)."""
    path = Path(tempfile.mkdtemp(prefix="smsc-managed-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def postgres_processes(data: Path) -> list[int]:
    """The processes of the PostgreSQL server whose cluster is `data` (the postmaster names
    it on its command line; its children are counted by parent)."""
    postmasters = set()
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents[int(entry.name)] = parent
        if b"postgres" in command[0] and str(data).encode() in command:
            postmasters.add(int(entry.name))
    return sorted(pid for pid, parent in parents.items()
                  if pid in postmasters or parent in postmasters)


@needs_postgresql
async def test_managed_server_serves_keeps_its_messages_and_stops(directory: Path) -> None:
    config = directory / "smsc.toml"
    config.write_text(CONFIG)
    data = directory / "var" / "postgresql" / "data"
    command = [*SMSC, "--config", config, "--data-dir", directory / "var", "--port", 0,
               "--http-port", 0]
    with trio.fail_after(90):
        async with launched(command) as smsc:
            banner = (await smsc.stdout.lines(1)).decode()
            assert f"store postgresql managed in {directory / 'var' / 'postgresql'}" in banner
            port = int(re.findall(r"SMPP on 127\.0\.0\.1:(\d+)", banner)[0])
            assert postgres_processes(data)
            async with esme_client.connect("127.0.0.1", port, mode="transceiver") as esme:
                delivered = await esme.submit_text("4915100000001", "managed",
                                                   registered_delivery=1)
                (receipt,) = await esme.wait_receipts(delivered)
                assert receipt.stat == "DELIVRD"
                later = await esme.submit_text("4915100000002", "tomorrow",
                                               schedule_delivery_time="000001000000000R")
            smsc.process.send_signal(signal.SIGINT)
            assert await smsc.finish() == 0, smsc.stderr.text
        assert postgres_processes(data) == []
        made = (data / "PG_VERSION").stat().st_mtime_ns

        async with launched(command) as smsc:  # the same cluster again
            banner = (await smsc.stdout.lines(1)).decode()
            port = int(re.findall(r"SMPP on 127\.0\.0\.1:(\d+)", banner)[0])
            async with esme_client.connect("127.0.0.1", port, mode="transceiver") as esme:
                (first,) = delivered.message_ids
                (second,) = later.message_ids
                assert (await esme.query(first)).state == MessageState.DELIVERED
                pending: QueryResult = await esme.query(second)
                assert pending.state in (MessageState.SCHEDULED, MessageState.ENROUTE)
            smsc.process.send_signal(signal.SIGINT)
            assert await smsc.finish() == 0, smsc.stderr.text
        assert (data / "PG_VERSION").stat().st_mtime_ns == made  # no second initdb
        assert postgres_processes(data) == []


@needs_postgresql
async def test_workers_share_one_managed_server(directory: Path) -> None:
    config = directory / "smsc.toml"
    config.write_text(CONFIG)
    data = directory / "var" / "postgresql" / "data"
    command = [*SMSC, "--config", config, "--data-dir", directory / "var", "--workers", 2,
               "--port", 0, "--http-port", 0]
    with trio.fail_after(90):
        async with launched(command) as smsc:
            banners = (await smsc.stdout.lines(2)).decode()
            (port,) = set(re.findall(r"SMPP on 127\.0\.0\.1:(\d+)", banners))
            postmasters = [pid for pid in postgres_processes(data)
                           if str(data) in Path(f"/proc/{pid}/cmdline").read_text()]
            assert len(postmasters) == 1  # one server for both
            dsn = f"host={directory / 'var' / 'postgresql'} user=smsc dbname=smsc"
            with psycopg.connect(dsn) as db:  # two nodes on it
                assert db.execute("SELECT count(*) FROM nodes").fetchone() == (2,)
            async with esme_client.connect("127.0.0.1", int(port), mode="transceiver") as esme:
                result = await esme.submit_text("4915100000001", "workers",
                                                registered_delivery=1)
                await esme.wait_receipts(result)
            smsc.process.send_signal(signal.SIGINT)
            assert await smsc.finish() == 0, smsc.stderr.text
        assert postgres_processes(data) == []


def test_managed_needs_the_postgresql_kind(tmp_path: Path) -> None:
    config = tmp_path / "smsc.toml"
    config.write_text('[store.postgresql]\nmanaged = true\n')
    done = subprocess.run([*SMSC, "--config", str(config), "--data-dir", str(tmp_path / "var")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (2, f"{config}: store.postgresql.managed: needs "
                                                 "store.kind = postgresql (not sqlite)\n")


def test_missing_binaries_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(managed, "binaries", lambda: None)  # (a machine without PostgreSQL)
    config = tmp_path / "smsc.toml"
    config.write_text(CONFIG)
    assert main(["serve", "--config", str(config), "--data-dir", str(tmp_path / "var")]) == 2
    line = capsys.readouterr().err
    assert line.startswith("smsc: store.postgresql.managed: needs PostgreSQL's initdb and "
                           "pg_ctl (not on PATH nor in /usr/lib/postgresql/*/bin")
    assert line.count("\n") == 1
    assert not (tmp_path / "var").exists()


@needs_postgresql
async def test_one_smsc_per_managed_server_and_a_crash_leaves_it_usable(
        directory: Path) -> None:
    config = directory / "smsc.toml"
    config.write_text(CONFIG)
    data = directory / "var" / "postgresql" / "data"
    command = [*SMSC, "--config", config, "--data-dir", directory / "var", "--port", 0,
               "--http-port", 0]
    with trio.fail_after(90):
        async with launched(command) as smsc:
            banner = (await smsc.stdout.lines(1)).decode()
            port = int(re.findall(r"SMPP on 127\.0\.0\.1:(\d+)", banner)[0])
            async with launched(command) as second:  # the same data directory: refused
                assert await second.finish() == 2
                assert second.stderr.text.startswith(
                    f"smsc: data directory {directory / 'var'} is in use by pid ")
            async with esme_client.connect("127.0.0.1", port, mode="transmitter") as esme:
                later = await esme.submit_text("4915100000002", "tomorrow",
                                               schedule_delivery_time="000001000000000R")
            smsc.process.kill()  # no shutdown: the server is left running
            await smsc.finish()
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        assert postmaster in postgres_processes(data)  # left running

        async with launched(command) as smsc:  # finds it running, and uses it
            banner = (await smsc.stdout.lines(1)).decode()
            port = int(re.findall(r"SMPP on 127\.0\.0\.1:(\d+)", banner)[0])
            async with esme_client.connect("127.0.0.1", port, mode="transmitter") as esme:
                (message_id,) = later.message_ids
                assert (await esme.query(message_id)).state in (MessageState.SCHEDULED,
                                                                MessageState.ENROUTE)
            assert postmaster in postgres_processes(data)  # the same server
            smsc.process.send_signal(signal.SIGINT)
            assert await smsc.finish() == 0, smsc.stderr.text
        assert postgres_processes(data) == []
