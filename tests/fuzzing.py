"""A live-server fuzzer: mutated PDUs of every kind over real sockets, beside a probe ESME
that measures how long its own requests wait meanwhile.

Used by tests/interop/test_fuzz.py (a bounded run in the suite) and benchmarks/fuzz.py
(longer runs whose figures go to docs/hardening.md). Every mutated connection must end with
the server either answering in valid SMPP framing or closing it; the probe must keep getting
answers; the server must not crash.
"""

from __future__ import annotations

import contextlib
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from smsc.pdu import (
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CancelSm,
    DataSm,
    DeliverSmResp,
    EnquireLink,
    FrameBuffer,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    ReplaceSm,
    SmeDest,
    SubmitMulti,
    SubmitSm,
    Tag,
    Unbind,
    decode,
    encode,
)
from smsc.pdu.errors import PduError

from .esme import Esme

SEEDS: tuple[Callable[[], Pdu], ...] = (
    lambda: BindTransmitter(system_id="smppclient1", password="password"),
    lambda: BindReceiver(system_id="smppclient1", password="password"),
    lambda: BindTransceiver(system_id="smppclient1", password="password"),
    lambda: SubmitSm(destination_addr="4915100000001", short_message=b"hello",
                     registered_delivery=1),
    lambda: SubmitSm(destination_addr="4915100000002",
                     tlvs={Tag.message_payload: b"x" * 300, Tag.user_message_reference: 7}),
    lambda: SubmitMulti(dest_address=(SmeDest(1, 1, "4915100000003"),
                                      SmeDest(1, 1, "4915100000004")), short_message=b"m"),
    lambda: DataSm(destination_addr="4915100000005", tlvs={Tag.message_payload: b"d"}),
    lambda: QuerySm(message_id="1", source_addr=""),
    lambda: CancelSm(message_id="1"),
    lambda: ReplaceSm(message_id="1", short_message=b"r"),
    lambda: EnquireLink(),
    lambda: Unbind(),
    lambda: DeliverSmResp(),
    lambda: GenericNack(),
    lambda: Outbind(system_id="x"),
    lambda: AlertNotification(source_addr="1", esme_addr="2"),
)
"""One well-formed PDU of every kind an ESME might send (and some it may not)."""


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of an encoded PDU, keeping it framed by its own length field or
    not (a lying command_length is one of the mutations)."""
    body = bytearray(data)
    kind = rng.randrange(9)
    if kind == 7 and rng.random() >= 0.2:
        kind = 0  # losing framing ends the connection: rarer than the rest
    if kind == 0:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] = rng.randrange(256)
    elif kind == 1:  # truncate the body
        body = body[:rng.randint(16, len(body))]
    elif kind == 2:  # grow the body with noise
        body += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == 3:  # many TLVs, some repeated
        for _ in range(rng.randint(1, 200)):
            tag = rng.choice((0x0204, 0x1400, rng.randrange(0x10000)))
            value = bytes(rng.randrange(256) for _ in range(rng.randint(0, 4)))
            body += struct.pack(">HH", tag, len(value)) + value
    elif kind == 4:  # another command id
        body[4:8] = struct.pack(">I", rng.choice((rng.randrange(1 << 32), 0x80000004,
                                                 0x00000009, 0x00000021, 0x800000FF)))
    elif kind == 5:  # a status on a request
        body[8:12] = struct.pack(">I", rng.randrange(1 << 32))
    elif kind == 6:  # C-strings without their NUL
        body = bytearray(b if b else 0x41 for b in body[:16]) + bytearray(
            b if b else 0x41 for b in body[16:])
    elif kind == 7:  # a lying command_length (framing lost)
        struct.pack_into(">I", body, 0, rng.choice((0, 15, 16, len(body) + 1, 1 << 31,
                                                    rng.randrange(1 << 32))))
        return bytes(body)
    else:  # splice two PDUs
        other = encode(rng.choice(SEEDS)())
        cut = rng.randint(16, len(body))
        body = body[:cut] + bytearray(other[16:])
    if kind != 7:
        struct.pack_into(">I", body, 0, len(body))
    return bytes(body)


@dataclass
class FuzzReport:
    sent: int = 0
    """Mutated PDUs written."""
    answers: int = 0
    """PDUs the server sent back on the fuzzed connections (all well framed)."""
    closed_by_server: int = 0
    connections: int = 0
    probe_latencies: list[float] = field(default_factory=list)
    """Seconds each probe request waited for its response."""

    @property
    def probe_max(self) -> float:
        return max(self.probe_latencies, default=0.0)

    def probe_quantile(self, q: float) -> float:
        ordered = sorted(self.probe_latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def fuzz_connection(port: int, rng: random.Random, count: int, report: FuzzReport,
                          limit: float) -> None:
    """`count` mutated PDUs, most after a valid bind, over as many connections as it takes:
    when the server closes one (framing lost, a refused bind), the rest go over a new one.
    Every PDU the server sends back must be framed SMPP."""
    left = count
    with trio.move_on_after(limit):
        while left > 0:
            batch = min(left, rng.randint(5, 40))
            left -= batch
            await _one_connection(port, rng, batch, report)


async def _one_connection(port: int, rng: random.Random, count: int,
                          report: FuzzReport) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    report.connections += 1
    frames = FrameBuffer(max_command_length=1 << 20)
    try:
        if rng.random() < 0.9 and not await _bind(stream, frames):
            return
        out = bytearray()
        for index in range(count):
            seed = rng.choice(SEEDS)()
            if isinstance(seed, Unbind) and rng.random() < 0.9:
                seed = EnquireLink()  # an unbind ends the connection: rarer than the rest
            seed.sequence_number = index + 2
            out += mutate(encode(seed), rng)
        report.sent += count
        try:
            await stream.send_all(bytes(out))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        while True:
            with trio.move_on_after(0.2) as quiet:
                try:
                    data = await stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
            if quiet.cancelled_caught:
                return  # answered all it is going to: we hang up
            if not data:
                report.closed_by_server += 1
                return
            frames.feed(data)
            for frame in frames.pop_all():
                # our codec may be stricter than what the server echoes back in a
                # generic_nack's header; framing is what must hold
                with contextlib.suppress(PduError):
                    decode(frame)
                report.answers += 1
    finally:
        await stream.aclose()


async def _bind(stream: trio.SocketStream, frames: FrameBuffer) -> bool:
    """Bind as a real ESME does: the request, then its answer before anything else (the
    SMSC accepts nothing longer than a bind before it has answered one)."""
    await stream.send_all(encode(BindTransceiver(system_id="smppclient1",
                                                 password="password", sequence_number=1)))
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return False
        frames.feed(data)
        if frames.pop_all():
            return True


async def probe(port: int, report: FuzzReport, stop: trio.Event, interval: float) -> None:
    """A well-behaved ESME submitting beside the fuzzers; every request must be answered."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    esme = Esme(stream)
    with trio.fail_after(10):
        await esme.bind("transmitter")
    index = 0
    while not stop.is_set():
        index += 1
        started = trio.current_time()
        with trio.fail_after(10):
            response = await esme.request(SubmitSm(destination_addr="4915100000099",
                                                   short_message=b"probe %d" % index))
        assert response.command_status == 0, response
        report.probe_latencies.append(trio.current_time() - started)
        await trio.sleep(interval)
    await stream.aclose()


async def run_fuzz(port: int, *, seed: int, connections: int, per_connection: int,
                   parallel: int = 8, limit: float = 10.0,
                   probe_interval: float = 0.02) -> FuzzReport:
    """Fuzz a running SMSC on `port`; returns what happened (raises if the probe fails)."""
    rng = random.Random(seed)
    report = FuzzReport()
    stop = trio.Event()
    gate = trio.Semaphore(parallel)

    async def one(connection_seed: int) -> None:
        async with gate:
            await fuzz_connection(port, random.Random(connection_seed), per_connection,
                                  report, limit)

    async with trio.open_nursery() as outer:
        outer.start_soon(probe, port, report, stop, probe_interval)
        async with trio.open_nursery() as fuzzers:
            for _ in range(connections):
                fuzzers.start_soon(one, rng.randrange(1 << 32))
        stop.set()
    return report
