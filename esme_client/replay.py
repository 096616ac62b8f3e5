"""`esme replay`: the ESME side of a JSON-lines capture played against a server, and where the
server's answers and receipts now differ from the capture (docs/capture.md).

Each captured SMPP session is re-created on a connection of its own: its requests are sent
as captured (same sequence numbers, same octets) but for the bind's password, which the
capture masks, and the message ids of query_sm, cancel_sm and replace_sm, which name this
run's messages. Requests from the server (deliver_sm, data_sm) are answered with the status
the capture shows for the same delivery.

Pacing is the capture's, or as fast as the causal order allows (`fast`): a request waits,
at most `wait` seconds, until as many answers have come on its session, and as many
deliveries for its system_id, as had come before it in the capture.

Compared afterwards: each request's answer (command, status; message_state of
query_sm_resp), and the receipts (message_state, and stat and err of the text when the
capture has texts) matched to the capture's by their order per destination (the receipt's
source_addr), since message ids differ between runs. Receipts beyond those the capture saw
are not differences: the capture had ended before them.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import math
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import trio

from smsc.pdu import DecodeError, FrameBuffer, Pdu, decode, encode, make_response
from smsc.pdu.constants import CommandId, CommandStatus, Tag
from smsc.pdu.receipt_text import parse_receipt_text

HEADER_SIZE = 16
MAX_LENGTH = 1 << 24
"""The largest command_length an SMSC may be configured to accept."""
MASK_BYTE = b"*"
RESPONSE_BIT = 0x80000000
BINDS = frozenset({CommandId.bind_receiver, CommandId.bind_transmitter,
                   CommandId.bind_transceiver})
DELIVERIES = frozenset({CommandId.deliver_sm, CommandId.data_sm})
RECEIPT_TYPES = frozenset({0x04, 0x08, 0x10, 0x20})
"""esm_class message types (bits 5-2) of receipts and acknowledgements."""
ID_FIELDS = frozenset({CommandId.query_sm, CommandId.cancel_sm, CommandId.replace_sm})
ID_ANSWERS = frozenset({CommandId.submit_sm_resp, CommandId.data_sm_resp,
                        CommandId.submit_multi_resp})
NOT_PACED = frozenset({CommandId.enquire_link, CommandId.enquire_link_resp})
"""Keepalives: timer-driven on either side, neither waited for nor compared."""


class CaptureFileError(Exception):
    """The capture file cannot be read as a JSON-lines capture (`FILE:LINE: problem`)."""


class MissingPassword(Exception):
    """A captured bind's system_id has no password given (the capture masks them)."""


@dataclass(frozen=True, slots=True)
class Captured:
    """One PDU of the capture."""

    at: float
    """The `time` field: simulated wall time (POSIX seconds)."""
    session: int
    direction: str
    command_id: int
    sequence: int
    status: int
    octets: bytes
    texts: bool
    """Whether the capture shows the texts (else they are masked in `octets`)."""
    message_id: str = ""
    """Of a submit's answer: the id the capture's run gave the message."""
    real: float | None = None
    """The `real` field: real seconds since the capture started, what the replay is paced
    on (`time` in captures from before the field: there `read_capture` sets it to `at`)."""


def read_capture(path: Path) -> list[Captured]:
    """Every PDU of a JSON-lines capture, in file order (raises CaptureFileError)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CaptureFileError(f"{path}: cannot read: {error}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(_record(json.loads(line)))
        except KeyError as error:
            raise CaptureFileError(f"{path}:{number}: not a capture record: no {error}"
                                   ) from None
        except (ValueError, TypeError, binascii.Error) as error:
            raise CaptureFileError(f"{path}:{number}: not a capture record: {error}") from None
    if not records:
        raise CaptureFileError(f"{path}: no PDUs")
    if any(record.real is None for record in records):  # a capture from before `real`
        records = [dataclasses.replace(record, real=record.at) for record in records]
    return records


def _record(entry: Any) -> Captured:
    if not isinstance(entry, dict):
        raise TypeError("not a JSON object")
    direction = entry["direction"]
    if direction not in ("in", "out"):
        raise ValueError(f"direction {direction!r}")
    octets = bytes.fromhex(entry["hex"])
    if len(octets) < HEADER_SIZE:
        raise ValueError("hex shorter than a PDU header")
    length, command_id, status, sequence = (int.from_bytes(octets[i:i + 4], "big")
                                            for i in (0, 4, 8, 12))
    if (status, sequence) != (entry["status"], entry["sequence"]):
        raise ValueError("status or sequence differ from the PDU's hex")
    fields = entry.get("fields")
    if fields is None and len(octets) == HEADER_SIZE and HEADER_SIZE < length <= MAX_LENGTH:
        # a PDU the codec could not decode: the capture keeps its header only, the body
        # is sent as `*` octets of the length the header says
        octets += MASK_BYTE * (length - HEADER_SIZE)
    elif length != len(octets):
        raise ValueError(f"command_length {length} but {len(octets)} octets of hex")
    if not isinstance(fields, dict | None):
        raise TypeError(f"fields is {type(fields).__name__}, not an object")
    fields = fields or {}
    tlvs = fields.get("tlvs") or {}
    if not isinstance(tlvs, dict):
        raise TypeError(f"tlvs is {type(tlvs).__name__}, not an object")
    real = entry.get("real")
    if real is not None and (isinstance(real, bool) or not isinstance(real, int | float)
                             or not 0 <= real < math.inf):
        raise ValueError(f"real {real!r} is not a number of seconds")
    text = fields.get("short_message", "")
    payload = tlvs.get("message_payload", "")
    texts = not isinstance(text, dict) and not isinstance(payload, dict)
    session = entry["session"]
    if isinstance(session, bool) or not isinstance(session, int):
        raise TypeError(f"session {session!r} is not a number")
    return Captured(
        at=datetime.fromisoformat(entry["time"]).timestamp(), session=session,
        direction=direction, command_id=command_id, sequence=sequence, status=status,
        octets=octets, texts=texts, message_id=str(fields.get("message_id", "")),
        real=None if real is None else float(real))


# -- the plan -----------------------------------------------------------------------------


@dataclass(slots=True)
class Step:
    """One request the ESME sent, and what had come from the server before it."""

    at: float
    octets: bytes
    command_id: int
    sequence: int
    answers_before: int
    deliveries_before: int


@dataclass(slots=True)
class SessionPlan:
    number: int
    system_id: str = ""
    start: float = 0.0
    end: float = 0.0
    steps: list[Step] = field(default_factory=list)
    answers: dict[int, Captured] = field(default_factory=dict)
    """The capture's answer to each request, by sequence number."""
    answers_total: int = 0
    deliveries_total: int = 0
    """Deliveries for the system_id (all sessions) by the session's last PDU."""
    outbind: bool = False
    """A session the SMSC opened (outbind): not replayed."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What is compared of one receipt."""

    message_state: int | None
    stat: str | None
    err: str | None


@dataclass(slots=True)
class Plan:
    sessions: dict[int, SessionPlan]
    first: float
    receipts: dict[tuple[str, str], list[Receipt]]
    """The capture's receipts per (system_id, destination), in order."""
    delivery_answers: dict[tuple[str, int, str, str, int], int]
    """The status the ESME answered each delivery with, by `delivery_key`."""
    texts: bool


def delivery_key(system_id: str, pdu: Pdu, counts: Counter[tuple[str, int, str, str]]
                 ) -> tuple[str, int, str, str, int]:
    """A delivery's name across runs: system_id, command, addresses and how many alike came
    before it (`counts` is bumped)."""
    base = (system_id, int(pdu.command_id), getattr(pdu, "source_addr", ""),
            getattr(pdu, "destination_addr", ""))
    nth = counts[base]
    counts[base] += 1
    return (*base, nth)


def receipt_of(pdu: Pdu, texts: bool) -> Receipt | None:
    """The compared fields of a delivery that is a receipt (None for MO messages)."""
    if (getattr(pdu, "esm_class", 0) & 0x3C) not in RECEIPT_TYPES:
        return None
    stat = err = None
    if texts:
        parsed = parse_receipt_text(bytes(getattr(pdu, "short_message", b"")
                                          or pdu.tlvs.get(Tag.message_payload, b"")
                                          ).decode("latin-1"))
        if parsed is not None:
            stat, err = parsed.stat, parsed.err
    return Receipt(pdu.tlvs.get(Tag.message_state), stat, err)


def plan_replay(records: list[Captured]) -> Plan:
    """What to send on each session, what to wait for, and what the capture saw."""
    sessions: dict[int, SessionPlan] = {}
    deliveries: Counter[str] = Counter()
    answers: Counter[int] = Counter()
    requests: dict[tuple[int, int], Captured] = {}
    delivered: dict[tuple[int, int], tuple[str, int, str, str, int]] = {}
    keys: Counter[tuple[str, int, str, str]] = Counter()
    receipts: dict[tuple[str, str], list[Receipt]] = defaultdict(list)
    delivery_answers: dict[tuple[str, int, str, str, int], int] = {}
    texts = all(record.texts for record in records)
    for record in records:
        at = _paced_at(record)
        plan = sessions.get(record.session)
        if plan is None:
            plan = sessions[record.session] = SessionPlan(record.session, start=at)
            plan.outbind = (record.direction == "out"
                            and record.command_id == CommandId.outbind)
        plan.end = at
        command = record.command_id
        if record.direction == "in":
            if command in BINDS:
                plan.system_id = _decoded(record).system_id  # type: ignore[attr-defined]
            if not command & RESPONSE_BIT:
                plan.steps.append(Step(at, record.octets, command, record.sequence,
                                       answers[record.session],
                                       deliveries[plan.system_id]))
                requests[(record.session, record.sequence)] = record
            elif (record.session, record.sequence) in delivered:
                delivery_answers[delivered.pop((record.session, record.sequence))] = (
                    record.status)
        elif command & RESPONSE_BIT:
            if (record.session, record.sequence) in requests:
                plan.answers[record.sequence] = record
                if command not in NOT_PACED:
                    answers[record.session] += 1
        elif command in DELIVERIES and not plan.outbind:
            deliveries[plan.system_id] += 1
            pdu = _decoded(record)
            delivered[(record.session, record.sequence)] = delivery_key(plan.system_id, pdu,
                                                                        keys)
            receipt = receipt_of(pdu, texts)
            if receipt is not None:
                receipts[(plan.system_id, getattr(pdu, "source_addr", ""))].append(receipt)
        plan.answers_total = answers[record.session]
        plan.deliveries_total = deliveries[plan.system_id]
    return Plan(sessions, _paced_at(records[0]), dict(receipts), delivery_answers, texts)


def _paced_at(record: Captured) -> float:
    """Real seconds, not the simulated wall time: that jumps when the SMSC's clock is
    advanced and runs `simulation.time_scale` times as fast."""
    return record.at if record.real is None else record.real


def _decoded(record: Captured) -> Pdu:
    try:
        return decode(record.octets)
    except DecodeError as error:
        raise CaptureFileError(f"session {record.session}: a "
                               f"{_command_name(record.command_id)} the codec cannot read: "
                               f"{error}") from None


# -- passwords ----------------------------------------------------------------------------


def passwords_from_toml(path: Path) -> dict[str, str]:
    """system_id → password of the `[[accounts]]` of an SMSC config file (or any TOML file
    with such a table array)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CaptureFileError(f"{path}: cannot read accounts: {error}") from None
    accounts = data.get("accounts", [])
    return {str(a["system_id"]): str(a.get("password", "")) for a in accounts
            if isinstance(a, dict) and "system_id" in a}


# -- running ------------------------------------------------------------------------------


@dataclass(slots=True)
class Replayed:
    """What the server sent this time."""

    answers: dict[tuple[int, int], Pdu] = field(default_factory=dict)
    """(session, sequence) → the server's answer."""
    receipts: defaultdict[tuple[str, str], list[Receipt]] = field(
        default_factory=lambda: defaultdict(list))
    undecodable: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    """Sessions that could not connect, why."""


class Replay:
    """Plays a plan against host:port; `run` returns what the server sent."""

    def __init__(self, plan: Plan, *, host: str, port: int, passwords: Mapping[str, str],
                 default_password: str | None, fast: bool, wait: float,
                 connect: Callable[[str, int], Any] | None = None) -> None:
        self.plan = plan
        self.host = host
        self.port = port
        self.fast = fast
        self.wait = wait
        self._connect = connect or trio.open_tcp_stream
        self.passwords = dict(passwords)
        for session in plan.sessions.values():
            if session.outbind or not session.system_id:
                continue
            if session.system_id not in self.passwords:
                if default_password is None:
                    raise MissingPassword(
                        f"no password for system_id {session.system_id!r}: give --password "
                        "or --accounts")
                self.passwords[session.system_id] = default_password
        self.replayed = Replayed()
        self._answers: Counter[int] = Counter()
        self._deliveries: Counter[str] = Counter()
        self._keys: Counter[tuple[str, int, str, str]] = Counter()
        self._ids: dict[str, str] = {}
        """The capture's message ids → this run's."""
        self._progress = trio.Event()
        self._done = {number: trio.Event() for number in plan.sessions}

    async def run(self) -> Replayed:
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            for session in self.plan.sessions.values():
                if session.outbind:
                    self._done[session.number].set()
                    continue
                nursery.start_soon(self._session, session, started)
        return self.replayed

    async def _session(self, plan: SessionPlan, started: float) -> None:
        try:
            if self.fast:
                for other in self.plan.sessions.values():
                    if other.end <= plan.start and other is not plan:
                        await self._done[other.number].wait()
            else:
                await trio.sleep_until(started + plan.start - self.plan.first)
            try:
                stream = await self._connect(self.host, self.port)
            except OSError as error:
                self.replayed.unreachable.append(
                    f"session {plan.number}: cannot connect: {error}")
                return
            await self._play(plan, stream, started)
        finally:
            self._done[plan.number].set()
            self._poke()

    async def _play(self, plan: SessionPlan, stream: trio.abc.Stream, started: float) -> None:
        lock = trio.Lock()
        closed = trio.Event()

        async def send(octets: bytes) -> bool:
            async with lock:
                try:
                    await stream.send_all(octets)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    closed.set()
                    return False
            return True

        async with stream, trio.open_nursery() as nursery:
            nursery.start_soon(self._read, plan, stream, send, closed)
            for step in plan.steps:
                if not self.fast:
                    await trio.sleep_until(started + step.at - self.plan.first)
                await self._caught_up(plan, step.answers_before, step.deliveries_before, closed)
                if closed.is_set() or not await send(self._octets(plan, step)):
                    break
            await self._caught_up(plan, plan.answers_total, plan.deliveries_total, closed)
            nursery.cancel_scope.cancel()

    async def _caught_up(self, plan: SessionPlan, answers: int, deliveries: int,
                         closed: trio.Event) -> None:
        """Wait (at most `wait` seconds) until the server has sent what it had by now in
        the capture, or the connection is closed."""
        with trio.move_on_after(self.wait):
            while not closed.is_set() and (
                self._answers[plan.number] < answers
                or self._deliveries[plan.system_id] < deliveries
            ):
                await self._progress.wait()

    def _poke(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    def _octets(self, plan: SessionPlan, step: Step) -> bytes:
        """The request as captured, with the password and this run's message id."""
        if step.command_id in BINDS:
            answer = plan.answers.get(step.sequence)
            if answer is not None and answer.status == CommandStatus.ESME_RINVPASWD:
                return step.octets  # refused in the capture: the masked password, wrong too
            bind = decode(step.octets)
            return encode(dataclasses.replace(
                bind, password=self.passwords.get(plan.system_id, "")))  # type: ignore[call-arg]
        if step.command_id in ID_FIELDS:
            try:
                request = decode(step.octets)
            except DecodeError:
                return step.octets  # malformed in the capture: sent as malformed again
            old = request.message_id  # type: ignore[attr-defined]
            if old in self._ids:
                return encode(dataclasses.replace(request, message_id=self._ids[old]))  # type: ignore[call-arg]
        return step.octets

    async def _read(self, plan: SessionPlan, stream: trio.abc.Stream,
                    send: Callable[[bytes], Any], closed: trio.Event) -> None:
        frames = FrameBuffer(max_command_length=1 << 20)
        replayed = self.replayed
        try:
            while True:
                try:
                    data = bytes(await stream.receive_some(65536))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    return
                frames.feed(data)
                try:
                    octets_list = frames.pop_all()
                except DecodeError as error:
                    replayed.undecodable.append(f"session {plan.number}: framing lost: {error}")
                    return
                for octets in octets_list:
                    try:
                        pdu = decode(octets)
                    except DecodeError as error:
                        replayed.undecodable.append(
                            f"session {plan.number}: a PDU that cannot be read: {error}")
                        continue
                    answer = self._received(plan, pdu)
                    if answer is not None and not await send(answer):
                        return
                    if pdu.command_id == CommandId.unbind:
                        return
                self._poke()
        finally:
            closed.set()
            self._poke()

    def _received(self, plan: SessionPlan, pdu: Pdu) -> bytes | None:
        """Note one PDU from the server; the answer to send, if it is a request."""
        command = pdu.command_id
        if command & RESPONSE_BIT:
            self.replayed.answers[(plan.number, pdu.sequence_number)] = pdu
            if command not in NOT_PACED:
                self._answers[plan.number] += 1
            if command in ID_ANSWERS:
                captured = plan.answers.get(pdu.sequence_number)
                if captured is not None and captured.message_id:
                    self._ids[captured.message_id] = pdu.message_id  # type: ignore[attr-defined]
            return None
        status = 0
        if command in DELIVERIES:
            key = delivery_key(plan.system_id, pdu, self._keys)
            status = self.plan.delivery_answers.get(key, 0)
            self._deliveries[plan.system_id] += 1
            receipt = receipt_of(pdu, self.plan.texts)
            if receipt is not None:
                self.replayed.receipts[(plan.system_id, getattr(pdu, "source_addr", ""))
                                       ].append(receipt)
        try:
            return encode(make_response(pdu, status))
        except Exception:
            return None


# -- comparing ----------------------------------------------------------------------------


def differences(plan: Plan, replayed: Replayed) -> list[str]:
    """Every way the server's answers and receipts differ from the capture's, one line each."""
    found = list(replayed.undecodable)
    for session in plan.sessions.values():
        if session.outbind:
            continue
        where = f"session {session.number} ({session.system_id or 'unbound'})"
        for sequence, captured in sorted(session.answers.items()):
            if captured.command_id in NOT_PACED:
                continue
            name = _command_name(captured.command_id)
            now = replayed.answers.get((session.number, sequence))
            if now is None:
                found.append(f"{where} seq {sequence}: {name} {_status(captured.status)} in "
                             "the capture, no answer now")
                continue
            if now.command_id != captured.command_id or now.command_status != captured.status:
                found.append(f"{where} seq {sequence}: {name} {_status(captured.status)} in "
                             f"the capture, {now.command_id.name} "
                             f"{_status(now.command_status)} now")
            elif captured.command_id == CommandId.query_sm_resp and not captured.status:
                try:
                    before = decode(captured.octets).message_state  # type: ignore[attr-defined]
                except DecodeError:
                    continue  # nothing of the capture's answer to compare but its status
                if now.message_state != before:  # type: ignore[attr-defined]
                    found.append(f"{where} seq {sequence}: query_sm_resp message_state "
                                 f"{before} in the capture, "
                                 f"{now.message_state} now")  # type: ignore[attr-defined]
    for (system_id, destination), captured_receipts in sorted(plan.receipts.items()):
        now_receipts = replayed.receipts.get((system_id, destination), [])
        for index, before in enumerate(captured_receipts):
            where = f"{system_id} receipt {index + 1} from {destination or '(no address)'}"
            if index >= len(now_receipts):
                found.append(f"{where}: {_receipt(before)} in the capture, none now")
            elif now_receipts[index] != before:
                found.append(f"{where}: {_receipt(before)} in the capture, "
                             f"{_receipt(now_receipts[index])} now")
    return found


def _command_name(command_id: int) -> str:
    return (CommandId(command_id).name if command_id in CommandId._value2member_map_
            else f"0x{command_id:08X}")


def _status(status: int) -> str:
    name = (CommandStatus(status).name if status in CommandStatus._value2member_map_
            else "unknown")
    return f"0x{status:08X} ({name})"


def _receipt(receipt: Receipt) -> str:
    parts = [f"message_state={receipt.message_state}"]
    if receipt.stat is not None or receipt.err is not None:
        parts.append(f"stat={receipt.stat} err={receipt.err}")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    sessions: int
    requests: int
    answers: int
    receipts: int
    differences: list[str]
    texts: bool
    unreachable: list[str]


async def replay_capture(path: Path, *, host: str, port: int,
                         passwords: Mapping[str, str] | None = None,
                         default_password: str | None = None, fast: bool = False,
                         wait: float = 30.0) -> ReplayReport:
    """Replay the capture at `path` against host:port and compare (raises
    CaptureFileError, MissingPassword)."""
    plan = plan_replay(read_capture(path))
    replay = Replay(plan, host=host, port=port, passwords=passwords or {},
                    default_password=default_password, fast=fast,
                    wait=wait if wait > 0 else math.inf)
    replayed = await replay.run()
    sessions = [s for s in plan.sessions.values() if not s.outbind]
    return ReplayReport(
        sessions=len(sessions), requests=sum(len(s.steps) for s in sessions),
        answers=sum(len(s.answers) for s in sessions),
        receipts=sum(len(r) for r in plan.receipts.values()),
        differences=differences(plan, replayed), texts=plan.texts,
        unreachable=replayed.unreachable)
