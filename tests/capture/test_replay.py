"""`esme replay`: a capture of chaotic traffic replayed against a fresh SMSC with the same
config and seed finds no differences; against a changed config it reports them (exit 1); a
bad file is exit 2."""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from esme_client.cli import main as esme_main
from esme_client.replay import passwords_from_toml, replay_capture
from smsc.app import run
from smsc.capture.formats import json_lines
from smsc.config import Config, LoggingConfig, OutcomeMixConfig, load_config
from smsc.pdu import BindTransceiver, SubmitSm, encode
from smsc.pdu.constants import CommandStatus
from smsc.session import ConnectionClosed, ResponseReceived

from ..esme import Esme

ROOT = Path(__file__).resolve().parent.parent.parent
CHAOS = ROOT / "configs" / "examples" / "chaos.toml"
SUBMITS = 30


def chaos_config(**logging: Any) -> Config:
    config = load_config(CHAOS)
    return dataclasses.replace(
        config,
        server=dataclasses.replace(config.server, port=0),
        control=dataclasses.replace(config.control, enabled=False, port=0),
        logging=dataclasses.replace(config.logging, **logging),
    )


def destinations() -> list[str]:
    """Numbers of the default (flaky) network, two of the always-failing handsets and two
    of the dead network, whose messages are still waiting for retries when the capture
    stops."""
    numbers = [f"4930123400{n:02d}" for n in range(SUBMITS - 4)]
    return [*numbers, "491520000001", "491520000002", "99900001", "99900002"]


async def chaos_traffic(config: Config) -> None:
    """Submits paced at 20/s with receipts asked for, all answers awaited (a slow fault
    answers after 8 s, a lost one never: at most 12 s), then the SMSC stops with retries in
    flight."""
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
        esme = Esme(stream)
        with trio.fail_after(10):
            await esme.bind("transceiver", system_id="smppclient1", password="password")
        sent = []
        for number in destinations():
            sent.append(await esme.send(SubmitSm(destination_addr=number, registered_delivery=1,
                                                 short_message=f"hi {number}".encode())))
            await trio.sleep(0.05)  # the traffic's pace, part of what is captured
        answered = 0
        with trio.move_on_after(12):
            while answered < len(sent):
                event = await esme.next_event()
                if isinstance(event, ConnectionClosed):
                    break
                answered += isinstance(event, ResponseReceived)
        running.shutdown.set()
        await stream.aclose()


@pytest.fixture(scope="module")
def chaos_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "chaos.jsonl"
    trio.run(chaos_traffic, chaos_config(capture=str(path), log_texts=True))
    return path


async def replay_against(config: Config, capture: Path) -> list[str]:
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        report = await replay_capture(capture, host="127.0.0.1", port=running.smpp_port,
                                      passwords=passwords_from_toml(CHAOS), wait=15)
        running.shutdown.set()
    assert report.requests >= SUBMITS + 1 and report.receipts > 0
    return report.differences


async def test_the_capture_shows_retries_in_flight(chaos_capture: Path) -> None:
    records = [json.loads(line) for line in chaos_capture.read_text().splitlines()]
    submits = [r for r in records if r["command"] == "submit_sm"]
    receipts = [r for r in records if r["command"] == "deliver_sm"]
    assert len(submits) == SUBMITS and 0 < len(receipts) < SUBMITS
    statuses = {r["status"] for r in records if r["command"] == "submit_sm_resp"}
    assert 0 in statuses


async def test_replaying_against_the_same_config_and_seed_finds_no_differences(
        chaos_capture: Path) -> None:
    assert await replay_against(chaos_config(), chaos_capture) == []


async def test_a_changed_seed_is_reported(chaos_capture: Path) -> None:
    config = chaos_config()
    changed = dataclasses.replace(config, simulation=dataclasses.replace(
        config.simulation, seed=config.simulation.seed + 1))
    found = await replay_against(changed, chaos_capture)
    assert found and all(line.startswith(("session ", "smppclient1 ")) for line in found)


async def test_the_command_exits_1_when_a_network_fails_even_fast(chaos_capture: Path) -> None:
    config = chaos_config()
    failing = dataclasses.replace(config, networks=tuple(
        dataclasses.replace(network, outcomes=OutcomeMixConfig(undeliverable=100.0))
        for network in config.networks))
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, failing)
        done = await trio.run_process(
            [sys.executable, "-m", "esme_client", "replay", str(chaos_capture),
             "--port", str(running.smpp_port), "--accounts", str(CHAOS), "--wait", "15",
             "--fast"],
            capture_stdout=True, capture_stderr=True, check=False)
        running.shutdown.set()
    assert done.returncode == 1, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines and any("stat=DELIVRD" in line and "stat=UNDELIV" in line for line in lines)
    assert "differences" in done.stderr.decode()


def test_a_bad_capture_file_is_exit_2(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"time": "2026-12-07T00:00:00+00:00", "session": 1}\n')
    assert esme_main(["replay", str(path)]) == 2
    assert f"{path}:1: not a capture record" in capsys.readouterr().err
    path.write_text("")
    assert esme_main(["replay", str(path)]) == 2
    assert esme_main(["replay", str(tmp_path / "missing.jsonl")]) == 2


def test_a_bind_without_a_password_is_exit_2(chaos_capture: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert esme_main(["replay", str(chaos_capture), "--port", "1"]) == 2
    assert "no password for system_id 'smppclient1'" in capsys.readouterr().err


def test_an_unreachable_server_is_exit_3(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.jsonl"
    bind = encode(BindTransceiver(system_id="acct", password="pw", sequence_number=1))
    path.write_text(json_lines(datetime.now(UTC), 1, "127.0.0.1:5", None, "in", [bind],
                               texts=False))
    with socket.socket() as probe:  # a port nothing listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        assert esme_main(["replay", str(path), "--port", str(port), "--password", "pw"]) == 3
    assert "session 1: cannot connect" in capsys.readouterr().err


async def test_a_refused_bind_is_refused_again(make_config: Any, tmp_path: Path) -> None:
    """The capture masks passwords: a bind it shows refused for its password is replayed
    with the masked one, the good ones with the password given."""
    path = tmp_path / "binds.jsonl"
    config = make_config(logging=LoggingConfig(capture=str(path), log_texts=True))
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        for password in ("wrong", "password"):
            async with await trio.open_tcp_stream("127.0.0.1", running.smpp_port) as stream:
                esme = Esme(stream)
                with trio.fail_after(10):
                    await esme.bind("transceiver", password=password)
                    if password == "password":
                        await esme.request(SubmitSm(destination_addr="4915100000002"))
        running.shutdown.set()
    statuses = [r["status"] for r in map(json.loads, path.read_text().splitlines())
                if r["command"] == "bind_transceiver_resp"]
    assert statuses == [CommandStatus.ESME_RINVPASWD, 0]
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, make_config())
        report = await replay_capture(path, host="127.0.0.1", port=running.smpp_port,
                                      default_password="password", fast=True, wait=10)
        running.shutdown.set()
    assert (report.sessions, report.requests, report.differences) == (2, 3, [])
