"""`esme replay`: a capture of chaotic traffic replayed against a fresh SMSC with the same
config and seed finds no differences; against a changed config it reports them (exit 1); a
bad file is exit 2."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from esme_client.cli import main as esme_main
from esme_client.replay import passwords_from_toml, plan_replay, read_capture, replay_capture
from smsc.app import run
from smsc.capture.formats import json_lines
from smsc.config import Config, LoggingConfig, OutcomeMixConfig, load_config
from smsc.pdu import BindTransceiver, SubmitSm, encode
from smsc.pdu.constants import CommandId, CommandStatus, Tag
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


def malformed(command_id: int, sequence: int, body: bytes) -> bytes:
    return (16 + len(body)).to_bytes(4, "big") + command_id.to_bytes(4, "big") + bytes(4) + (
        sequence.to_bytes(4, "big") + body)


async def test_malformed_id_requests_are_replayed_as_captured(make_config: Any,
                                                              tmp_path: Path) -> None:
    """A query_sm, cancel_sm and replace_sm the codec cannot read (a broken ESME's) are
    replayed as captured and refused alike: a truncated query_sm with generic_nack
    (ESME_RINVCMDLEN) again."""
    path = tmp_path / "broken.jsonl"
    config = make_config(logging=LoggingConfig(capture=str(path), log_texts=True))
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        async with await trio.open_tcp_stream("127.0.0.1", running.smpp_port) as stream:
            esme = Esme(stream)
            with trio.fail_after(10):
                await esme.bind("transceiver", password="password")
                await esme.request(SubmitSm(destination_addr="4915100000002"))
                await stream.send_all(b"".join(
                    malformed(command_id, 100 + n, body) for n, (command_id, body) in enumerate(
                        ((CommandId.query_sm, b"abc"), (CommandId.cancel_sm, b"abc"),
                         (CommandId.replace_sm, b"abc"), (CommandId.query_sm, b"12\0")))))
                for _ in range(4):
                    await esme.next_event()
        running.shutdown.set()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    refused = [r for r in records if r["sequence"] >= 100]
    assert [r["fields"] for r in refused if r["direction"] == "in"] == [None] * 4
    assert all(r["status"] for r in refused if r["direction"] == "out")
    assert refused[-1]["command"] == "generic_nack"
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, make_config())
        with trio.fail_after(20):
            report = await replay_capture(path, host="127.0.0.1", port=running.smpp_port,
                                          default_password="password", fast=True, wait=10)
        running.shutdown.set()
    assert (report.requests, report.answers, report.differences) == (6, 6, [])


BIND_RECORD = json_lines(datetime(2026, 12, 7, tzinfo=UTC), 1, "127.0.0.1:5", None, "in",
                         [encode(BindTransceiver(system_id="acct", password="pw",
                                                 sequence_number=1))], texts=True)


def submit_record(**changes: Any) -> str:
    record = json.loads(json_lines(
        datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC), 1, "127.0.0.1:5", "acct", "in",
        [encode(SubmitSm(destination_addr="4915100000002", sequence_number=2,
                         tlvs={Tag.message_payload: b"hi"}))], texts=True, real=1.0))
    for name, value in changes.items():
        if name == "tlvs":
            record["fields"]["tlvs"] = value
        else:
            record[name] = value
    return json.dumps(record)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"fields": [1]}, "fields is list, not an object"),
    ({"fields": "x"}, "fields is str, not an object"),
    ({"tlvs": "x"}, "tlvs is str, not an object"),
    ({"hex": "000000ff" + "00000004" + "00000000" + "00000002"},
     "command_length 255 but 16 octets of hex"),
    ({"hex": "00000010" + "00000004" + "00000000" + "00000002" + "00"},
     "command_length 16 but 17 octets of hex"),
    ({"real": "soon"}, "real 'soon' is not a number of seconds"),
    ({"session": "1"}, "session '1' is not a number"),
    ({"direction": None}, "direction None"),
    ({"hex": "0000"}, "hex shorter than a PDU header"),
])
def test_a_malformed_record_is_exit_2_naming_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any],
        problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(BIND_RECORD + submit_record(**changes) + "\n")
    with socket.socket() as probe:  # a port nothing listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        assert esme_main(["replay", str(path), "--port", str(port), "--password", "pw"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(f"{path}:2: not a capture record: {problem}")


def test_a_header_only_record_of_an_undecodable_pdu_is_read_at_its_length(
        tmp_path: Path) -> None:
    """Without the texts the capture holds an undecodable PDU's header only: the replay
    sends its body as `*` octets."""
    path = tmp_path / "nack.jsonl"
    octets = malformed(CommandId.query_sm, 2, b"abc")
    path.write_text(BIND_RECORD + json_lines(datetime(2026, 12, 7, tzinfo=UTC), 1, "p", "acct",
                                             "in", [octets], texts=False))
    header_only = json.loads(path.read_text().splitlines()[1])["hex"]
    assert header_only == octets[:16].hex()
    assert read_capture(path)[1].octets == octets[:16] + b"***"


def test_pacing_is_on_real_time_and_on_time_in_older_captures(tmp_path: Path) -> None:
    """`real` (real seconds) paces the replay; a capture without it is paced on `time`."""
    start = datetime(2026, 12, 7, tzinfo=UTC)
    submit = encode(SubmitSm(destination_addr="4915100000002", sequence_number=2))
    path = tmp_path / "paced.jsonl"
    lines = [json_lines(start, 1, "p", None, "in", [encode(BindTransceiver(
                 system_id="acct", password="pw", sequence_number=1))], texts=True, real=3.0),
             json_lines(start + timedelta(days=2), 1, "p", "acct", "in", [submit], texts=True,
                        real=3.5)]
    path.write_text("".join(lines))
    assert [step.at - plan.start for plan in plan_replay(read_capture(path)).sessions.values()
            for step in plan.steps] == [0.0, 0.5]
    path.write_text("".join(re.sub(r'"real": [0-9.]+, ', "", line) for line in lines))
    assert [step.at - plan.start for plan in plan_replay(read_capture(path)).sessions.values()
            for step in plan.steps] == [0.0, 172800.0]


async def test_a_capture_across_a_clock_advance_replays_at_its_real_pace(
        make_config: Any, tmp_path: Path) -> None:
    """Two days of simulated time advanced between two submits half a second apart: the
    replay waits the half second, not the two days."""
    path = tmp_path / "advanced.jsonl"
    config = make_config(logging=LoggingConfig(capture=str(path), log_texts=True))
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        async with await trio.open_tcp_stream("127.0.0.1", running.smpp_port) as stream:
            esme = Esme(stream)
            with trio.fail_after(10):
                await esme.bind("transceiver", password="password")
                await esme.request(SubmitSm(destination_addr="4915100000002"))
                await trio.sleep(0.5)  # the traffic's pace, part of what is captured
                await running.clock.advance(172800)
                await esme.request(SubmitSm(destination_addr="4915100000003"))
        running.shutdown.set()
    submits = [r for r in map(json.loads, path.read_text().splitlines())
               if r["command"] == "submit_sm"]
    times = [datetime.fromisoformat(r["time"]).timestamp() for r in submits]
    assert times[1] - times[0] >= 172800
    assert 0.5 <= submits[1]["real"] - submits[0]["real"] < 60
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, make_config())
        started = trio.current_time()
        with trio.fail_after(30):
            report = await replay_capture(path, host="127.0.0.1", port=running.smpp_port,
                                          default_password="password", wait=10)
        took = trio.current_time() - started
        running.shutdown.set()
    assert (report.requests, report.differences) == (3, [])
    assert took >= 0.5
