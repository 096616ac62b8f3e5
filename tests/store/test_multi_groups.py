"""A submit_multi's destinations linked by `multi_id`: group lookups, cancel and replace by
the id given out, the summary query_sm answers, and the layout 3 → 4 upgrade."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from smsc.pdu.constants import MessageState
from smsc.store import Delivered, MemoryStore, MessageStore, PermanentFailure, StoreBatch
from smsc.store.models import group_summary
from smsc.store.sqlite import SqliteStore

from .test_stores import RETRY, accept, at, new


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageStore]:
    made: MessageStore
    if request.param == "memory":
        made = MemoryStore(retry=RETRY)
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    else:
        from smsc.store.postgresql import PostgresqlStore

        made = PostgresqlStore(request.getfixturevalue("postgresql_dsn"), retry=RETRY)
    yield made
    made.close()


def stored_group(store: MessageStore) -> tuple[int, list[int]]:
    (first,) = accept(store, new(destination_addr="491510000002"))
    others = accept(store, new(destination_addr="491510000003", multi_id=first),
                    new(destination_addr="491510000004", multi_id=first))
    return first, others


def finish(store: MessageStore, message_id: int, outcome: object, seconds: float) -> None:
    """One attempt's outcome, the message claimed first as the scheduler would."""
    claimed = store.claim_due(at(seconds), 100)
    store.release([m.message_id for m in claimed if m.message_id != message_id])
    store.apply(StoreBatch(outcomes=[(message_id, outcome)]), at(seconds))  # type: ignore[list-item]


def test_a_group_is_its_first_message_and_those_linked_to_it(store: MessageStore) -> None:
    first, others = stored_group(store)
    (alone,) = accept(store, new())
    assert [m.message_id for m in store.group(first, "acme")] == [first, *others]
    assert {m.public_id for m in store.group(first, "acme")} == {first}
    assert [m.message_id for m in store.group(alone, "acme")] == [alone]
    assert store.group(others[0], "acme") == []  # a later destination's id is not public
    assert store.group(first, "someone-else") == []


def test_cancel_by_the_id_cancels_every_pending_destination(store: MessageStore) -> None:
    first, others = stored_group(store)
    finish(store, others[0], Delivered(), 1)
    assert store.cancel(system_id="acme", now=at(2), message_id=first) == 2
    states = [m.state for m in store.group(first, "acme")]
    assert states == [MessageState.DELETED, MessageState.DELIVERED, MessageState.DELETED]
    assert store.cancel(system_id="acme", now=at(3), message_id=others[1]) == 0


def test_replace_by_the_id_replaces_every_pending_destination(store: MessageStore) -> None:
    first, others = stored_group(store)
    finish(store, first, Delivered(), 1)
    assert store.replace(message_id=first, system_id="acme", source_addr="12345", now=at(2),
                         payload=b"new", schedule_at=None, expires_at=None,
                         registered_delivery=None)
    payloads = [m.fields.payload for m in store.group(first, "acme")]
    assert payloads == [b"hi", b"new", b"new"]
    assert not store.replace(message_id=others[0], system_id="acme", source_addr="12345",
                             now=at(2), payload=b"x", schedule_at=None, expires_at=None,
                             registered_delivery=None)


def test_the_summary_is_enroute_until_all_are_final_then_the_worst(
        store: MessageStore) -> None:
    first, others = stored_group(store)
    finish(store, first, Delivered(), 1)
    finish(store, others[0], PermanentFailure(network_error_code=13), 2)
    pending = group_summary(store.group(first, "acme"))
    assert (pending.state, pending.final_at) == (MessageState.ENROUTE, None)
    store.cancel(system_id="acme", now=at(3), message_id=first)
    done = group_summary(store.group(first, "acme"))
    assert (done.state, done.final_at, done.network_error_code) == (
        MessageState.UNDELIVERABLE, at(3), 13)


def test_a_layout_3_database_gains_the_multi_id_column(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    made = SqliteStore(path, retry=RETRY)
    (kept,) = accept(made, new())
    made.close()
    old = sqlite3.connect(path)  # back to layout 3: no multi_id column, no index on it
    old.execute("DROP INDEX messages_multi")
    old.execute("ALTER TABLE messages DROP COLUMN multi_id")
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()
    upgraded = SqliteStore(path, retry=RETRY)
    message = upgraded.query(kept, "acme")
    assert message is not None and message.fields.multi_id == 0
    first, others = stored_group(upgraded)
    assert [m.message_id for m in upgraded.group(first, "acme")] == [first, *others]
    upgraded.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone() == (4,)
    assert check.execute("SELECT name FROM sqlite_master WHERE name = 'messages_multi'"
                         ).fetchone() == ("messages_multi",)
    check.close()
