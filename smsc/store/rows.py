"""The row codec of the SQL stores: a message as the values of its row's columns, and back;
owed items as runs.

No database module here: the values are plain Python (str, int, float, bytearray) that any
DB-API driver binds, so every SQL store writes the packed octets, the times and the NULL
stand-ins the same way, and reads them back with `message_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from smsc.pdu.constants import MessageState
from smsc.store.models import Direction, Message, MessageQuery, NewMessage
from smsc.store.outbound_mirror import Notice

MESSAGE_COLUMNS = (
    "system_id", "service_type", "source_addr", "destination_addr", "network", "addressing",
    "flags", "payload", "extra", "submitted_at", "expires_at", "schedule_at", "multi_id",
    "fate",
)
"""A message's fields as stored. `addressing` packs the TON/NPI octets (source TON in bits
24-31, source NPI 16-23, destination TON 8-15, destination NPI 0-7); `flags` packs esm_class
(bits 0-7), protocol_id (8-15), priority_flag (16-23), registered_delivery (24-31),
data_coding (32-39), replace_if_present (bit 40) and mobile-originated (bit 41). `multi_id`
(layout 4) links a submit_multi's later destinations to its first (0 for other messages)."""
STATE_COLUMNS = ("state", "attempts", "next_attempt_at", "final_at", "network_error_code")
COLUMNS = MESSAGE_COLUMNS + STATE_COLUMNS
"""A row's columns after its id, in the order `message_of` reads them."""

NO_TIME = 0.0
NO_CODE = -1
NULLABLE = {"submitted_at": NO_TIME, "expires_at": NO_TIME, "schedule_at": NO_TIME,
            "next_attempt_at": NO_TIME, "final_at": NO_TIME,
            "network_error_code": NO_CODE}
"""Columns that may be NULL, and the value rows carry instead of None. sqlite3 sends every
None parameter through its adapter lookup (several failed attribute lookups, some 1,700
instructions), a float or int not; the statements turn the stand-in back into NULL."""
NO_OCTETS = bytearray()
"""The value bound for empty octets (never changed: drivers copy what they bind)."""

RUN_AT_LEAST = 3
"""Shortest run of owed items written as one statement (below it, binding each row costs
less)."""

_MO = Direction.MO
"""A module constant: an Enum class attribute costs a lookup hook per use on 3.11."""


def stand_in(moment: datetime | None) -> float:
    """A time as the statements take it: a timestamp, or `NO_TIME` for none."""
    return NO_TIME if moment is None else moment.timestamp()


def time_of(value: float | None) -> datetime | None:
    """A stored time (a timestamp or NULL) as the models hold it."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def fields_of(new: NewMessage, submitted: float | None = None, expires: float | None = None
              ) -> tuple[Any, ...]:
    """A message's `MESSAGE_COLUMNS` values, the one-octet fields packed as that says; octets
    as bytearray, which sqlite3 binds directly (bytes, like None, first goes through its
    adapter lookup: several times the cost of the copy). `submitted` and `expires`, when
    given, are the submit and expiry times as `stand_in` makes them (a caller that met the
    same time objects before saves converting them again: 2,000 instructions each)."""
    schedule = new.schedule_at
    if submitted is None:
        submitted = stand_in(new.submitted_at)
    if expires is None:
        expires = stand_in(new.expires_at)
    return (
        new.system_id, new.service_type, new.source_addr, new.destination_addr, new.network,
        new.source_addr_ton << 24 | new.source_addr_npi << 16 | new.dest_addr_ton << 8
        | new.dest_addr_npi,
        new.esm_class | new.protocol_id << 8 | new.priority_flag << 16
        | new.registered_delivery << 24 | new.data_coding << 32
        | new.replace_if_present << 40 | (new.direction is _MO) << 41,
        bytearray(new.payload), bytearray(extra) if (extra := new.extra) else NO_OCTETS,
        submitted, expires, NO_TIME if schedule is None else schedule.timestamp(),
        new.multi_id, bytearray(fate) if (fate := new.fate) else NO_OCTETS,
    )


def message_of(row: Sequence[Any]) -> Message:
    """The message of a row read as id followed by `COLUMNS`."""
    (message_id, system_id, service_type, source_addr, destination_addr, network, addressing,
     flags, payload, extra, submitted_at, expires_at, schedule_at, multi_id, fate, state,
     attempts, next_attempt_at, final_at, network_error_code) = row
    fields = NewMessage(
        system_id=system_id, destination_addr=destination_addr, payload=bytes(payload),
        direction=Direction.MO if flags >> 41 & 1 else Direction.MT,
        service_type=service_type, source_addr_ton=addressing >> 24 & 0xFF,
        source_addr_npi=addressing >> 16 & 0xFF, source_addr=source_addr,
        dest_addr_ton=addressing >> 8 & 0xFF, dest_addr_npi=addressing & 0xFF,
        esm_class=flags & 0xFF, protocol_id=flags >> 8 & 0xFF,
        priority_flag=flags >> 16 & 0xFF, registered_delivery=flags >> 24 & 0xFF,
        data_coding=flags >> 32 & 0xFF, submitted_at=time_of(submitted_at),
        expires_at=time_of(expires_at), schedule_at=time_of(schedule_at),
        replace_if_present=bool(flags >> 40 & 1), network=network, extra=bytes(extra),
        fate=bytes(fate),
        multi_id=multi_id,
    )
    return Message(
        message_id, fields, MessageState(state), attempts, time_of(next_attempt_at),
        time_of(final_at), network_error_code,
    )


def outbound_runs(notices: list[Notice], first_item_id: int) -> list[list[Any]]:
    """The rows of owed notices under ids counted on from `first_item_id`, as runs
    ([first item id, account, kind, first message id, state, count]: consecutive items for
    consecutive messages of one account, kind and state) for `write_outbound`."""
    item_id = first_item_id
    runs: list[list[Any]] = []
    run: list[Any] = [0, None, None, 0, None, 0]
    for system_id, kind, message in notices:
        message_id = message.message_id
        kind_value = kind._value_
        state = message.state._value_
        if (message_id == run[3] + run[5] and system_id == run[1] and kind_value == run[2]
                and state == run[4]):
            run[5] += 1
        else:
            run = [item_id, system_id, kind_value, message_id, state, 1]
            runs.append(run)
        item_id += 1
    return runs


def chunks(values: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    """`values` in pieces small enough for one statement's parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def query_conditions(query: MessageQuery, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause of a lookup (empty when it has no condition) with `mark` for each
    parameter, and its parameters."""
    conditions: list[str] = []
    values: list[Any] = []
    if query.message_id is not None:
        conditions.append(f"id = {mark}")
        values.append(query.message_id)
    if query.system_id is not None:
        conditions.append(f"system_id = {mark}")
        values.append(query.system_id)
    if query.address is not None:
        conditions.append(f"(destination_addr = {mark} OR source_addr = {mark})")
        values += [query.address, query.address]
    if query.state is not None:
        conditions.append(f"state = {mark}")
        values.append(int(query.state))
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), values


def id_runs(ids: list[int]) -> list[tuple[int, int]]:
    """Ids (of finished messages, of acknowledged items) as runs of consecutive ids (first,
    last), in order, duplicates once."""
    ids = sorted(set(ids))
    runs: list[tuple[int, int]] = []
    start = previous = ids[0]
    for message_id in ids[1:]:
        if message_id != previous + 1:
            runs.append((start, previous))
            start = message_id
        previous = message_id
    runs.append((start, previous))
    return runs
