"""The generator's lean parsing agrees with the codec; bench against the trivial responder."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from esme_client.loadgen import (
    BenchConfig,
    BenchStats,
    _Link,
    _Tracker,
    message_templates,
    receipt_id,
)
from smsc.pdu import DeliverSm, SubmitSm, Tag, decode, encode

ROOT = Path(__file__).resolve().parents[2]
addresses = st.text(alphabet="0123456789", max_size=20)


@given(source=addresses, destination=addresses, message_id=st.text(
    alphabet="0123456789abcdef", min_size=1, max_size=64), with_tlv=st.booleans(),
    schedule=st.sampled_from(["", "000001000000000R"]))
def test_receipt_id_reads_what_the_codec_reads(source: str, destination: str, message_id: str,
                                               with_tlv: bool, schedule: str) -> None:
    text = f"id:{message_id} sub:001 dlvrd:001 submit date:2601010000 done date:2601010000 " \
           "stat:DELIVRD err:000 text:hello"
    pdu = DeliverSm(source_addr=source, destination_addr=destination, esm_class=0x04,
                    schedule_delivery_time=schedule, short_message=text.encode(),
                    tlvs={Tag.receipted_message_id: message_id, Tag.message_state: 2}
                    if with_tlv else {})
    frame = encode(pdu)
    assert decode(frame).short_message == text.encode()  # type: ignore[attr-defined]
    assert receipt_id(frame) == (message_id.encode(), with_tlv, "DELIVERED")


def test_mobile_originated_and_sme_acknowledgements_are_not_receipts() -> None:
    frame = encode(DeliverSm(source_addr="4915100000001", destination_addr="4242",
                             short_message=b"id:1234 looks like a receipt"))
    assert receipt_id(frame) is None
    for esm_class in (0x08, 0x10):
        frame = encode(DeliverSm(source_addr="4915100000001", destination_addr="4242",
                                 esm_class=esm_class, short_message=b"yes",
                                 tlvs={Tag.receipted_message_id: "1234"}))
        assert receipt_id(frame) is None


def test_destinations_count_up_keeping_their_width() -> None:
    config = BenchConfig(destination_addr="4915100000998", destinations=3)
    numbers = [decode(message_templates(config, i)[0]).destination_addr  # type: ignore[attr-defined]
               for i in range(3)]
    assert numbers == ["4915100000998", "4915100000999", "4915100001000"]


def test_templates_are_valid_submit_sm_parts() -> None:
    config = BenchConfig(size=300, encoding="ucs2", receipts=True)
    parts = [decode(t) for t in message_templates(config)]
    assert len(parts) == 5
    assert all(isinstance(p, SubmitSm) and p.registered_delivery == 1 and p.esm_class == 0x40
               for p in parts)


async def test_bench_against_the_trivial_responder_with_receipts() -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            responder = await nursery.start(lambda task_status=trio.TASK_STATUS_IGNORED: (
                trio.run_process([sys.executable, str(ROOT / "benchmarks" / "responder.py"),
                                  "--port", "0", "--receipts"], stdout=subprocess.PIPE,
                                 check=False, task_status=task_status)))
            line = b""
            while b"\n" not in line:
                chunk = await responder.stdout.receive_some(1024)
                assert chunk
                line += chunk
            port = line.split(b"SMPP on 127.0.0.1:")[1].split()[0].decode()
            done = await trio.run_process(
                [sys.executable, "-m", "esme_client", "bench", "--port", port, "-n", "3000",
                 "-c", "3", "-p", "2", "-w", "200", "--receipts", "--json"],
                capture_stdout=True, capture_stderr=True, check=False)
            responder.terminate()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["statuses"] == {"ESME_ROK": 3000}
    assert report["receipts"] == 3000 and report["receipts_missing"] == 0
    assert report["unanswered"] == report["unmatched"] == 0


async def test_paced_connections_send_evenly_through_each_period(autojump_clock: Any) -> None:
    """Four connections at 4 submit_sm/s in all: each sends once a second, a quarter of a
    second after the one before it, and a connection that bound late keeps its phase."""
    config = BenchConfig(connections=4, rate=4.0, window=10)
    arrivals: list[tuple[int, float]] = []

    async def record(n: int, stream: trio.abc.ReceiveStream) -> None:
        while await stream.receive_some():
            arrivals.append((n, trio.current_time()))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        for n in range(4):
            ours, theirs = trio.testing.memory_stream_pair()
            link = _Link(ours, config, 3, 1.0, math.inf, BenchStats(), lambda: None,
                         _Tracker(), first_slot=start + n / config.rate)
            nursery.start_soon(record, n, theirs)
            if n == 3:
                await trio.sleep(1.5)  # binds after its first two slots have passed
            nursery.start_soon(link.sender)
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    seen = {(n, round(at - start, 3)) for n, at in arrivals}
    expected = {(n, n / 4 + k) for n in range(3) for k in range(3)} | {(3, 1.75), (3, 2.75),
                                                                      (3, 3.75)}
    assert seen == expected
