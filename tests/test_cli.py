"""`smsc serve` as a process: its banner, signals, and one line for an address in use."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import trio
import trustme

import esme_client
from smsc.pdu import BindTransmitter, CommandStatus, decode, encode
from tests.processes import launched

SMSC = [sys.executable, "-m", "smsc"]


def serve(tmp_path: Path, *flags: str | int) -> list[str | int]:
    return [*SMSC, "serve", "--data-dir", tmp_path / "var", *flags]


def test_version() -> None:
    done = subprocess.run([*SMSC, "--version"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0
    assert re.fullmatch(r"smsc \d+\.\d+\.\d+\S*\n", done.stdout)


def test_an_address_in_use_is_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flags, what in ((("--port", port, "--http-port", 0), "SMPP"),
                            (("--port", 0, "--http-port", port), "HTTP")):
            done = subprocess.run([str(part) for part in serve(tmp_path, *flags)],
                                  capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 2, done.stderr
            assert "Traceback" not in done.stderr
            assert done.stderr.splitlines()[-1] == (
                f"smsc: cannot listen on {what} 127.0.0.1:{port}: address already in use")


def test_a_smpp_port_in_use_stops_it_before_the_data_directory_or_the_store(
        tmp_path: Path) -> None:
    """Nothing is opened before the listener is bound: no data directory made, no
    database connected to (this dsn's server does not exist: connecting would be the error)."""
    config = tmp_path / "smsc.toml"
    config.write_text('[store]\nkind = "postgresql"\n'
                      f'dsn = "host={tmp_path} port=1 dbname=none connect_timeout=5"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for flags in ((), ("--config", config)):
            done = subprocess.run([str(part) for part in serve(tmp_path, "--port", port,
                                                               "--http-port", 0, *flags)],
                                  capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 2, done.stderr
            assert done.stderr.splitlines()[-1] == (
                f"smsc: cannot listen on SMPP 127.0.0.1:{port}: address already in use")
            assert not (tmp_path / "var").exists()


async def test_sighup_is_logged_and_ignored_and_ctrl_c_exits_0(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with launched(serve(tmp_path, "--port", 0, "--http-port", 0)) as server:
            banner = await server.stdout.until(b"\n")
            found = re.search(rb"SMPP on 127\.0\.0\.1:(\d+)", banner)
            assert found, banner
            server.process.send_signal(signal.SIGHUP)
            await server.stderr.until(b"SIGHUP ignored")
            async with esme_client.connect("127.0.0.1", int(found[1])) as client:
                await client.ping()  # still serving
            server.process.send_signal(signal.SIGINT)
            assert await server.finish() == 0, server.stderr.text


async def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    """The first waits for every session's unbind_resp; a peer that never answers would hold
    the shutdown for its whole grace, the second signal ends it."""
    with trio.fail_after(60):
        async with launched(serve(tmp_path, "--port", 0, "--http-port", 0)) as server:
            banner = await server.stdout.until(b"\n")
            found = re.search(rb"SMPP on 127\.0\.0\.1:(\d+)", banner)
            assert found, banner
            stream = await trio.open_tcp_stream("127.0.0.1", int(found[1]))
            await stream.send_all(encode(BindTransmitter(
                system_id="smppclient1", password="password", sequence_number=1)))
            response = b""
            while len(response) < 16 or len(response) < int.from_bytes(response[:4]):
                response += await stream.receive_some(4096)
            assert decode(response).command_status == CommandStatus.ESME_ROK
            server.process.send_signal(signal.SIGTERM)
            await server.stderr.until(b"SIGTERM: shutting down")
            server.process.send_signal(signal.SIGINT)  # the unbind is never answered
            assert await server.finish() == 128 + signal.SIGINT, server.stderr.text
            assert "stopping at once" in server.stderr.text
            await stream.aclose()


async def test_banner_names_the_tls_port_and_the_dashboard(tmp_path: Path) -> None:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    config = tmp_path / "tls-only.toml"
    config.write_text(f'[server.tls]\nenabled = true\nport = 0\ncertfile = "{certfile}"\n'
                      f'keyfile = "{keyfile}"\nplain_enabled = false\n')
    with trio.fail_after(60):
        async with launched(serve(tmp_path, "--config", config, "--http-port", 0)) as server:
            banner = (await server.stdout.until(b"\n")).decode()
            found = re.fullmatch(
                r"smsc: SMPP over TLS on 127\.0\.0\.1:(\d+), dashboard (http://127\.0\.0\.1:\d+)/"
                r", metrics (http://127\.0\.0\.1:\d+)/metrics; store sqlite in (.+)\n", banner)
            assert found, banner
            tls_port, dashboard, metrics, data_dir = found.groups()
            assert int(tls_port) > 0 and dashboard == metrics
            assert data_dir == str(tmp_path / "var")
            context = ssl.create_default_context()  # the TLS port answers SMPP
            authority.configure_trust(context)
            async with esme_client.connect("127.0.0.1", int(tls_port),
                                           ssl_context=context) as client:
                await client.ping()
            scraped = await trio.to_thread.run_sync(httpx.get, f"{metrics}/metrics")
            assert scraped.status_code == 200 and "smsc_" in scraped.text
            page = await trio.to_thread.run_sync(httpx.get, f"{dashboard}/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            server.process.send_signal(signal.SIGTERM)
            assert await server.finish() == 0, server.stderr.text
