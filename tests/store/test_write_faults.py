"""A write the SQLite store cannot make (disk full, I/O error, locked, corrupt) leaves it as if
the write had never been tried, on disk and in memory, and the same write succeeds once the
fault clears: no id, claim, lease, cached message, count or notice of it is kept.

Each case prepares two stores the same way, fails one write on the first, checks it against
a store freshly opened on its file, then clears the fault and makes the same successful
writes on both (what the committer writes again after a failure): the two must agree in
everything, receipts included, so nothing was lost or written twice.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from smsc.pdu.constants import MessageState
from smsc.store import (
    Delivered,
    Direction,
    Message,
    MessageQuery,
    OutboundItem,
    PermanentFailure,
    StoreBatch,
    StoreWriteError,
    TemporaryFailure,
)
from smsc.store.models import UNDER_WAY
from smsc.store.sqlite import SqliteStore
from smsc.store.table_store import EXPIRY_RETRY

from .test_stores import RETRY, T0, accept, accept_attempted, at, new

COMPARE_AT = at(15)
"""When every due message of a prepared store is due, and none has expired."""
ACCOUNTS = ("acme", "beta", "limited")


def sqlite_error(code: int, text: str, kind: type[sqlite3.Error] = sqlite3.OperationalError
                 ) -> sqlite3.Error:
    """An error as SQLite's own carry them (its result code)."""
    error = kind(text)
    error.sqlite_errorcode = code
    error.sqlite_errorname = next(
        name for name in dir(sqlite3) if name.startswith("SQLITE_")
        and getattr(sqlite3, name) == code)
    return error


class FaultyConnection:
    """The store's connection with chosen statements failing as SQLite fails them, until
    `clear`: those that start with a prefix raise the error (after rolling the transaction
    back first, as SQLite does itself on SQLITE_FULL, when `rolled_back`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.faults: list[tuple[str, Callable[[], sqlite3.Error], bool]] = []
        self.failed = 0

    def fail(self, prefix: str, error: Callable[[], sqlite3.Error],
             rolled_back: bool = False) -> None:
        self.faults.append((prefix, error, rolled_back))

    def clear(self) -> None:
        self.faults = []

    def _check(self, sql: str) -> None:
        for prefix, error, rolled_back in self.faults:
            if sql.lstrip().startswith(prefix):
                if rolled_back and self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                self.failed += 1
                raise error()

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        self._check(sql)
        return self.db.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any) -> sqlite3.Cursor:
        self._check(sql)
        return self.db.executemany(sql, parameters)

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    @property
    def total_changes(self) -> int:
        return self.db.total_changes

    def close(self) -> None:
        self.db.close()


@dataclass
class Prepared:
    """A store in a state with some of everything: due, waiting, scheduled, claimed and under
    way messages, finished ones owing receipts and acknowledgements or nothing, leased and
    queued items, two accounts and one at its max_pending."""

    store: SqliteStore
    connection: FaultyConnection
    finals: list[Message] = field(default_factory=list)
    ids: dict[str, list[int]] = field(default_factory=dict)
    claimed: list[Message] = field(default_factory=list)
    leased: list[OutboundItem] = field(default_factory=list)


def prepare(path: Path) -> Prepared:
    store = SqliteStore(path, retry=RETRY, max_pending={"limited": 1})
    connection = FaultyConnection(store._db)
    store._db = connection  # type: ignore[assignment]
    prepared = Prepared(store, connection)
    store.on_final = prepared.finals.append
    store.accepted_notice = lambda message: message.system_id == "acme"
    ids = prepared.ids
    ids["due"] = accept(store, new(), new(), new(), new(destination_addr="4915100000009"))
    ids["scheduled"] = accept(store, new(schedule_at=at(8)))
    ids["expiring"] = accept(store, new(schedule_at=at(19), expires_at=at(20)))
    ids["sent"] = accept_attempted(
        store, (new(registered_delivery=0x05), Delivered()), (new(), Delivered()),
        (new(), PermanentFailure(MessageState.UNDELIVERABLE, 1)),
        (new(system_id="beta"), Delivered()))
    ids["waiting"] = accept_attempted(store, (new(registered_delivery=0x11), TemporaryFailure(27)))
    ids["under_way"] = accept_attempted(store, (new(), UNDER_WAY))
    ids["quiet"] = accept_attempted(store, *((new(registered_delivery=0), Delivered())
                                             for _ in range(3)))
    ids["limited"] = accept(store, new(system_id="limited"))
    ids["mobile"] = accept(store, new(direction=Direction.MO, system_id="beta"))
    prepared.claimed = [*store.claim_due(T0, 2), store._claimed[ids["under_way"][0]]]
    prepared.leased = store.claim_outbound("acme", 3)
    return prepared


@dataclass(frozen=True)
class Write:
    """A kind of write the committer makes: `make` on the store that fails, then `again`
    on both once the fault has cleared (what is written again, or the next such write)."""

    name: str
    statement: str
    """One of the statements it writes, to fail in the middle of its transaction."""
    make: Callable[[Prepared], Any]
    again: Callable[[Prepared], Any]
    grows: bool = False
    """Whether it needs new pages (so a full database refuses it)."""
    raises: bool = True


def accepts(prepared: Prepared) -> Any:
    big = b"x" * 3000  # new pages for sure
    batch = StoreBatch(
        accepts=[new(payload=big), new(payload=big, registered_delivery=0x15),
                 new(payload=big, system_id="beta", direction=Direction.MO),
                 new(payload=big, registered_delivery=0x11), new(payload=big),
                 new(payload=big, destination_addr="4915100000009", replace_if_present=True),
                 new(payload=big, system_id="limited")],
        first_attempts=[Delivered(), Delivered(), None, TemporaryFailure(27), UNDER_WAY,
                        None, None])
    return prepared.store.apply(batch, at(1))


def outcomes(prepared: Prepared) -> Any:
    first, second = (m.message_id for m in prepared.claimed[:2])
    under_way = prepared.ids["under_way"][0]
    return prepared.store.apply(StoreBatch(outcomes=[
        (first, Delivered()), (second, TemporaryFailure(27)),
        (under_way, PermanentFailure(MessageState.REJECTED))]), at(2))


def acknowledged(prepared: Prepared) -> Any:
    return prepared.store.apply(
        StoreBatch(outbound_acknowledged=[i.item_id for i in prepared.leased[:2]]), at(2))


def refused(prepared: Prepared) -> Any:
    return prepared.store.apply(
        StoreBatch(outbound_failed=[i.item_id for i in prepared.leased[1:]]), at(2))


def mixed(prepared: Prepared) -> Any:
    first = prepared.claimed[0].message_id
    return prepared.store.apply(StoreBatch(
        accepts=[new(payload=b"y" * 3000) for _ in range(4)],
        first_attempts=[Delivered()] * 4, outcomes=[(first, Delivered())],
        outbound_acknowledged=[prepared.leased[0].item_id],
        outbound_failed=[prepared.leased[2].item_id]), at(3))


def purge(prepared: Prepared) -> Any:
    return prepared.store.purge_finished(at(5), 100)


def expiry(prepared: Prepared) -> Any:
    claimed = prepared.store.claim_due(at(25), 100)
    prepared.claimed += claimed
    return claimed


def expiry_again(prepared: Prepared) -> Any:
    claimed = prepared.store.claim_due(at(25 + EXPIRY_RETRY), 100)
    prepared.claimed += claimed
    return claimed


def cancel(prepared: Prepared) -> Any:
    return prepared.store.cancel(system_id="acme", now=at(4),
                                 destination_addr="4915100000002")


def replace(prepared: Prepared) -> Any:
    return prepared.store.replace(
        message_id=prepared.ids["scheduled"][0], system_id="acme", source_addr="12345",
        now=at(4), payload=b"replaced", schedule_at=at(9), expires_at=None,
        registered_delivery=None)


def retry_now(prepared: Prepared) -> Any:
    return prepared.store.retry_now(prepared.ids["waiting"] + prepared.ids["scheduled"], at(4))


def next_accepts(prepared: Prepared) -> Any:
    """After refused accepts: the next ones (whose ids must follow the kept ones')."""
    return accepts(prepared)


WRITES = [
    Write("accepts", "INSERT INTO messages", accepts, next_accepts, grows=True),
    Write("outcomes", "UPDATE messages", outcomes, outcomes),
    Write("acknowledged", "DELETE FROM outbound", acknowledged, acknowledged),
    Write("refused", "UPDATE outbound", refused, refused),
    Write("mixed", "INSERT INTO outbound", mixed,
          lambda p: p.store.apply(StoreBatch(  # the accepts refused, the rest again
              outcomes=[(p.claimed[0].message_id, Delivered())],
              outbound_acknowledged=[p.leased[0].item_id],
              outbound_failed=[p.leased[2].item_id]), at(3)), grows=True),
    Write("purge", "DELETE FROM messages", purge, purge),
    Write("expiry", "UPDATE messages", expiry, expiry_again, raises=False),
    Write("cancel", "UPDATE messages", cancel, cancel),
    Write("replace", "UPDATE messages", replace, replace),
    Write("retry_now", "UPDATE messages", retry_now, retry_now),
]


def io_error() -> sqlite3.Error:
    return sqlite_error(sqlite3.SQLITE_IOERR | 3 << 8, "disk I/O error")  # SQLITE_IOERR_WRITE


def disk_full() -> sqlite3.Error:
    return sqlite_error(sqlite3.SQLITE_FULL, "database or disk is full")


def corrupt() -> sqlite3.Error:
    return sqlite_error(sqlite3.SQLITE_CORRUPT, "database disk image is malformed",
                        sqlite3.DatabaseError)


class Fault:
    """One way a write fails, and its clearing."""

    def __init__(self, name: str, arm: Callable[[Prepared, Write], Callable[[], None]],
                 fits: Callable[[Write], bool] = lambda write: True) -> None:
        self.name = name
        self.arm = arm
        self.fits = fits

    def __repr__(self) -> str:
        return self.name


def statement_fails(error: Callable[[], sqlite3.Error]
                    ) -> Callable[[Prepared, Write], Callable[[], None]]:
    def arm(prepared: Prepared, write: Write) -> Callable[[], None]:
        prepared.connection.fail(write.statement, error)
        return prepared.connection.clear
    return arm


def commit_fails(error: Callable[[], sqlite3.Error], rolled_back: bool
                 ) -> Callable[[Prepared, Write], Callable[[], None]]:
    def arm(prepared: Prepared, write: Write) -> Callable[[], None]:
        prepared.connection.fail("COMMIT", error, rolled_back=rolled_back)
        return prepared.connection.clear
    return arm


def database_full(prepared: Prepared, write: Write) -> Callable[[], None]:
    """The real thing: the file may not grow by a page."""
    db = prepared.connection.db
    db.execute("PRAGMA max_page_count = 1")  # (never below its size: full as it is)

    def clear() -> None:
        db.execute("PRAGMA max_page_count = 1073741823")

    return clear


def locked(prepared: Prepared, write: Write) -> Callable[[], None]:
    """The real thing: another connection holds the write lock."""
    prepared.connection.db.execute("PRAGMA busy_timeout = 0")
    other = sqlite3.connect(prepared.store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    def clear() -> None:
        other.execute("ROLLBACK")
        other.close()

    return clear


FAULTS = [
    Fault("database full", database_full, fits=lambda write: write.grows),
    Fault("locked", locked),
    Fault("I/O error in a statement", statement_fails(io_error)),
    Fault("corrupt page in a statement", statement_fails(corrupt)),
    Fault("disk full at COMMIT, rolled back by SQLite", commit_fails(disk_full, True)),
    Fault("I/O error at COMMIT, transaction still open", commit_fails(io_error, False)),
]


def observed(store: SqliteStore) -> dict[str, Any]:
    """What the store's callers can see without claiming anything, and its next ids."""
    messages = store.find(MessageQuery(limit=10**6))  # (the cache first, then the rows)
    return {
        "messages": messages,
        "queried": [store.query(m.message_id, m.system_id) for m in messages],  # (the rows)
        "depth": store.depth_by_state(),
        "pending": {a: store.pending_count(a) for a in ACCOUNTS},
        "owed": store.outbound_counts(),
        "systems": store.systems_with_outbound(),
        "next ids": (store._next_message_id, store._outbound.next_item_id),
    }


def claims_and_items(store: SqliteStore, claimed: list[Message], leased: list[OutboundItem]
                     ) -> tuple[list[Message], list[tuple[Any, ...]]]:
    """Every pending message due by COMPARE_AT and every owed item, the claimed and leased
    ones (handed out before) included; given back after, so the store stays as it was."""
    due = store.claim_due(COMPARE_AT, 10**6)
    store.release([m.message_id for m in due])
    items = [i for a in ACCOUNTS for i in store.claim_outbound(a, 10**6)]
    store.release_outbound([i.item_id for i in items])
    messages = sorted(due + claimed, key=lambda m: m.message_id)
    owed = sorted((i.item_id, i.system_id, i.kind, i.message.message_id, i.attempts)
                  for i in items + leased)  # (the messages are compared as `observed`: a
    # mirrored item holds its message as it was queued, one read back as it is now)
    return messages, owed


def assert_as_freshly_opened(prepared: Prepared) -> None:
    store = prepared.store
    fresh = SqliteStore(store.path, retry=RETRY, max_pending={"limited": 1})
    try:
        assert observed(store) == observed(fresh)
        leased = [i for i in prepared.leased if i.item_id in store._outbound.leased]
        assert claims_and_items(store, list(store._claimed.values()), leased) == \
            claims_and_items(fresh, [], [])
    finally:
        fresh.close()


def memory_of(store: SqliteStore, with_due: bool) -> dict[str, Any]:
    """Every structure the store keeps in memory."""
    mirror = store._outbound
    memory = {
        "claimed": store._claimed, "pending": +store._pending, "states": +store._states,
        "cache": list(store._cache.items()), "next": store._next_message_id,
        "items": (mirror.next_item_id, +mirror.counts, mirror.leased, +mirror.leased_by,
                  mirror.mirror, {a: sorted(r) for a, r in mirror.ready.items()},
                  mirror.mirrored, mirror.claim_from),
    }
    if with_due:
        memory["due"] = sorted(set(store._due))
    return memory


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Prepared, Prepared]]:
    failing, twin = prepare(tmp_path / "failing.db"), prepare(tmp_path / "twin.db")
    yield failing, twin
    failing.store.close()
    twin.store.close()


CASES = [(w, f) for w in WRITES for f in FAULTS if f.fits(w)]


@pytest.mark.parametrize(("write", "fault"), CASES,
                         ids=[f"{w.name}-{f.name}" for w, f in CASES])
def test_a_failed_write_leaves_the_store_as_if_never_tried(
    pair: tuple[Prepared, Prepared], write: Write, fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing, twin = pair
    store = failing.store
    before = memory_of(store, with_due=write.name != "expiry")
    finals = list(failing.finals)
    clear = fault.arm(failing, write)
    caplog.set_level(logging.WARNING, logger="smsc.store")
    if write.raises:
        with pytest.raises(StoreWriteError):
            write.make(failing)
    else:
        write.make(failing)
    assert memory_of(store, with_due=write.name != "expiry") == before
    assert failing.finals == finals  # on_final told of nothing
    clear()
    assert_as_freshly_opened(failing)

    again = write.again(failing), write.again(twin)
    if write.raises:  # (claims: made by the failed call on the one, by this on the other)
        assert again[0] == again[1]
    assert memory_of(store, with_due=False) == memory_of(twin.store, with_due=False)
    assert observed(store) == observed(twin.store)
    assert failing.finals == twin.finals
    assert claims_and_items(store, [], []) == claims_and_items(twin.store, [], [])
    assert_as_freshly_opened(failing)
    drained = [s.claim_due(at(10**5), 10**6) for s in (store, twin.store)]  # expiring all
    assert drained[0] == drained[1] and observed(store) == observed(twin.store)
    logged = [r.getMessage() for r in caplog.records if r.name == "smsc.store"]
    assert len(logged) == 2 and logged[0].startswith("store writes failing: ")
    assert logged[1] == "store writes recovered after 1 failed transactions"
    assert all(r.exc_info is None for r in caplog.records)


def test_writes_fail_until_the_fault_clears_and_are_logged_once(
    pair: tuple[Prepared, Prepared], caplog: pytest.LogCaptureFixture,
) -> None:
    failing, twin = pair
    caplog.set_level(logging.WARNING, logger="smsc.store")
    clear = database_full(failing, WRITES[0])
    for _ in range(5):
        with pytest.raises(StoreWriteError):
            accepts(failing)
        with pytest.raises(StoreWriteError, match="database or disk is full"):
            mixed(failing)
    clear()
    assert mixed(failing) == mixed(twin)
    assert observed(failing.store) == observed(twin.store)
    assert [r.getMessage() for r in caplog.records] == [
        f"store writes failing: {failing.store.path}: database or disk is full",
        "store writes recovered after 10 failed transactions"]


def test_a_rollback_that_fails_too_is_finished_by_the_next_write(
    pair: tuple[Prepared, Prepared],
) -> None:
    failing, twin = pair
    failing.connection.fail("COMMIT", io_error)
    failing.connection.fail("ROLLBACK", io_error)
    with pytest.raises(StoreWriteError):
        outcomes(failing)
    assert failing.store._db.in_transaction  # what the failed transaction wrote is open
    failing.connection.clear()
    assert outcomes(failing) == outcomes(twin)
    assert observed(failing.store) == observed(twin.store)
    assert_as_freshly_opened(failing)


def test_a_mistake_in_the_batch_is_raised_as_it_is_and_keeps_nothing(
    pair: tuple[Prepared, Prepared],
) -> None:
    failing, _ = pair
    before = memory_of(failing.store, with_due=True)
    broken = new(network=object())  # sqlite3 cannot bind it
    with pytest.raises(sqlite3.ProgrammingError):
        failing.store.apply(StoreBatch(accepts=[new(), broken],
                                       first_attempts=[UNDER_WAY, None]), at(1))
    assert memory_of(failing.store, with_due=True) == before
    assert_as_freshly_opened(failing)


def test_messages_that_could_not_be_expired_are_expired_later(
    pair: tuple[Prepared, Prepared],
) -> None:
    failing, _ = pair
    (expiring,) = failing.ids["expiring"]
    failing.connection.fail("UPDATE messages", io_error)
    claimed = failing.store.claim_due(at(25), 100)
    assert expiring not in {m.message_id for m in claimed}
    assert failing.store.next_due_at() == at(25 + EXPIRY_RETRY)  # not at once, in a loop
    failing.connection.clear()
    assert failing.store.claim_due(at(25 + EXPIRY_RETRY), 100) == []
    found = failing.store.query(expiring, "acme")
    assert found is not None and found.state is MessageState.EXPIRED
    assert found.final_at == at(25 + EXPIRY_RETRY)



def test_an_observer_that_fails_after_the_commit_does_not_undo_it(
    pair: tuple[Prepared, Prepared], caplog: pytest.LogCaptureFixture,
) -> None:
    failing, twin = pair

    def broken(message: Message) -> None:
        raise RuntimeError("metrics bug")

    failing.store.on_final = broken
    twin.store.on_final = None
    assert outcomes(failing) == outcomes(twin)  # kept, and said so to the committer
    assert observed(failing.store) == observed(twin.store)
    assert memory_of(failing.store, with_due=True) == memory_of(twin.store, with_due=True)
    finished = failing.claimed[0].message_id, failing.ids["under_way"][0]
    assert [r.getMessage() for r in caplog.records] == [
        f"on_final failed for message {message_id}" for message_id in finished]
