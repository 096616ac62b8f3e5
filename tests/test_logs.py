"""Logs: session context on every record, JSON lines, the PDU trace, and what is redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from smsc.capture.formats import redacted
from smsc.config import LoggingConfig
from smsc.logs import configure_logging, describe, pdu_tracer
from smsc.pdu import BindTransmitter, DeliverSm, SubmitSm, decode, encode
from smsc.pdu.constants import Tag
from smsc.session import Role, SessionLimits, SmppSession

from .esme import Esme

SECRET_TEXT = b"my one-time code 424242"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    trace_level = logging.getLogger("smsc.pdu").level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("smsc.pdu").setLevel(trace_level)


async def traffic(make_config: Any, start_smsc: Any, logging_config: LoggingConfig) -> str:
    out = io.StringIO()
    configure_logging(logging_config, out)
    running = await start_smsc(make_config(logging=logging_config))
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    esme = Esme(stream)
    with trio.fail_after(10):
        await esme.bind("transceiver", system_id="other", password="secret")
        await esme.request(SubmitSm(destination_addr="4915100000001",
                                    short_message=SECRET_TEXT))
        await esme.request(SubmitSm(destination_addr="4915100000002",
                                    tlvs={Tag.message_payload: SECRET_TEXT},
                                    registered_delivery=1))
        await esme.next_request()  # its receipt (answered by the Esme)
    await stream.aclose()
    running.shutdown.set()
    with trio.fail_after(10):
        for link in list(running.links):  # each logs its close from its own task
            await link.wait_closed()
    assert "closed" in out.getvalue()
    return out.getvalue()


async def test_json_lines_carry_the_session(make_config: Any, start_smsc: Any,
                                            restore_logging: None) -> None:
    text = await traffic(make_config, start_smsc, LoggingConfig(json=True))
    records = [json.loads(line) for line in text.splitlines()]
    bound = next(r for r in records if "bound as" in r["message"])
    assert bound["system_id"] == "other" and bound["bind_mode"] == "transceiver"
    assert bound["peer"].startswith("127.0.0.1:") and bound["level"] == "info"
    assert {"time", "logger"} <= set(bound)
    assert not any(r["logger"] == "smsc.pdu" for r in records)  # no trace unless asked


async def test_human_lines_name_the_session(make_config: Any, start_smsc: Any,
                                            restore_logging: None) -> None:
    text = await traffic(make_config, start_smsc, LoggingConfig())
    line = next(line for line in text.splitlines() if "bound as" in line)
    assert " other transceiver] " in line and " INFO smsc.service [127.0.0.1:" in line


async def test_pdu_trace_hides_passwords_and_texts(make_config: Any, start_smsc: Any,
                                                   restore_logging: None) -> None:
    text = await traffic(make_config, start_smsc, LoggingConfig(json=True, pdu_trace=True))
    traced = [json.loads(line) for line in text.splitlines()]
    traced = [r for r in traced if r["logger"] == "smsc.pdu"]
    directions = {(r["direction"], r["pdu"].split()[0]) for r in traced}
    assert {("in", "bind_transceiver"), ("out", "bind_transceiver_resp"), ("in", "submit_sm"),
            ("out", "submit_sm_resp"), ("out", "deliver_sm"), ("in", "deliver_sm_resp")
            } <= directions
    assert all(r["hex"] and r["level"] == "debug" for r in traced)
    assert "secret" not in text and b"secret".hex() not in text
    assert "password='***'" in text
    assert SECRET_TEXT.decode() not in text and SECRET_TEXT.hex() not in text
    assert f"short_message=<{len(SECRET_TEXT)} octets>" in text
    assert f"message_payload=<{len(SECRET_TEXT)} octets>" in text


async def test_log_texts_shows_them(make_config: Any, start_smsc: Any,
                                    restore_logging: None) -> None:
    config = LoggingConfig(json=True, pdu_trace=True, log_texts=True)
    text = await traffic(make_config, start_smsc, config)
    assert SECRET_TEXT.hex() in text and repr(SECRET_TEXT) in text
    assert b"secret".hex() not in text  # passwords stay hidden even then


def test_redacted_keeps_the_shape() -> None:
    bind = BindTransmitter(system_id="acct", password="hunter2", sequence_number=7)
    masked = decode(encode(redacted(bind, texts=False)))
    assert masked.password == "*******" and masked.system_id == "acct"  # type: ignore[attr-defined]
    assert len(encode(redacted(bind, texts=False))) == len(encode(bind))
    assert "hunter2" not in describe(bind, texts=True)
    submit = SubmitSm(destination_addr="1", short_message=b"abc")
    assert redacted(submit, texts=True) is submit


def test_command_line_flags_turn_the_options_on() -> None:
    from smsc.cli import build_parser, with_logging_flags
    from smsc.config import Config

    args = build_parser().parse_args(["serve", "--log-json", "--pdu-trace", "--log-level",
                                      "debug"])
    config = with_logging_flags(Config(), args).logging
    assert (config.json, config.pdu_trace, config.log_texts, config.level) == (
        True, True, False, "debug")
    plain = build_parser().parse_args(["serve"])
    assert with_logging_flags(Config(), plain).logging == LoggingConfig()


def test_the_trace_reads_pdus_across_chunks_and_names_the_session(
        restore_logging: None) -> None:
    out = io.StringIO()
    config = LoggingConfig(json=True, pdu_trace=True)
    configure_logging(config, out)
    make_tap = pdu_tracer(config)
    assert make_tap is not None
    tap = make_tap("127.0.0.1:40000", "127.0.0.1:2775")
    session = SmppSession(Role.SMSC, limits=SessionLimits(), now=0.0)
    session.system_id = "acct"
    receipt = DeliverSm(source_addr="4915100000002", destination_addr="4915100000001",
                        esm_class=4, short_message=b"id:1 stat:DELIVRD",
                        tlvs={Tag.receipted_message_id: "1"}, sequence_number=9)
    wire = encode(receipt)
    tap(session, "out", wire[:20])  # a PDU split over two writes is traced once, whole
    assert "smsc.pdu" not in out.getvalue()
    tap(session, "out", wire[20:])
    record = json.loads(out.getvalue().splitlines()[-1])
    assert record["pdu"] == describe(receipt, texts=False)
    assert record["hex"] == wire.hex().replace(b"id:1 stat:DELIVRD".hex(), "2a" * 17)
    assert (record["peer"], record["system_id"]) == ("127.0.0.1:40000", "acct")


async def test_the_trace_tells_two_bound_esmes_apart(make_config: Any, start_smsc: Any,
                                                     restore_logging: None) -> None:
    """submit_sm_resp and deliver_sm go out from the committer's and the dispatcher's tasks,
    not the connection's: their trace lines still name the session."""
    out = io.StringIO()
    config = LoggingConfig(json=True, pdu_trace=True)
    configure_logging(config, out)
    running = await start_smsc(make_config(logging=config))
    peers = {}
    streams = []
    for system_id, password in (("smppclient1", "password"), ("other", "secret")):
        stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
        streams.append(stream)
        host, port = stream.socket.getsockname()[:2]
        peers[system_id] = f"{host}:{port}"
        esme = Esme(stream)
        with trio.fail_after(10):
            await esme.bind("transceiver", system_id=system_id, password=password)
            await esme.request(SubmitSm(destination_addr="4915100000001", registered_delivery=1))
            await esme.next_request()  # the receipt
    for stream in streams:
        await stream.aclose()
    traced = [json.loads(line) for line in out.getvalue().splitlines()]
    traced = [r for r in traced if r["logger"] == "smsc.pdu"]
    for system_id, peer in peers.items():
        mine = {r["pdu"].split()[0] for r in traced
                if r.get("peer") == peer and r.get("system_id") == system_id}
        assert {"submit_sm", "submit_sm_resp", "deliver_sm", "deliver_sm_resp"} <= mine
    assert all(r.get("peer") for r in traced)
