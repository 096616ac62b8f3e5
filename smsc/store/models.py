"""Messages, delivery outcomes, the retry policy and the state transitions (pure).

The store keeps one record per message; its life is ENROUTE until one of the final states of
SMPP 5.2.28 (DELIVERED, EXPIRED, DELETED, UNDELIVERABLE, REJECTED). Outbound items are what the
SMSC owes an ESME: delivery receipts and mobile-originated messages, queued per system_id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from smsc.constructors import constructor
from smsc.pdu.constants import (
    SME_ACK_MASK,
    MessageState,
    wants_intermediate,
    wants_receipt,
)


class Direction(Enum):
    MT = "mt"
    """Submitted by an ESME, to be delivered to a handset."""
    MO = "mo"
    """From a handset, to be delivered to an ESME."""


class OutboundKind(Enum):
    RECEIPT = "receipt"
    INTERMEDIATE = "intermediate"
    MO = "mo"
    DELIVERY_ACK = "delivery_ack"
    """The recipient handset's delivery acknowledgement (registered_delivery bit 2)."""
    MANUAL_ACK = "manual_ack"
    """The recipient's manual/user acknowledgement (registered_delivery bit 3)."""
    ACCEPTED = "accepted"
    """An intermediate notification at acceptance (stat ACCEPTD), for dialects that send one
    when registered_delivery bit 4 asks."""


# Members the per-message code compares with, as module constants: on Python 3.11 each
# `EnumClass.MEMBER` runs EnumType.__getattr__'s lookup hook, four times a global's cost.
_MT = Direction.MT
_RECEIPT = OutboundKind.RECEIPT
_DELIVERED = MessageState.DELIVERED
_ENROUTE = MessageState.ENROUTE


@dataclass(slots=True)
class NewMessage:
    """A message as accepted from submit_sm / data_sm / submit_multi, or injected as MO."""

    system_id: str
    destination_addr: str
    payload: bytes = b""
    direction: Direction = Direction.MT
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    submitted_at: datetime | None = None
    expires_at: datetime | None = None
    schedule_at: datetime | None = None
    replace_if_present: bool = False
    network: str = ""
    extra: bytes = b""
    """Encoded TLVs kept with the message (e.g. SAR fields), opaque to the store."""
    fate: bytes = b""
    """The message's simulated fate (`smsc.simulation.draws.Fate`: its identity in the
    traffic and which copy it is, 12 octets), stored with it so that every attempt, after a
    restart too, draws from it; empty where the network draws nothing. Opaque to the store."""
    multi_id: int = 0
    """For the second and later destinations of a submit_multi: the id of its first stored
    destination, which is the id the ESME was given (its receipts carry it, query_sm,
    cancel_sm and replace_sm by it reach every destination). 0 for every other message."""


@dataclass(slots=True)
class Message:
    """A stored message; `message_id` is an integer the server formats for the wire."""

    message_id: int
    fields: NewMessage
    state: MessageState = MessageState.ENROUTE
    attempts: int = 0
    next_attempt_at: datetime | None = None
    final_at: datetime | None = None
    network_error_code: int | None = None

    @property
    def system_id(self) -> str:
        return self.fields.system_id

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def public_id(self) -> int:
        """The id the ESME knows the message by: its own, or its submit_multi's."""
        return self.fields.multi_id or self.message_id


@dataclass(frozen=True, slots=True)
class Delivered:
    network_error_code: int | None = None


@dataclass(frozen=True, slots=True)
class TemporaryFailure:
    """Try again later (absent subscriber, busy network); EXPIRED once validity ends."""

    network_error_code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PermanentFailure:
    state: MessageState = MessageState.UNDELIVERABLE
    network_error_code: int | None = None


Outcome = Delivered | TemporaryFailure | PermanentFailure


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Seconds between attempts after temporary failures; the last interval repeats."""

    schedule: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0, 900.0)

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        index = min(max(attempts - 1, 0), len(self.schedule) - 1)
        return now + timedelta(seconds=self.schedule[index])


TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    MessageState.ENROUTE: frozenset(
        {
            MessageState.ENROUTE,
            MessageState.DELIVERED,
            MessageState.EXPIRED,
            MessageState.DELETED,
            MessageState.UNDELIVERABLE,
            MessageState.REJECTED,
        }
    ),
}
"""Legal state changes: only ENROUTE messages move; every final state is the end."""


_SME_ACKS: dict[int, tuple[OutboundKind, ...]] = {
    0x00: (),
    0x04: (OutboundKind.DELIVERY_ACK,),
    0x08: (OutboundKind.MANUAL_ACK,),
    0x0C: (OutboundKind.DELIVERY_ACK, OutboundKind.MANUAL_ACK),
}
"""registered_delivery bits 3..2 (SMPP 3.4 §5.2.17) → the acknowledgements they ask for."""


class IllegalTransition(Exception):
    """A change the state table forbids (a final message cannot change again)."""


@dataclass(slots=True)
class Transition:
    """What a state change does: the new record and, when owed, an outbound notification."""

    message: Message
    notify: OutboundKind | None = None
    acks: tuple[OutboundKind, ...] = ()
    """SME acknowledgements owed as well (a delivered message whose sender asked)."""


make_message = constructor(Message)
make_transition = constructor(Transition)
"""`Message(...)` and `Transition(...)` for the hot path, without type.__call__."""


def check_transition(old: MessageState, new: MessageState) -> None:
    if new not in TRANSITIONS.get(old, frozenset()):
        raise IllegalTransition(f"{old.name} → {new.name}")


def finish(message: Message, state: MessageState, now: datetime,
           network_error_code: int | None = None, attempts: int | None = None) -> Transition:
    """Move `message` to a final state, owing a receipt when registered_delivery asks;
    `attempts`, when given, replaces its attempt count."""
    check_transition(message.state, state)
    return _final(message.message_id, message.fields, state,
                  message.attempts if attempts is None else attempts, now, network_error_code)


def _final(message_id: int, fields: NewMessage, state: MessageState, attempts: int,
           now: datetime, network_error_code: int | None) -> Transition:
    """The final record and what it owes (`finish` once its transition is known legal)."""
    done = make_message(message_id, fields, state, attempts, None, now, network_error_code)
    if fields.direction is not _MT:
        return make_transition(done)
    registered_delivery = fields.registered_delivery
    owed = wants_receipt(registered_delivery, state)
    acks = _SME_ACKS[registered_delivery & SME_ACK_MASK] if state is _DELIVERED else ()
    return make_transition(done, _RECEIPT if owed else None, acks)


def first_outcome(message_id: int, new: NewMessage, outcome: Outcome, due: datetime,
                  now: datetime, policy: RetryPolicy) -> Transition:
    """`apply_outcome` for the first attempt of a message not stored yet (ENROUTE, due at
    `due`, no attempts): a final outcome makes its one record directly, not the ENROUTE
    record it would leave at once (the usual submit, once per message)."""
    kind = type(outcome)
    if kind is Delivered:
        return _final(message_id, new, _DELIVERED, 1, now, outcome.network_error_code)
    if kind is PermanentFailure:
        state = outcome.state  # type: ignore[union-attr]
        check_transition(_ENROUTE, state)
        return _final(message_id, new, state, 1, now, outcome.network_error_code)
    return apply_outcome(make_message(message_id, new, _ENROUTE, 0, due), outcome, now, policy)


def apply_outcome(message: Message, outcome: Outcome, now: datetime,
                  policy: RetryPolicy) -> Transition:
    """The record after one delivery attempt ended with `outcome`."""
    attempts = message.attempts + 1
    if isinstance(outcome, Delivered):
        return finish(message, _DELIVERED, now, outcome.network_error_code,
                      attempts)
    if isinstance(outcome, PermanentFailure):
        return finish(message, outcome.state, now, outcome.network_error_code, attempts)
    expires_at = message.fields.expires_at
    retry_at = policy.next_attempt(attempts, now)
    if expires_at is not None and retry_at >= expires_at:
        return finish(message, MessageState.EXPIRED, now, outcome.network_error_code,
                      attempts)
    check_transition(message.state, MessageState.ENROUTE)
    waiting = make_message(message.message_id, message.fields, message.state, attempts,
                           retry_at, None, outcome.network_error_code)
    notify = (
        OutboundKind.INTERMEDIATE
        if wants_intermediate(message.fields.registered_delivery)
        and message.fields.direction is Direction.MT
        else None
    )
    return make_transition(waiting, notify)


def replaced(
    message: Message,
    payload: bytes | None,
    schedule_at: datetime | None,
    expires_at: datetime | None,
    registered_delivery: int | None,
) -> tuple[NewMessage, datetime | None]:
    """replace_sm's new fields and due time: a value left out keeps the old one (SPEC 4.10)."""
    fields = message.fields
    new = replace(
        fields,
        payload=fields.payload if payload is None else payload,
        schedule_at=fields.schedule_at if schedule_at is None else schedule_at,
        expires_at=fields.expires_at if expires_at is None else expires_at,
        registered_delivery=(
            fields.registered_delivery if registered_delivery is None else registered_delivery
        ),
    )
    return new, message.next_attempt_at if schedule_at is None else schedule_at


GROUP_STATE_RANK = {
    MessageState.DELIVERED: 0,
    MessageState.DELETED: 1,
    MessageState.EXPIRED: 2,
    MessageState.REJECTED: 3,
    MessageState.UNDELIVERABLE: 4,
}
"""How bad each final state is, for `group_summary`: a submit_multi reports its worst."""


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """What query_sm answers for a message the ESME knows by one id (SPEC 4.8.2)."""

    state: MessageState
    final_at: datetime | None
    network_error_code: int | None


def group_summary(messages: list[Message]) -> GroupSummary:
    """The state of a submit_multi as a whole (one message: its own): ENROUTE while any
    destination is pending (with the latest error code a pending one met); once all are
    final, the worst final state among them (UNDELIVERABLE, REJECTED, EXPIRED, DELETED,
    then DELIVERED), that destination's error code, and the last final time of all."""
    pending = [m for m in messages if not m.is_final]
    if pending:
        codes = [m.network_error_code for m in pending if m.network_error_code is not None]
        return GroupSummary(MessageState.ENROUTE, None, codes[-1] if codes else None)
    worst = max(messages, key=lambda m: GROUP_STATE_RANK.get(m.state, 5))
    last = max((m.final_at for m in messages if m.final_at is not None), default=None)
    return GroupSummary(worst.state, last, worst.network_error_code)


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """A lookup for operators and tests: every condition given must hold; newest first."""

    message_id: int | None = None
    system_id: str | None = None
    address: str | None = None
    """Matches the destination or the source address."""
    state: MessageState | None = None
    limit: int = 100

    def matches(self, message: Message) -> bool:
        fields = message.fields
        return (
            (self.message_id is None or message.message_id == self.message_id)
            and (self.system_id is None or fields.system_id == self.system_id)
            and (self.address is None
                 or self.address in (fields.destination_addr, fields.source_addr))
            and (self.state is None or message.state is self.state)
        )


@dataclass(slots=True)
class OutboundItem:
    """A notification owed to an ESME: a receipt or intermediate notice, or an MO message.

    Not frozen (one is made per notification sent; frozen costs four times as much to build),
    but never changed once made."""

    item_id: int
    system_id: str
    kind: OutboundKind
    message: Message
    attempts: int = 0


make_outbound_item = constructor(OutboundItem)
"""`OutboundItem(...)` for the hot path, without type.__call__."""


class AttemptUnderWay(Enum):
    """An accept's first delivery attempt started before it was stored and ends later: the
    message is stored claimed (not due), and its outcome comes like any claimed one's."""

    UNDER_WAY = "under_way"


UNDER_WAY = AttemptUnderWay.UNDER_WAY
FirstAttempt = Outcome | AttemptUnderWay | None
"""How an accept's first delivery attempt stands when it is stored: None (not started, the
message is due), under way, or already ended with an outcome (stored finished or waiting for
its retry, in the same write)."""


@dataclass(slots=True)
class StoreBatch:
    """Everything written in one transaction (group commit)."""

    accepts: list[NewMessage] = field(default_factory=list)
    first_attempts: list[FirstAttempt] = field(default_factory=list)
    """Parallel to `accepts` (missing entries are None); MT accepts without replace_if_present
    only: an MO message has no delivery attempt and a replacing submit keeps the old one's."""
    outcomes: list[tuple[int, Outcome]] = field(default_factory=list)
    outbound_acknowledged: list[int] = field(default_factory=list)
    outbound_failed: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.accepts or self.outcomes or self.outbound_acknowledged
                    or self.outbound_failed)

    def accepts_with_firsts(self) -> Iterator[tuple[NewMessage, FirstAttempt]]:
        """Each accept with its first attempt (None where the list is short)."""
        accepts, firsts = self.accepts, self.first_attempts
        if len(firsts) < len(accepts):
            firsts = [*firsts, *[None] * (len(accepts) - len(firsts))]
        return zip(accepts, firsts, strict=False)


class AcceptRefused(Enum):
    QUEUE_FULL = "queue_full"


@dataclass(slots=True)
class BatchResult:
    """Per accept (in order): the new message id, or why it was refused."""

    accepted: list[int | AcceptRefused] = field(default_factory=list)


def format_message_id(message_id: int, style: str = "hex") -> str:
    """The wire form of a message id: lowercase hex (8 characters up to 2^32) or decimal."""
    return format(message_id, "x") if style == "hex" else str(message_id)


def parse_message_id(text: str, style: str = "hex") -> int | None:
    """The integer behind a wire message id, or None when it cannot be one of ours."""
    try:
        value = int(text, 16) if style == "hex" else int(text, 10)
    except ValueError:
        return None
    return value if 0 < value < (1 << 63) else None
