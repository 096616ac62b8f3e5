"""The load generator behind `esme bench`: N connections, each keeping a window of submit_sm.

The hot path does not build PDU objects: each connection encodes its submit_sm parts once,
patches the sequence number into a batch buffer with `struct.pack_into`, and reads the
responses' headers with one `struct.unpack_from` each. Everything else that arrives
(deliver_sm receipts, enquire_link, unbind, generic_nack) goes through the normal codec.
Every response is matched to its request by sequence number, so the window is exact and
every status is counted; a response that matches nothing is counted as unmatched.
"""

from __future__ import annotations

import math
import os
import resource
import ssl
import struct
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from esme_client.compose import choose_data_coding, part_pdus, split_message
from smsc.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandId,
    CommandStatus,
    DecodeError,
    EnquireLinkResp,
    MessageState,
    Pdu,
    Tag,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from smsc.pdu.concat import Scheme
from smsc.pdu.receipt_text import parse_receipt_text

HEADER = struct.Struct(">IIII")
SEQUENCE = struct.Struct(">I")
TLV_HEADER = struct.Struct(">HH")
_STATE_NAMES = {int(state): state.name for state in MessageState}
_STATE_BY_WORD = {state.stat_word: state.name for state in MessageState}
_DELIVER_SM_RESP_HEAD = struct.pack(">III", 17, 0x80000005, 0)
MAX_SEQUENCE = 0x7FFFFFFF
RECEIVE_SIZE = 1 << 18
_SUBMIT_SM_RESP = int(CommandId.submit_sm_resp)
_DELIVER_SM = int(CommandId.deliver_sm)
_GENERIC_NACK = int(CommandId.generic_nack)
_BIND_CLASSES: dict[str, type[Pdu]] = {
    "transmitter": BindTransmitter, "receiver": BindReceiver, "transceiver": BindTransceiver,
}


@dataclass(frozen=True, slots=True)
class BenchConfig:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "smppclient1"
    password: str = field(default="password", repr=False)
    mode: str = "transceiver"
    ssl_context: ssl.SSLContext | None = None
    connections: int = 1
    window: int = 100
    rate: float = 0.0
    """Target submit_sm per second over all connections; 0 sends as fast as the window allows."""
    count: int = 10000
    """submit_sm PDUs to send over all connections (0: no limit, use duration)."""
    duration: float = 0.0
    """Seconds to send for (0: until count is reached)."""
    size: int = 40
    """Characters per message; longer than one part means concatenated parts."""
    encoding: str = "gsm"
    receipts: bool = False
    """Ask for a receipt (registered_delivery 1) and wait for it."""
    receipt_timeout: float = 30.0
    response_timeout: float = 30.0
    source_addr: str = "4242"
    destination_addr: str = "4915100000002"
    destinations: int = 1
    """Messages go to this many numbers in turn, counting up from destination_addr."""


@dataclass(slots=True)
class BenchStats:
    """One process's figures; `merge` adds another's."""

    submitted: int = 0
    responses: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    resp_latency: array[float] = field(default_factory=lambda: array("d"))
    receipts: int = 0
    receipt_latency: array[float] = field(default_factory=lambda: array("d"))
    unmatched: int = 0
    unanswered: int = 0
    receipt_states: dict[str, int] = field(default_factory=dict)
    """Receipts by final state (DELIVERED, UNDELIVERABLE, ...)."""
    receipts_expected: int = 0
    receipts_missing: int = 0
    receipts_unknown: int = 0
    """Receipts for ids none of our submits got (e.g. left over from an earlier run)."""
    errors: list[str] = field(default_factory=list)
    started: float = math.inf
    """time.monotonic() of the first submit_sm (comparable across processes on Linux)."""
    last_response: float = 0.0
    last_receipt: float = 0.0
    cpu: float = 0.0
    """CPU seconds the generator used (user + system)."""
    pending_receipts: dict[bytes, float] = field(default_factory=dict)
    """Submitted ids still owed a receipt → submit time (time.perf_counter())."""
    foreign_receipts: list[tuple[bytes, float]] = field(default_factory=list)

    def merge(self, other: BenchStats) -> None:
        self.submitted += other.submitted
        self.responses += other.responses
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.resp_latency.extend(other.resp_latency)
        self.receipts += other.receipts
        self.receipt_latency.extend(other.receipt_latency)
        self.unmatched += other.unmatched
        self.unanswered += other.unanswered
        self.receipts_expected += other.receipts_expected
        for state, n in other.receipt_states.items():
            self.receipt_states[state] = self.receipt_states.get(state, 0) + n
        self.pending_receipts.update(other.pending_receipts)
        self.foreign_receipts.extend(other.foreign_receipts)
        self.errors.extend(other.errors)
        self.started = min(self.started, other.started)
        self.last_response = max(self.last_response, other.last_response)
        self.last_receipt = max(self.last_receipt, other.last_receipt)
        self.cpu += other.cpu


def destination(config: BenchConfig, index: int) -> str:
    """The index-th destination: destination_addr counted up, keeping its width."""
    base = config.destination_addr
    if index == 0 or not base.isdigit():
        return base
    return str(int(base) + index).zfill(len(base))[-len(base):]


MAX_TEMPLATES = 1000
"""Distinct destinations pre-encoded per connection (more repeat the cycle)."""


def message_templates(config: BenchConfig, index: int = 0) -> list[bytes]:
    """The encoded submit_sm parts of the benchmark's message to the index-th destination
    (sequence number 0)."""
    text = ("Your code is 123456. " * (config.size // 21 + 1))[: config.size]
    if config.encoding == "ucs2":
        text = ("Ваш код 123456. " * (config.size // 16 + 1))[: config.size]
    data_coding = choose_data_coding(text, config.encoding)
    parts = split_message(text, data_coding, scheme=Scheme.UDH8, reference=1)
    pdus = part_pdus(parts, data_coding, {
        "source_addr": config.source_addr, "destination_addr": destination(config, index),
        "registered_delivery": 1 if config.receipts else 0}, {})
    return [encode(pdu) for pdu in pdus]


FIELDS = 6
"""Counter slots per process: submitted, responses, matched receipts, receipts expected,
receipts received (matched or not), and 1 once the process has all its responses."""


class Counters:
    """Live totals, a process's own or shared between processes (a multiprocessing Array).

    They feed the progress bar and tell every process when the receipts owed to all of them
    are in (the SMSC may hand a receipt to any of the account's connections).
    """

    def __init__(self, store: Any = None, base: int = 0) -> None:
        self._store = store if store is not None else [0] * FIELDS
        self._base = base

    def set(self, *values: int) -> None:
        store, base = self._store, self._base
        for offset, value in enumerate(values):
            store[base + offset] = value

    def totals(self) -> list[int]:
        store = self._store
        values = [store[i] for i in range(len(store))]
        return [sum(values[k::FIELDS]) for k in range(FIELDS)]

    def read(self) -> tuple[int, int, int]:
        totals = self.totals()
        return totals[0], totals[1], totals[2]

    @property
    def processes(self) -> int:
        return len(self._store) // FIELDS


STOP_GRACE = 5.0
"""Seconds a stopped run still waits for the answers to the submit_sm in flight."""


class Stop:
    """Ends a run early (Ctrl-C, SIGTERM): sending stops at the next batch, the answers in
    flight get STOP_GRACE seconds, receipts are no longer waited for, every connection unbinds.

    Call it from the run's trio thread; the first call counts.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self.event = trio.Event()
        self._callbacks: list[Callable[[], None]] = []

    def __call__(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        self.event.set()
        for callback in list(self._callbacks):
            callback()

    def when_stopped(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    @contextmanager
    def bounded(self, seconds: float, grace: float = 0.0) -> Iterator[trio.CancelScope]:
        """A wait of at most `seconds` that a stop cuts to `grace` seconds from then."""
        scope = trio.CancelScope(deadline=trio.current_time() + seconds)

        def shorten() -> None:
            scope.deadline = min(scope.deadline, trio.current_time() + grace)

        if self.reason is not None:
            shorten()
        self._callbacks.append(shorten)
        try:
            with scope:
                yield scope
        finally:
            self._callbacks.remove(shorten)


class _Tracker:
    """One process's receipt bookkeeping, shared by its connections."""

    def __init__(self) -> None:
        self.links: list[_Link] = []
        """Every connection that bound; when all have closed nothing more can come."""
        self.submitted_at: dict[bytes, float] = {}
        self.foreign: dict[bytes, float] = {}
        """Receipts for ids this process did not submit (another process's connection)."""
        self.expected = 0
        self.received = 0
        self.answered = False
        """Every connection of this process has all its responses (or gave up)."""


class _Link:
    """One benchmark connection: a sender task and a receiver task over one stream."""

    def __init__(self, stream: trio.abc.Stream, config: BenchConfig, quota: int,
                 rate: float, deadline: float, stats: BenchStats,
                 on_progress: Callable[[], None], tracker: _Tracker,
                 first_slot: float = 0.0, stop: Stop | None = None) -> None:
        self.stream = stream
        self.stop = stop if stop is not None else Stop()
        self.config = config
        self.quota = quota
        self.rate = rate
        self.first_slot = first_slot
        """With a rate: when this connection's first submit_sm is due (its phase)."""
        self.deadline = deadline
        self.stats = stats
        self.on_progress = on_progress
        self.templates = message_templates(config)
        self.messages = [b"".join(message_templates(config, i))
                         for i in range(min(config.destinations, MAX_TEMPLATES))]
        self.next_message = 0
        self.sent_at: dict[int, float] = {}
        self.tracker = tracker
        self.leftover = b""
        self.sequence = 1
        self.sending_done = False
        self.room = trio.Event()
        self.finished = trio.Event()
        self.sent_all = trio.Event()
        self.out_lock = trio.StrictFIFOLock()
        self.closed = False
        """The connection cannot carry more: the SMSC closed or unbound it, or a write was
        cut short."""
        self.stalled = False
        """A submit_sm went unanswered for response_timeout: sending stopped."""

    async def send(self, data: bytes | bytearray) -> None:
        async with self.out_lock:
            await self.stream.send_all(data)

    def _take_sequence(self) -> int:
        sequence = self.sequence
        self.sequence = sequence % MAX_SEQUENCE + 1
        return sequence

    async def bind(self) -> None:
        """Bind; whatever follows the bind_resp in the same read is kept for the receiver."""
        request = _BIND_CLASSES[self.config.mode](
            system_id=self.config.system_id, password=self.config.password,  # type: ignore[call-arg]
            sequence_number=self._take_sequence())
        await self.send(encode(request))
        data = b""
        while len(data) < 16 or len(data) < HEADER.unpack_from(data)[0]:
            chunk = await self.stream.receive_some(RECEIVE_SIZE)
            if not chunk:
                raise ConnectionError("the SMSC closed the connection during bind")
            data += chunk
        length = HEADER.unpack_from(data)[0]
        response = decode(data[:length])
        if response.command_status != CommandStatus.ESME_ROK:
            raise ConnectionError(f"bind refused: {_status_name(response.command_status)}")
        self.leftover = data[length:]

    def _schedule_start(self) -> float:
        """The first slot of this connection's schedule: its phase, or when it bound late,
        the next slot of that phase (never a burst to catch up)."""
        now = trio.current_time()
        start = self.first_slot
        if not self.rate or start >= now:
            return start if self.rate else now
        return start + math.ceil((now - start) * self.rate) / self.rate

    async def sender(self) -> None:
        config = self.config
        templates = self.templates
        parts = len(templates)
        window = config.window
        threshold = max(parts, min(window // 8, 64)) if not self.rate else parts
        sent_at = self.sent_at
        stats = self.stats
        pack_into = SEQUENCE.pack_into
        started = self._schedule_start()
        if stats.started == math.inf:
            stats.started = time.monotonic()
        stopping = self.stop.event
        sent = 0
        while not (self.closed or self.stalled or stopping.is_set()):
            remaining = self.quota - sent if self.quota else 1 << 62
            if remaining <= 0 or trio.current_time() >= self.deadline:
                break
            room = window - len(sent_at)
            if room < threshold:
                self.room = trio.Event()
                await self.room.wait()
                continue
            batch = min(room, remaining, 4096)
            if self.rate:
                allowed = math.floor((trio.current_time() - started) * self.rate) + parts - sent
                if allowed < parts:  # the next message's slot has not come yet
                    with trio.move_on_at(started + sent / self.rate):
                        await stopping.wait()
                    continue
                batch = min(batch, allowed)
            messages = max(1, batch // parts)
            lengths = [len(t) for t in templates]
            if len(self.messages) == 1:
                buffer = bytearray(self.messages[0] * messages)
            else:
                cycle, first = self.messages, self.next_message
                buffer = bytearray(b"".join(
                    [cycle[(first + n) % len(cycle)] for n in range(messages)]))
                self.next_message = (first + messages) % len(cycle)
            now = trio.current_time()
            offset = 0
            for _ in range(messages):
                for length in lengths:
                    sequence = self.sequence
                    self.sequence = sequence % MAX_SEQUENCE + 1
                    pack_into(buffer, offset + 12, sequence)
                    sent_at[sequence] = now
                    offset += length
            sent += messages * parts
            stats.submitted += messages * parts
            try:
                await self.send(buffer)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
                stats.errors.append(f"send failed: {error!r}")
                self.closed = True
            except trio.Cancelled:
                self.closed = True  # perhaps cut mid-PDU: no unbind can follow
                raise
        self.sending_done = True
        self.sent_all.set()
        if not self.sent_at:
            self.finished.set()

    async def watchdog(self) -> None:
        """Stop sending once the oldest submit_sm in flight has waited response_timeout (a
        full window would otherwise wait for room for ever). Looks a few times per timeout,
        so the hot path pays nothing for it."""
        timeout = self.config.response_timeout
        sent_at = self.sent_at
        while True:
            await trio.sleep(max(timeout / 4, 0.01))
            oldest = next(iter(sent_at.values()), None)  # in the order they were sent
            if oldest is not None and trio.current_time() - oldest >= timeout:
                self.stalled = True
                self.room.set()
                self.finished.set()
                return

    async def receiver(self) -> None:
        stats = self.stats
        sent_at = self.sent_at
        tracker = self.tracker
        submitted_at = tracker.submitted_at
        foreign = tracker.foreign
        track = self.config.receipts
        statuses = stats.statuses
        resp_latency = stats.resp_latency.append
        unpack_from = HEADER.unpack_from
        pack_sequence = SEQUENCE.pack
        pending = self.leftover
        ok = 0
        answers: list[bytes] = []
        while True:
            answered_before = ok
            responses_before = stats.responses
            try:
                data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                if not self.finished.is_set() or (track and submitted_at):  # while owed
                    stats.errors.append("the SMSC closed the connection")
                self.closed = True
                break
            view = pending + data if pending else data
            pending = b""
            end = len(view)
            pos = 0
            now = trio.current_time()
            while end - pos >= 16:
                length, command_id, status, sequence = unpack_from(view, pos)
                if length < 16 or length > 65536:
                    stats.errors.append(f"framing lost: command_length {length}")
                    self.closed = True
                    break
                if end - pos < length:
                    break
                if command_id == _SUBMIT_SM_RESP:
                    started = sent_at.pop(sequence, None)
                    if started is None:
                        stats.unmatched += 1
                    else:
                        resp_latency(now - started)
                        if status:
                            statuses[status] = statuses.get(status, 0) + 1
                            stats.responses += 1
                        else:
                            ok += 1
                            if track:
                                key = bytes(view[pos + 16 : pos + length - 1])
                                tracker.expected += 1
                                early = foreign.pop(key, None) if foreign else None
                                if early is None:
                                    submitted_at[key] = started
                                else:  # its receipt came first, on another connection
                                    stats.receipt_latency.append(early - started)
                                    stats.receipts += 1
                elif command_id == _DELIVER_SM:
                    answers.append(_DELIVER_SM_RESP_HEAD + pack_sequence(sequence) + b"\0")
                    self._receipt(bytes(view[pos : pos + length]), now)
                else:
                    self._other(bytes(view[pos : pos + length]), command_id, status,
                                sequence, now, answers)
                pos += length
            if answers:
                try:
                    await self.send(b"".join(answers))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.closed = True
                answers.clear()
            if self.closed:
                break
            pending = view[pos:] if pos < end else b""
            if ok != answered_before:
                stats.responses += ok - answered_before
                statuses[0] = statuses.get(0, 0) + ok - answered_before
            if stats.responses != responses_before:  # not for a chunk of receipts alone
                stats.last_response = time.monotonic()
            self.on_progress()
            if self.sending_done and not sent_at:
                self.finished.set()
            elif len(sent_at) <= self.config.window - 1:
                self.room.set()
        self.room.set()
        self.finished.set()

    def _other(self, frame: bytes, command_id: int, status: int, sequence: int,
               now: float, out: list[bytes]) -> None:
        """Anything but submit_sm_resp; answers go to `out`, written once per chunk."""
        stats = self.stats
        if command_id == _GENERIC_NACK:
            started = self.sent_at.pop(sequence, None)
            if started is None:
                stats.unmatched += 1
            else:
                stats.resp_latency.append(now - started)
                stats.statuses[status] = stats.statuses.get(status, 0) + 1
                stats.responses += 1
            return
        try:
            decode(frame)  # anything else must at least be a valid PDU
        except DecodeError as error:
            stats.errors.append(f"undecodable PDU: {error}")
            return
        if command_id == CommandId.enquire_link:
            out.append(encode(EnquireLinkResp(sequence_number=sequence)))
        elif command_id == CommandId.unbind:
            out.append(encode(UnbindResp(sequence_number=sequence)))
            stats.errors.append("the SMSC unbound")
            self.closed = True
        elif command_id & 0x80000000:
            stats.unmatched += 1

    def _receipt(self, frame: bytes, now: float) -> None:
        """Count a deliver_sm that is a receipt for one of our submits (MO is only answered)."""
        found = receipt_id(frame)
        if found is None:
            return
        key, _, state = found
        stats = self.stats
        if state is not None:
            stats.receipt_states[state] = stats.receipt_states.get(state, 0) + 1
        tracker = self.tracker
        tracker.received += 1
        stats.last_receipt = time.monotonic()
        started = tracker.submitted_at.pop(key, None)
        if started is not None:
            stats.receipt_latency.append(now - started)
            stats.receipts += 1
        else:
            tracker.foreign[key] = now

    async def unbind(self) -> None:
        """Unbind and read until the SMSC closes, for at most 5 s (or response_timeout)."""
        with trio.move_on_after(min(5.0, self.config.response_timeout)):
            await self.send(encode(Unbind(sequence_number=self._take_sequence())))
            while True:
                data = await self.stream.receive_some(RECEIVE_SIZE)
                if not data:
                    break


def receipt_id(frame: bytes) -> tuple[bytes, bool, str | None] | None:
    """What counts of a deliver_sm receipt, read without building the PDU: the receipted
    message id (from receipted_message_id when present: True; else the text's `id:`: False)
    and the final state (message_state's name, else the text's `stat:` word).
    None for a deliver_sm that is not a receipt."""
    try:
        pos = frame.index(b"\0", 16) + 3  # service_type, source ton and npi
        pos = frame.index(b"\0", pos) + 3  # source_addr, destination ton and npi
        pos = frame.index(b"\0", pos) + 1  # destination_addr
        esm_class = frame[pos]
        if esm_class & 0x3C in (0x08, 0x10):
            return None  # an SME acknowledgement: the recipient's message, not a receipt
        pos = frame.index(b"\0", pos + 3) + 1  # esm_class, protocol_id, priority_flag, schedule
        pos = frame.index(b"\0", pos) + 1  # validity_period
        # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
        sm_length = frame[pos + 4]
        short_message = frame[pos + 5 : pos + 5 + sm_length]
        pos += 5 + sm_length
        end = len(frame)
        tlv_id: bytes | None = None
        state: str | None = None
        while pos + 4 <= end:
            tag, size = TLV_HEADER.unpack_from(frame, pos)
            if tag == Tag.receipted_message_id:
                tlv_id = frame[pos + 4 : pos + 4 + size].rstrip(b"\0")
            elif tag == Tag.message_state and size == 1:
                state = _STATE_NAMES.get(frame[pos + 4], str(frame[pos + 4]))
            pos += 4 + size
    except (ValueError, IndexError, struct.error):
        return None
    if tlv_id is None and esm_class & 0x3C not in (0x04, 0x20):
        return None
    parsed = None
    if tlv_id is None or state is None:
        parsed = parse_receipt_text(short_message.decode("latin-1"))
    if state is None and parsed is not None and parsed.stat:
        state = _STATE_BY_WORD.get(parsed.stat.upper(), parsed.stat)
    if tlv_id is not None:
        return tlv_id, True, state
    return (parsed.id.encode("latin-1"), False, state) if parsed is not None else None


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


async def _run_connection(config: BenchConfig, quota: int, rate: float, deadline: float,
                          stats: BenchStats, on_progress: Callable[[], None],
                          tracker: _Tracker, answered: trio.Semaphore | None,
                          all_done: trio.Event, first_slot: float = 0.0,
                          stop: Stop | None = None) -> None:
    """One connection from connect to unbind; releases `answered` once its responses are in."""
    try:
        try:
            with trio.fail_after(10):
                stream: trio.abc.Stream
                if config.ssl_context is not None:
                    stream = await trio.open_ssl_over_tcp_stream(
                        config.host, config.port, ssl_context=config.ssl_context)
                else:
                    stream = await trio.open_tcp_stream(config.host, config.port)
        except (OSError, trio.TooSlowError, trio.BrokenResourceError) as error:
            stats.errors.append(f"cannot connect to {config.host}:{config.port}: {error}")
            return
        async with stream:
            link = _Link(stream, config, quota, rate, deadline, stats, on_progress, tracker,
                         first_slot, stop)
            try:
                with trio.fail_after(10):
                    await link.bind()
            except (ConnectionError, trio.TooSlowError, DecodeError,
                    trio.BrokenResourceError) as error:
                stats.errors.append(str(error) or repr(error))
                return
            tracker.links.append(link)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(link.receiver)
                nursery.start_soon(link.sender)
                nursery.start_soon(link.watchdog)
                await link.sent_all.wait()
                with link.stop.bounded(config.response_timeout, STOP_GRACE):
                    await link.finished.wait()
                if answered is not None:
                    answered.release()
                    answered = None
                # keep reading: receipts for any connection may still come on this one
                await all_done.wait()
                nursery.cancel_scope.cancel()
            stats.unanswered += len(link.sent_at)
            if not link.closed:
                await link.unbind()
    finally:
        if answered is not None:
            answered.release()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_bench(config: BenchConfig, counters: Counters | None = None,
                    share: tuple[int, int] = (0, 1), stop: Stop | None = None) -> BenchStats:
    """Run this process's share of the benchmark's connections; returns its figures.

    `share` is (index, of): with several processes each takes every `of`-th connection.
    `stop` ends the run early (see Stop).
    """
    stop = stop if stop is not None else Stop()
    index, of = share
    total = config.connections
    counters = counters if counters is not None else Counters()
    mine = [n for n in range(total) if n % of == index]
    stats = BenchStats()
    cpu_before = cpu_seconds()
    epoch = trio.current_time()
    deadline = epoch + config.duration if config.duration else math.inf
    parts = len(message_templates(config))

    tracker = _Tracker()
    answered = trio.Semaphore(0)
    all_done = trio.Event()

    def wake_senders() -> None:
        for link in tracker.links:
            link.room.set()

    stop.when_stopped(wake_senders)

    def progress() -> None:
        counters.set(stats.submitted, stats.responses, stats.receipts, tracker.expected,
                     tracker.received, int(tracker.answered))

    async def keep_publishing() -> None:
        """The receivers publish as they read; this also does while nothing comes."""
        while not all_done.is_set():
            with trio.move_on_after(0.25):
                await all_done.wait()
            progress()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep_publishing)
        for n in mine:
            quota = 0
            if config.count:
                base, extra = divmod(config.count, total)
                quota = base + (1 if n < extra else 0)
                quota = max(parts, quota - quota % parts)
            rate = config.rate / total if config.rate else 0.0
            # connection n's schedule starts n / rate after the others': together they send
            # evenly through each period, not all at once
            first_slot = epoch + n / config.rate if config.rate else 0.0
            nursery.start_soon(_run_connection, config, quota, rate, deadline, stats, progress,
                               tracker, answered, all_done, first_slot, stop)
        for _ in mine:
            await answered.acquire()
        tracker.answered = True
        progress()
        if config.receipts:
            with stop.bounded(config.receipt_timeout):
                await _wait_receipts(counters, progress, tracker)
        all_done.set()
    progress()
    return finish_stats(stats, tracker, cpu_before)


def finish_stats(stats: BenchStats, tracker: _Tracker, cpu_before: float) -> BenchStats:
    """`stats` completed at the end of a run: the receipts still owed and the foreign ones
    (times on perf_counter's scale, as `settle_receipts` reads them) and the CPU used."""
    offset = trio.current_time() - time.perf_counter()
    stats.receipts_expected = tracker.expected
    stats.pending_receipts = {k: v - offset for k, v in tracker.submitted_at.items()}
    stats.foreign_receipts = [(k, v - offset) for k, v in tracker.foreign.items()]
    stats.cpu = cpu_seconds() - cpu_before
    return stats


async def _wait_receipts(counters: Counters, progress: Callable[[], None],
                         tracker: _Tracker) -> None:
    """Until every process has its responses and the receipts owed to all have come, or
    every connection of this process has closed (nothing more can come to it).

    The processes share only counters, so this looks at them every 20 ms.
    """
    while True:
        progress()
        totals = counters.totals()
        # one process knows all its ids: wait for exactly those; across processes a
        # receipt may land in another one, so count every receipt any of them received
        received = totals[2] if counters.processes == 1 else totals[4]
        if totals[5] >= counters.processes and received >= totals[3]:
            return
        if all(link.closed for link in tracker.links):
            return
        await trio.sleep(0.02)


def settle_receipts(stats: BenchStats) -> None:
    """Match receipts that came to another process's connection with their submits."""
    pending = stats.pending_receipts
    matched_before = stats.receipts
    for key, arrived in stats.foreign_receipts:
        started = pending.pop(key, None)
        if started is not None:
            stats.receipt_latency.append(arrived - started)
            stats.receipts += 1
    stats.receipts_unknown = len(stats.foreign_receipts) - (stats.receipts - matched_before)
    stats.foreign_receipts = []
    stats.receipts_missing = max(0, stats.receipts_expected - stats.receipts)


def percentile(values: array[float] | list[float], share: float, ordered: bool = False) -> float:
    if not values:
        return math.nan
    data = values if ordered else sorted(values)
    return data[min(len(data) - 1, int(share * len(data)))]


def summary(config: BenchConfig, stats: BenchStats, elapsed: float,
            processes: int = 1) -> dict[str, Any]:
    """The benchmark's report as plain data (what --json prints)."""

    def latencies(values: array[float]) -> dict[str, float | None]:
        ordered = sorted(values)
        if not ordered:
            return {"p50": None, "p90": None, "p99": None, "max": None}
        return {
            "p50": round(percentile(ordered, 0.5, True) * 1000, 3),
            "p90": round(percentile(ordered, 0.9, True) * 1000, 3),
            "p99": round(percentile(ordered, 0.99, True) * 1000, 3),
            "max": round(ordered[-1] * 1000, 3),
        }

    submit_span = max(stats.last_response - stats.started, 1e-9)
    receipt_span = max(stats.last_receipt - stats.started, 1e-9)
    return {
        "workload": {
            "connections": config.connections, "window": config.window,
            "rate": config.rate or None, "count": config.count or None,
            "duration": config.duration or None, "size": config.size,
            "encoding": config.encoding, "receipts": config.receipts,
            "destinations": config.destinations,
            "parts_per_message": len(message_templates(config)), "processes": processes,
        },
        "elapsed_s": round(elapsed, 3),
        "submitted": stats.submitted,
        "responses": stats.responses,
        "submit_rate": round(stats.responses / submit_span, 1) if stats.responses else 0.0,
        "receipts": stats.receipts,
        "receipt_rate": round(stats.receipts / receipt_span, 1) if stats.receipts else 0.0,
        "submit_latency_ms": latencies(stats.resp_latency),
        "receipt_latency_ms": latencies(stats.receipt_latency),
        "statuses": {_status_name(k): v for k, v in sorted(stats.statuses.items())},
        "unmatched": stats.unmatched,
        "unanswered": stats.unanswered,
        "receipt_states": dict(sorted(stats.receipt_states.items())),
        "receipts_missing": stats.receipts_missing,
        "receipts_unknown": stats.receipts_unknown,
        "errors": stats.errors[:20],
        "generator_cpu_s": round(stats.cpu, 3),
        "generator_cpu_us_per_submit": (
            round(stats.cpu / stats.responses * 1e6, 2) if stats.responses else None),
        "pid": os.getpid(),
    }
