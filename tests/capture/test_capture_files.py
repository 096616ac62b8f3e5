"""Capture files of a running SMSC: every PDU of two bound ESMEs, both directions, as JSON lines
and as pcap read back by Wireshark's SMPP dissector (tshark); a full disk stops only the
capture."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio

from smsc.app import run
from smsc.config import AccountConfig, Config, LoggingConfig
from smsc.pdu import Outbind, SubmitSm, Unbind, encode
from smsc.pdu.constants import Tag

from ..esme import Esme

SECRET_TEXT = b"my one-time code 424242"
ACCOUNTS = (("smppclient1", "password"), ("other", "secret"))


async def two_esmes_traffic(config: Config) -> list[int]:
    """Run the SMSC with `config`; two ESMEs bind, submit (one with a receipt) and unbind;
    returns the ESMEs' local ports. Returns after the SMSC has stopped."""
    ports = []
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        for index, (system_id, password) in enumerate(ACCOUNTS):
            stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
            ports.append(stream.socket.getsockname()[1])
            esme = Esme(stream)
            with trio.fail_after(10):
                await esme.bind("transceiver", system_id=system_id, password=password)
                await esme.request(SubmitSm(destination_addr=f"491510000000{index}",
                                            short_message=SECRET_TEXT))
                await esme.request(SubmitSm(destination_addr=f"491520000000{index}",
                                            tlvs={Tag.message_payload: SECRET_TEXT},
                                            registered_delivery=1))
                await esme.next_request()  # its receipt (answered by the Esme)
            await stream.aclose()
        running.shutdown.set()
    return ports


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_json_lines_hold_every_pdu_of_both_sessions(make_config: Any,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    ports = await two_esmes_traffic(make_config(logging=LoggingConfig(capture=str(path))))
    records = read_jsonl(path)
    expected = Counter({("in", "bind_transceiver"): 1, ("out", "bind_transceiver_resp"): 1,
                        ("in", "submit_sm"): 2, ("out", "submit_sm_resp"): 2,
                        ("out", "deliver_sm"): 1, ("in", "deliver_sm_resp"): 1})
    for session, port, (system_id, _) in zip((1, 2), ports, ACCOUNTS, strict=True):
        mine = [r for r in records if r["session"] == session]
        assert {r["peer"] for r in mine} == {f"127.0.0.1:{port}"}
        assert Counter((r["direction"], r["command"]) for r in mine) == expected
        assert mine[0]["command"] == "bind_transceiver" and mine[0]["system_id"] is None
        assert {r["system_id"] for r in mine[1:]} == {system_id}
        receipt = next(r for r in mine if r["command"] == "deliver_sm")
        assert receipt["fields"]["esm_class"] == 4 and receipt["status"] == 0
        assert receipt["fields"]["tlvs"]["receipted_message_id"]
        answer = next(r for r in mine if r["command"] == "submit_sm_resp")
        assert answer["fields"]["message_id"] and answer["hex"].startswith("000000")
    text = path.read_text()
    assert "secret" not in text and b"secret".hex() not in text
    assert SECRET_TEXT.hex() not in text and b"424242".hex() not in text
    assert {"time", "real", "session", "peer", "system_id", "direction", "command", "sequence",
            "status", "fields", "hex"} == set(records[0])
    assert records[0]["time"].endswith("+00:00")


async def test_log_texts_puts_the_texts_in(make_config: Any, tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    await two_esmes_traffic(make_config(logging=LoggingConfig(capture=str(path),
                                                              log_texts=True)))
    text = path.read_text()
    assert SECRET_TEXT.hex() in text and b"secret".hex() not in text


def tshark_or_skip() -> str:
    found = shutil.which("tshark")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark is required under CI (apt-get install tshark)")
        pytest.skip("tshark not installed")
    return found


async def test_a_pcap_capture_is_read_as_smpp_by_wireshark(make_config: Any,
                                                           tmp_path: Path) -> None:
    tshark = tshark_or_skip()
    path = tmp_path / "capture.pcap"
    config = make_config(logging=LoggingConfig(capture=str(path)))
    ports = await two_esmes_traffic(config)
    # the SMSC's port is not 2775: tell the dissector which one it is
    done = subprocess.run(
        [tshark, "-r", str(path), "-d", f"tcp.port=={ports[0]},smpp",
         "-d", f"tcp.port=={ports[1]},smpp", "-T", "fields", "-E", "separator=|",
         "-e", "tcp.srcport", "-e", "tcp.len", "-e", "smpp.command_id",
         "-e", "tcp.analysis.flags", "-e", "_ws.malformed", "-e", "_ws.expert.message"],
        capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("|") for line in done.stdout.splitlines()]
    with_data = [row for row in rows if int(row[1] or 0) > 0]
    assert with_data and all(row[2] for row in with_data), done.stdout
    assert not any(row[4] for row in rows), done.stdout  # nothing malformed
    assert not any(row[3] for row in rows), done.stdout  # no TCP analysis complaints
    commands = Counter(command for row in with_data for command in row[2].split(","))
    # per session: bind, 2 submit_sm, deliver_sm_resp (in); bind_resp, 2 resp, deliver_sm (out)
    assert commands == Counter({"0x00000009": 2, "0x80000009": 2, "0x00000004": 4,
                                "0x80000004": 4, "0x00000005": 2, "0x80000005": 2}), commands
    assert {int(row[0]) for row in with_data} >= set(ports)
    assert b"secret" not in path.read_bytes() and SECRET_TEXT not in path.read_bytes()


async def test_a_full_disk_stops_the_capture_not_the_smsc(
        make_config: Any, caplog: pytest.LogCaptureFixture) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    caplog.set_level(logging.INFO)
    await two_esmes_traffic(make_config(logging=LoggingConfig(capture="/dev/full")))
    stopped = [r for r in caplog.records if r.name == "smsc.capture"]
    assert len(stopped) == 1 and "capture to /dev/full stopped" in stopped[0].getMessage()


def test_an_unwritable_capture_file_is_a_config_error(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from smsc.cli import main

    config = tmp_path / "smsc.toml"
    target = tmp_path / "missing" / "capture.jsonl"
    config.write_text(f'[logging]\ncapture = "{target}"\n')
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{config}: logging.capture: cannot write {target}: No such file or directory"]
    assert main(["serve", "--capture", str(target)]) == 2
    assert capsys.readouterr().err.startswith("--capture: logging.capture: cannot write")


async def test_a_capture_that_falls_behind_stops_with_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from smsc.capture.sink import CaptureFile
    from smsc.clock import Clock
    from smsc.session import Role, SessionLimits, SmppSession

    capture = CaptureFile(tmp_path / "c.jsonl", clock=Clock(), texts=False, max_behind=3)
    capture.open()
    tap = capture.tap_for("127.0.0.1:1", "127.0.0.1:2")
    session = SmppSession(Role.SMSC, limits=SessionLimits(), now=0.0)
    pdu = encode(SubmitSm(sequence_number=1))
    for _ in range(10):  # nothing writes meanwhile: the writer task is not running
        tap(session, "in", pdu)
    await capture.flush()
    capture.close()
    stopped = [r.getMessage() for r in caplog.records if r.name == "smsc.capture"]
    assert capture.stopped and len(stopped) == 1 and "chunks waiting" in stopped[0]
    assert (tmp_path / "c.jsonl").read_bytes() == b""


async def test_an_outbind_session_is_captured_too(make_config: Any, tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    esme_port = listeners[0].socket.getsockname()[1]
    account = AccountConfig(outbind_host="127.0.0.1", outbind_port=esme_port,
                            outbind_password="smscpw", outbind_retry=0.2)
    config = make_config(accounts=(account,), logging=LoggingConfig(capture=str(path)))
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        sender = Esme(await trio.open_tcp_stream("127.0.0.1", running.smpp_port))
        with trio.fail_after(10):
            await sender.bind("transmitter")
            await sender.request(SubmitSm(destination_addr="4915100000002",
                                          registered_delivery=1))
            await sender.request(Unbind())
        await sender.stream.aclose()
        with trio.fail_after(10):
            incoming = await listeners[0].accept()
            esme = Esme(incoming)
            assert isinstance(await esme.next_request(), Outbind)
            await esme.bind("receiver")
            await esme.next_request()  # the receipt
        await incoming.aclose()
        await listeners[0].aclose()
        running.shutdown.set()
    called = [r for r in read_jsonl(path) if r["session"] == 2]
    assert [(r["direction"], r["command"]) for r in called[:4]] == [
        ("out", "outbind"), ("in", "bind_receiver"), ("out", "bind_receiver_resp"),
        ("out", "deliver_sm")]
    assert called[0]["peer"] == f"127.0.0.1:{esme_port}"
    assert called[0]["fields"]["password"] == "***" and b"smscpw".hex() not in path.read_text()
