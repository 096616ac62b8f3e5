"""Both stores, the same behaviour: states, retries, expiry, receipts, query/cancel/replace."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsc.pdu.constants import MessageState
from smsc.store import (
    AcceptRefused,
    Delivered,
    Direction,
    MemoryStore,
    MessageStore,
    NewMessage,
    OutboundKind,
    PermanentFailure,
    RetryPolicy,
    StoreBatch,
    TemporaryFailure,
)
from smsc.store.errors import StoreOpenError
from smsc.store.models import UNDER_WAY, IllegalTransition, Message, check_transition
from smsc.store.sqlite import SqliteStore
from smsc.store.sqlite_schema import StoreLayoutError

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RETRY = RetryPolicy((10.0, 60.0))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageStore]:
    limits = {"limited": 2}
    made: MessageStore
    if request.param == "memory":
        made = MemoryStore(retry=RETRY, max_pending=limits)
    elif request.param == "sqlite":
        made = SqliteStore(tmp_path / "smsc.db", retry=RETRY, max_pending=limits)
    else:
        from smsc.store.postgresql import PostgresqlStore

        made = PostgresqlStore(request.getfixturevalue("postgresql_dsn"), retry=RETRY,
                               max_pending=limits)
    yield made
    made.close()


def new(**fields: object) -> NewMessage:
    values: dict[str, object] = {
        "system_id": "acme", "destination_addr": "4915100000002", "source_addr": "12345",
        "payload": b"hi", "registered_delivery": 1, "submitted_at": T0,
        "expires_at": at(3600),
    }
    values.update(fields)
    return NewMessage(**values)  # type: ignore[arg-type]


def accept(store: MessageStore, *messages: NewMessage, now: datetime = T0) -> list[int]:
    result = store.apply(StoreBatch(accepts=list(messages)), now)
    ids = [i for i in result.accepted if isinstance(i, int)]
    assert len(ids) == len(messages), result.accepted
    return ids


def outcome(store: MessageStore, message_id: int, result: object, now: datetime) -> None:
    store.apply(StoreBatch(outcomes=[(message_id, result)]), now)  # type: ignore[list-item]


def receipts(store: MessageStore, system_id: str = "acme") -> list[tuple[OutboundKind, int,
                                                                          MessageState]]:
    items = store.claim_outbound(system_id, 100)
    store.release_outbound([i.item_id for i in items])
    return [(i.kind, i.message.message_id, i.message.state) for i in items]


def test_ids_are_unique_and_increasing(store: MessageStore) -> None:
    ids = accept(store, new(), new(), new())
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert accept(store, new())[0] > ids[-1]


def test_delivered_message_owes_a_receipt(store: MessageStore) -> None:
    (message_id,) = accept(store, new())
    (claimed,) = store.claim_due(T0, 10)
    assert claimed.message_id == message_id
    assert store.claim_due(T0, 10) == []  # leased
    outcome(store, message_id, Delivered(), at(1))
    found = store.query(message_id, "acme")
    assert found is not None and found.state is MessageState.DELIVERED
    assert found.final_at == at(1) and found.attempts == 1
    assert receipts(store) == [(OutboundKind.RECEIPT, message_id, MessageState.DELIVERED)]
    assert store.pending_count("acme") == 0


@pytest.mark.parametrize(
    ("registered_delivery", "result", "owed"),
    [
        (0, Delivered(), False),
        (1, PermanentFailure(MessageState.UNDELIVERABLE, 1), True),
        (2, Delivered(), False),
        (2, PermanentFailure(MessageState.REJECTED), True),
        (3, Delivered(), True),
        (3, PermanentFailure(), False),
    ],
)
def test_registered_delivery_decides_the_receipt(
    store: MessageStore, registered_delivery: int, result: object, owed: bool
) -> None:
    (message_id,) = accept(store, new(registered_delivery=registered_delivery))
    store.claim_due(T0, 10)
    outcome(store, message_id, result, at(1))
    assert bool(receipts(store)) is owed


def test_temporary_failures_follow_the_retry_schedule_then_expire(store: MessageStore) -> None:
    (message_id,) = accept(store, new(expires_at=at(100), registered_delivery=0x11))
    store.claim_due(T0, 10)
    outcome(store, message_id, TemporaryFailure(27), at(0))
    assert store.next_due_at() == at(10)
    assert store.claim_due(at(9), 10) == []
    assert [m.message_id for m in store.claim_due(at(10), 10)] == [message_id]
    outcome(store, message_id, TemporaryFailure(27), at(10))
    assert store.next_due_at() == at(70)  # the last interval repeats
    assert [m.message_id for m in store.claim_due(at(70), 10)] == [message_id]
    outcome(store, message_id, TemporaryFailure(27), at(70))  # next try at 130 > validity
    found = store.query(message_id, "acme")
    assert found is not None and found.state is MessageState.EXPIRED
    assert found.network_error_code == 27 and found.attempts == 3
    kinds = [k for k, _, _ in receipts(store)]
    assert kinds == [OutboundKind.INTERMEDIATE, OutboundKind.INTERMEDIATE, OutboundKind.RECEIPT]


def test_retry_now_makes_waiting_messages_due_at_once(store: MessageStore) -> None:
    waiting, claimed, done = accept(store, new(), new(), new())
    store.claim_due(T0, 10)
    outcome(store, waiting, TemporaryFailure(27), at(0))
    outcome(store, done, Delivered(), at(0))
    assert store.next_due_at() == at(10)
    assert store.retry_now([waiting, claimed, done, 999], at(2)) == 1  # claimed: left alone
    assert store.next_due_at() == at(2)
    assert [m.message_id for m in store.claim_due(at(2), 10)] == [waiting]
    assert store.retry_now([waiting], at(3)) == 0  # claimed again


def test_message_expiring_while_it_waits_is_finished_at_claim(store: MessageStore) -> None:
    (message_id,) = accept(store, new(expires_at=at(5), schedule_at=at(30)))
    assert store.claim_due(at(30), 10) == []
    found = store.query(message_id, "acme")
    assert found is not None and found.state is MessageState.EXPIRED
    assert receipts(store)[0][2] is MessageState.EXPIRED


def test_scheduled_message_waits_for_its_time(store: MessageStore) -> None:
    accept(store, new(schedule_at=at(60)))
    assert store.claim_due(at(59), 10) == []
    assert store.next_due_at() == at(60)
    assert len(store.claim_due(at(60), 10)) == 1


def test_queue_full_per_account(store: MessageStore) -> None:
    result = store.apply(StoreBatch(accepts=[new(system_id="limited") for _ in range(3)]), T0)
    assert result.accepted[2] is AcceptRefused.QUEUE_FULL
    assert all(isinstance(i, int) for i in result.accepted[:2])
    accept(store, new())  # other accounts are not affected


def test_replace_if_present_replaces_the_pending_message(store: MessageStore) -> None:
    (first,) = accept(store, new(payload=b"one"))
    (second,) = accept(store, new(payload=b"two", replace_if_present=True))
    assert second == first
    found = store.query(first, "acme")
    assert found is not None and found.fields.payload == b"two"
    (third,) = accept(store, new(payload=b"three", replace_if_present=True,
                                 destination_addr="999"))
    assert third != first  # nothing to replace: a new message


def test_query_is_limited_to_the_owner(store: MessageStore) -> None:
    (message_id,) = accept(store, new())
    assert store.query(message_id, "acme") is not None
    assert store.query(message_id, "intruder") is None
    assert store.query(message_id + 100, "acme") is None


def test_cancel_by_id_and_by_destination(store: MessageStore) -> None:
    a, b, c = accept(store, new(), new(), new(destination_addr="777"))
    assert store.cancel(system_id="intruder", now=at(1), message_id=a) == 0
    assert store.cancel(system_id="acme", now=at(1), message_id=a, source_addr="wrong") == 0
    assert store.cancel(system_id="acme", now=at(1), message_id=a) == 1
    assert store.cancel(system_id="acme", now=at(1), message_id=a) == 0  # already final
    assert store.cancel(system_id="acme", now=at(2), destination_addr="4915100000002") == 1
    states = {i: store.query(i, "acme").state for i in (a, b, c)}  # type: ignore[union-attr]
    assert states == {a: MessageState.DELETED, b: MessageState.DELETED,
                      c: MessageState.ENROUTE}
    assert [s for _, _, s in receipts(store)] == [MessageState.DELETED] * 2
    assert [m.message_id for m in store.claim_due(at(3), 10)] == [c]


def test_replace_changes_only_pending_messages_of_the_owner(store: MessageStore) -> None:
    (message_id,) = accept(store, new(schedule_at=at(50)))
    common = {"message_id": message_id, "source_addr": "12345", "now": at(1),
              "expires_at": None, "registered_delivery": None}
    assert not store.replace(system_id="intruder", payload=b"x", schedule_at=None, **common)
    assert store.replace(system_id="acme", payload=b"new", schedule_at=at(80), **common)
    found = store.query(message_id, "acme")
    assert found is not None and found.fields.payload == b"new"
    assert store.claim_due(at(60), 10) == []
    assert len(store.claim_due(at(80), 10)) == 1


def test_outbound_acknowledged_or_requeued(store: MessageStore) -> None:
    (message_id,) = accept(store, new())
    store.claim_due(T0, 10)
    outcome(store, message_id, Delivered(), at(1))
    assert store.systems_with_outbound() == {"acme"}
    (item,) = store.claim_outbound("acme", 10)
    assert store.claim_outbound("acme", 10) == []  # leased
    store.apply(StoreBatch(outbound_failed=[item.item_id]), at(2))
    (again,) = store.claim_outbound("acme", 10)
    assert again.item_id == item.item_id and again.attempts == 1
    store.apply(StoreBatch(outbound_acknowledged=[item.item_id]), at(3))
    assert store.claim_outbound("acme", 10) == []
    assert store.systems_with_outbound() == set()


def test_mobile_originated_messages_queue_for_their_account(store: MessageStore) -> None:
    (message_id,) = accept(store, new(direction=Direction.MO, system_id="acme"))
    (item,) = store.claim_outbound("acme", 10)
    assert item.kind is OutboundKind.MO and item.message.message_id == message_id
    assert store.claim_due(T0, 10) == []  # nothing to deliver to a handset


def test_purge_removes_old_finished_messages_only(store: MessageStore) -> None:
    done, waiting = accept(store, new(registered_delivery=0), new(schedule_at=at(10**6)))
    store.claim_due(T0, 10)
    outcome(store, done, Delivered(), at(1))
    assert store.purge_finished(at(0), 100) == 0
    assert store.purge_finished(at(2), 100) == 1
    assert store.query(done, "acme") is None
    assert store.query(waiting, "acme") is not None


def test_final_states_never_change() -> None:
    for state in (MessageState.DELIVERED, MessageState.EXPIRED, MessageState.DELETED,
                  MessageState.UNDELIVERABLE, MessageState.REJECTED):
        with pytest.raises(IllegalTransition):
            check_transition(state, MessageState.ENROUTE)
    check_transition(MessageState.ENROUTE, MessageState.DELIVERED)
    assert Message(1, new()).state is MessageState.ENROUTE


def test_sqlite_survives_reopen_without_close(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    first = SqliteStore(path, retry=RETRY)
    a, b, c = accept(first, new(), new(), new())
    first.claim_due(T0, 10)
    outcome(first, a, Delivered(), at(1))  # receipt owed, never acknowledged
    first.claim_outbound("acme", 10)
    # copy the files while the store is open: what a kill -9 would leave behind
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for file in tmp_path.glob("smsc.db*"):
        shutil.copy(file, crashed / file.name)
    first.close()
    reopened = SqliteStore(crashed / "smsc.db", retry=RETRY)
    assert sorted(m.message_id for m in reopened.claim_due(at(2), 10)) == [b, c]
    assert [i.message.message_id for i in reopened.claim_outbound("acme", 10)] == [a]
    (d,) = accept(reopened, new())
    assert d > c
    reopened.close()


def test_sqlite_writes_each_message_its_own_times_when_a_batch_shares_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "smsc.db"
    first = SqliteStore(path, retry=RETRY)
    shared_submit, shared_expiry = at(1), at(3600)  # one chunk's submits share these objects
    messages = [
        new(submitted_at=shared_submit, expires_at=shared_expiry),
        new(submitted_at=shared_submit, expires_at=shared_expiry),
        new(submitted_at=at(2), expires_at=shared_expiry),
        new(submitted_at=at(2), expires_at=None),
        new(submitted_at=None, expires_at=at(7200)),
        new(submitted_at=shared_submit, expires_at=shared_expiry),
    ]
    firsts = [Delivered(), None, Delivered(), None, Delivered(), None]
    result = first.apply(StoreBatch(accepts=messages, first_attempts=firsts), T0)
    first.close()
    reopened = SqliteStore(path, retry=RETRY)  # read from the rows, not the cache
    for message_id, written in zip(result.accepted, messages, strict=True):
        assert isinstance(message_id, int)
        found = reopened.query(message_id, "acme")
        assert found is not None
        assert (found.fields.submitted_at, found.fields.expires_at) == (
            written.submitted_at, written.expires_at)
    reopened.close()


def test_depth_by_state_follows_every_change(store: MessageStore) -> None:
    delivered, failed, cancelled, waiting = accept(
        store, new(), new(), new(), new(schedule_at=at(10**6)))
    accept(store, new(direction=Direction.MO))
    assert store.depth_by_state() == {MessageState.ENROUTE: 4, MessageState.DELIVERED: 1}
    store.claim_due(T0, 10)
    outcome(store, delivered, Delivered(), at(1))
    outcome(store, failed, PermanentFailure(), at(1))
    assert store.cancel(system_id="acme", now=at(1), message_id=cancelled) == 1
    assert store.depth_by_state() == {
        MessageState.ENROUTE: 1, MessageState.DELIVERED: 2,
        MessageState.UNDELIVERABLE: 1, MessageState.DELETED: 1,
    }
    for item in store.claim_outbound("acme", 100):  # receipts acknowledged: purgeable
        store.apply(StoreBatch(outbound_acknowledged=[item.item_id]), at(2))
    assert store.purge_finished(at(3), 100) == 4
    assert store.depth_by_state() == {MessageState.ENROUTE: 1}
    assert store.query(waiting, "acme") is not None


def test_sqlite_counts_states_again_when_reopened(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    done, _ = accept(first, new(), new())
    first.claim_due(T0, 10)
    outcome(first, done, Delivered(), at(1))
    before = first.depth_by_state()
    first.close()
    again = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    assert again.depth_by_state() == before == {MessageState.ENROUTE: 1,
                                                 MessageState.DELIVERED: 1}
    again.close()


def test_replace_if_present_skips_finished_and_claimed_messages(store: MessageStore) -> None:
    (first,) = accept(store, new(payload=b"one", replace_if_present=True))
    (second,) = accept(store, new(payload=b"two"))
    assert second != first  # only a submit that asks replaces
    store.claim_due(T0, 10)  # both claimed: neither may change under the delivery
    (third,) = accept(store, new(payload=b"three", replace_if_present=True))
    assert third not in (first, second)
    outcome(store, first, Delivered(), at(1))
    outcome(store, second, Delivered(), at(1))
    (fourth,) = accept(store, new(payload=b"four", replace_if_present=True))
    assert fourth == third  # the one pending and unclaimed message left
    found = store.query(third, "acme")
    assert found is not None and found.fields.payload == b"four"


def accept_attempted(store: MessageStore, *pairs: tuple[NewMessage, object],
                     now: datetime = T0) -> list[int]:
    batch = StoreBatch(accepts=[m for m, _ in pairs],
                       first_attempts=[a for _, a in pairs])  # type: ignore[misc]
    result = store.apply(batch, now)
    ids = [i for i in result.accepted if isinstance(i, int)]
    assert len(ids) == len(pairs), result.accepted
    return ids


def test_first_attempt_ended_at_accept_is_stored_with_its_outcome(store: MessageStore) -> None:
    delivered, failed, waiting, plain = accept_attempted(
        store,
        (new(registered_delivery=0x05), Delivered()),
        (new(), PermanentFailure(MessageState.UNDELIVERABLE, 1)),
        (new(registered_delivery=0x11), TemporaryFailure(27)),
        (new(), None),
    )
    found = store.query(delivered, "acme")
    assert found is not None and found.state is MessageState.DELIVERED
    assert found.attempts == 1 and found.final_at == T0
    found = store.query(failed, "acme")
    assert found is not None and found.state is MessageState.UNDELIVERABLE
    assert found.network_error_code == 1
    found = store.query(waiting, "acme")
    assert found is not None and found.state is MessageState.ENROUTE
    assert found.attempts == 1 and found.next_attempt_at == at(10)
    assert receipts(store) == [
        (OutboundKind.RECEIPT, delivered, MessageState.DELIVERED),
        (OutboundKind.DELIVERY_ACK, delivered, MessageState.DELIVERED),
        (OutboundKind.RECEIPT, failed, MessageState.UNDELIVERABLE),
        (OutboundKind.INTERMEDIATE, waiting, MessageState.ENROUTE),
    ]
    assert store.pending_count("acme") == 2
    assert store.depth_by_state() == {MessageState.DELIVERED: 1,
                                      MessageState.UNDELIVERABLE: 1, MessageState.ENROUTE: 2}
    assert [m.message_id for m in store.claim_due(T0, 10)] == [plain]  # the others are not due
    assert store.next_due_at() == at(10)
    assert [m.message_id for m in store.claim_due(at(10), 10)] == [waiting]


def test_first_attempt_under_way_is_stored_claimed(store: MessageStore) -> None:
    (message_id,) = accept_attempted(store, (new(), UNDER_WAY))
    assert store.claim_due(at(100), 10) == []  # its attempt is running
    assert store.next_due_at() is None
    assert store.retry_now([message_id], at(1)) == 0
    assert store.pending_count("acme") == 1
    outcome(store, message_id, Delivered(), at(2))
    found = store.query(message_id, "acme")
    assert found is not None and found.state is MessageState.DELIVERED
    assert found.final_at == at(2)
    assert receipts(store) == [(OutboundKind.RECEIPT, message_id, MessageState.DELIVERED)]


def test_sqlite_message_under_way_at_a_crash_is_due_again(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    under_way, delivered = accept_attempted(first, (new(), UNDER_WAY), (new(), Delivered()))
    first.close()
    again = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    assert [m.message_id for m in again.claim_due(at(1), 10)] == [under_way]
    assert [i.message.message_id for i in again.claim_outbound("acme", 10)] == [delivered]
    again.close()


def test_sqlite_failed_write_forgets_its_claims(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    broken = new(network=object())  # sqlite3 cannot bind it: the transaction rolls back
    with pytest.raises(sqlite3.ProgrammingError):
        accept_attempted(store, (new(), UNDER_WAY), (broken, None))
    (message_id,) = accept(store, new())  # takes the id the failed write did not keep
    assert [m.message_id for m in store.claim_due(T0, 10)] == [message_id]
    store.close()


def test_rows_with_every_pattern_of_empty_times_read_back(store: MessageStore) -> None:
    shapes = [
        new(submitted_at=None, expires_at=None),
        new(expires_at=None),
        new(schedule_at=at(5)),
        new(),
    ]
    ids = accept_attempted(store, *((m, None) for m in shapes),
                           (new(), Delivered(7)), (new(expires_at=None), Delivered()))
    for message_id, shape in zip(ids, shapes, strict=False):
        found = store.query(message_id, "acme")
        assert found is not None
        assert (found.fields.submitted_at, found.fields.expires_at, found.fields.schedule_at) \
            == (shape.submitted_at, shape.expires_at, shape.schedule_at)
    coded, uncoded = (store.query(i, "acme") for i in ids[-2:])
    assert coded is not None and coded.network_error_code == 7
    assert uncoded is not None and uncoded.network_error_code is None
    assert uncoded.fields.expires_at is None and uncoded.final_at == T0


def test_outbound_claims_continue_where_the_last_stopped(store: MessageStore) -> None:
    ids = accept_attempted(store, *((new(), Delivered()) for _ in range(6)))
    first = store.claim_outbound("acme", 2)
    second = store.claim_outbound("acme", 2)
    assert [i.message.message_id for i in first + second] == ids[:4]
    store.apply(StoreBatch(outbound_failed=[first[1].item_id]), at(1))
    store.release_outbound([second[0].item_id])
    again = store.claim_outbound("acme", 10)  # the two given back, and the new ones
    assert sorted(i.message.message_id for i in again) == [ids[1], ids[2], ids[4], ids[5]]
    assert store.claim_outbound("acme", 10) == []
    store.apply(StoreBatch(outbound_acknowledged=[i.item_id for i in first + second + again]),
                at(2))
    assert store.claim_outbound("acme", 10) == []
    assert store.systems_with_outbound() == set()


def test_sqlite_owed_items_read_back_as_written_run_or_single(tmp_path: Path) -> None:
    """A batch's receipts for consecutive messages are written as one statement, the rest
    row by row: read back from the table, every item is what the mirror held."""
    store = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    accept_attempted(
        store,
        *((new(), Delivered()) for _ in range(4)),  # a run
        (new(registered_delivery=0x05), Delivered()),  # receipt and ack: two kinds
        (new(system_id="beta"), Delivered()),
        *((new(), PermanentFailure(MessageState.UNDELIVERABLE, 1)) for _ in range(3)),
        *((new(), Delivered()) for _ in range(2)),  # too short for a run
        (new(registered_delivery=0), Delivered()),  # owes nothing: ends the run
        *((new(), Delivered()) for _ in range(5)),
    )

    def owed(opened: SqliteStore) -> list[tuple[int, str, OutboundKind, int, MessageState]]:
        items = opened.claim_outbound("acme", 100) + opened.claim_outbound("beta", 100)
        return [(i.item_id, i.system_id, i.kind, i.message.message_id, i.message.state)
                for i in items]

    mirrored = owed(store)
    store.close()
    again = SqliteStore(tmp_path / "smsc.db", retry=RETRY, mirror_limit=0)
    assert owed(again) == mirrored
    assert len(mirrored) == 17 and len({item[0] for item in mirrored}) == 17
    again.close()


@settings(max_examples=40, deadline=None)
@given(acked=st.sets(st.integers(0, 29)))
def test_sqlite_acknowledging_any_items_leaves_exactly_the_others(
    tmp_path_factory: pytest.TempPathFactory, acked: set[int]
) -> None:
    store = SqliteStore(tmp_path_factory.mktemp("acks") / "smsc.db", retry=RETRY)
    accept_attempted(store, *((new(), Delivered()) for _ in range(30)))
    items = store.claim_outbound("acme", 100)
    sent = [items[i].item_id for i in sorted(acked)]
    store.apply(StoreBatch(outbound_acknowledged=sent + sent[:2]), at(1))  # a repeat is harmless
    store.release_outbound([i.item_id for i in items])
    left = {i.item_id for i in store.claim_outbound("acme", 100)}
    assert left == {i.item_id for i in items} - set(sent)
    assert store.outbound_counts().get("acme", 0) == 30 - len(acked)
    store.close()


_OUTBOUND_STEPS = st.lists(st.one_of(
    st.tuples(st.just("accept"), st.integers(1, 4), st.sampled_from(["acme", "beta"])),
    st.tuples(st.just("claim"), st.integers(1, 5), st.sampled_from(["acme", "beta"])),
    st.tuples(st.sampled_from(["sent", "failed", "release"]), st.integers(0, 6), st.just("")),
    st.tuples(st.just("reopen"), st.just(0), st.just("")),
), max_size=30)


@settings(max_examples=60, deadline=None)
@given(steps=_OUTBOUND_STEPS)
@example(steps=[("accept", 1, "acme"), ("claim", 2, "acme"), ("failed", 1, ""),
                ("claim", 2, "acme")])
@example(steps=[("accept", 4, "acme"), ("claim", 2, "acme"), ("accept", 2, "acme"),
                ("release", 1, ""), ("claim", 3, "acme"), ("sent", 6, ""), ("claim", 5, "acme"),
                ("sent", 6, ""), ("accept", 2, "acme"), ("claim", 1, "acme"), ("reopen", 0, ""),
                ("claim", 5, "acme")])
def test_sqlite_outbound_claims_are_the_same_mirrored_spilled_or_read(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, str]]
) -> None:
    """Claims from the in-memory mirror, from the table (an account over the mirror's limit),
    and across the switch between the two hand out the same items, attempts and order,
    whatever is acknowledged, refused or given back, and after a restart."""
    folder = tmp_path_factory.mktemp("mirror")
    limits = {"mirrored": 1000, "spilling": 3, "read": 0}
    stores = {name: SqliteStore(folder / f"{name}.db", retry=RETRY, mirror_limit=limit)
              for name, limit in limits.items()}
    leased: dict[str, list[int]] = {name: [] for name in stores}
    try:
        for action, count, system_id in steps:
            seen = {}
            for name, store in stores.items():
                if action == "accept":
                    accept_attempted(store, *((new(system_id=system_id), Delivered())
                                              for _ in range(count)))
                elif action == "claim":
                    items = store.claim_outbound(system_id, count)
                    leased[name] += [i.item_id for i in items]
                    seen[name] = [(i.item_id, i.message.message_id, i.attempts) for i in items]
                elif action == "reopen":
                    store.close()
                    stores[name] = SqliteStore(folder / f"{name}.db", retry=RETRY,
                                               mirror_limit=limits[name])
                    leased[name] = []
                else:
                    chosen, leased[name] = leased[name][:count], leased[name][count:]
                    if action == "sent":
                        store.apply(StoreBatch(outbound_acknowledged=chosen), at(1))
                    elif action == "failed":
                        store.apply(StoreBatch(outbound_failed=chosen), at(1))
                    else:
                        store.release_outbound(chosen)
            assert len({repr(claimed) for claimed in seen.values()}) <= 1, seen
            counts = {name: store.outbound_counts() for name, store in stores.items()}
            assert len({repr(sorted(c.items())) for c in counts.values()}) == 1, counts
        for store in stores.values():  # everything left is still there, oldest first
            rest = store.claim_outbound("acme", 1000) + store.claim_outbound("beta", 1000)
            store.release_outbound([i.item_id for i in rest])
        left = {name: sorted(i.item_id for s in ("acme", "beta")
                             for i in store.claim_outbound(s, 1000))
                for name, store in stores.items()}
        assert len({repr(v) for v in left.values()}) == 1, left
    finally:
        for store in stores.values():
            store.close()


def test_sqlite_purge_keeps_what_is_owed_and_goes_on_past_it(tmp_path: Path) -> None:
    """Owed messages stay until acknowledged, and a run held back by one does not hold back
    the runs after it."""
    store = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    owed = accept_attempted(store, *((new(), Delivered()) for _ in range(3)), now=at(1))
    quiet = [accept_attempted(store, (new(registered_delivery=0), Delivered()), now=at(2))[0]
             for _ in range(5)]
    young = accept_attempted(store, (new(registered_delivery=0), Delivered()), now=at(50))
    assert store.purge_finished(at(10), 2) == 2  # one batch a run: two runs
    assert store.purge_finished(at(10), 100) == 3
    assert store.purge_finished(at(10), 100) == 0
    assert all(store.query(i, "acme") is not None for i in owed + young)
    assert all(store.query(i, "acme") is None for i in quiet)
    items = store.claim_outbound("acme", 10)
    store.apply(StoreBatch(outbound_acknowledged=[items[1].item_id]), at(3))  # one acknowledged
    # what was held back waits behind the runs that finished after it was last looked at
    assert store.purge_finished(at(10), 100) == 0
    assert store.purge_finished(at(60), 100) == 2
    assert [store.query(i, "acme") is None for i in owed + young] == [False, True, False, True]
    store.close()
    again = SqliteStore(tmp_path / "smsc.db", retry=RETRY)  # the runs are on disk
    left = again.claim_outbound("acme", 10)
    again.apply(StoreBatch(outbound_acknowledged=[i.item_id for i in left]), at(4))
    assert again.purge_finished(at(60), 100) == 2
    assert again.depth_by_state() == {}
    assert again._db.execute("SELECT COUNT(*) FROM finished").fetchone() == (0,)
    again.close()


_OCTET = st.integers(0, 255)
_MOMENT = st.none() | st.integers(0, 10**6).map(at)


def message_fields(text: Callable[..., st.SearchStrategy[str]] = st.text
                   ) -> st.SearchStrategy[dict[str, object]]:
    """Every field of a NewMessage but its account, any value it may hold; strings drawn by
    `text(max_size=...)`."""
    return st.fixed_dictionaries({
        "source_addr_ton": _OCTET, "source_addr_npi": _OCTET, "dest_addr_ton": _OCTET,
        "dest_addr_npi": _OCTET, "esm_class": _OCTET, "protocol_id": _OCTET,
        "priority_flag": _OCTET, "registered_delivery": _OCTET, "data_coding": _OCTET,
        "replace_if_present": st.booleans(), "direction": st.sampled_from(Direction),
        "service_type": text(max_size=5), "source_addr": text(max_size=21),
        "destination_addr": text(max_size=21), "network": text(max_size=8),
        "payload": st.binary(max_size=300), "extra": st.binary(max_size=20),
        "fate": st.binary(max_size=12), "submitted_at": _MOMENT, "expires_at": _MOMENT,
        "schedule_at": _MOMENT,
    })


@settings(max_examples=60, deadline=None)
@given(fields=message_fields())
def test_sqlite_every_field_reads_back_from_disk_as_written(
    tmp_path_factory: pytest.TempPathFactory, fields: dict[str, object]
) -> None:
    path = tmp_path_factory.mktemp("fields") / "smsc.db"
    message = NewMessage(system_id="acme", **fields)  # type: ignore[arg-type]
    store = SqliteStore(path, retry=RETRY)
    result = store.apply(StoreBatch(accepts=[message]), T0)
    store.close()
    (message_id,) = result.accepted
    again = SqliteStore(path, retry=RETRY)  # nothing cached: read from the row
    found = again.query(message_id, "acme")  # type: ignore[arg-type]
    again.close()
    assert found is not None and found.fields == message


LAYOUT_1 = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL, direction TEXT NOT NULL, service_type TEXT NOT NULL,
    source_addr_ton INTEGER NOT NULL, source_addr_npi INTEGER NOT NULL,
    source_addr TEXT NOT NULL, dest_addr_ton INTEGER NOT NULL, dest_addr_npi INTEGER NOT NULL,
    destination_addr TEXT NOT NULL, esm_class INTEGER NOT NULL, protocol_id INTEGER NOT NULL,
    priority_flag INTEGER NOT NULL, registered_delivery INTEGER NOT NULL,
    data_coding INTEGER NOT NULL, payload BLOB NOT NULL, submitted_at REAL, expires_at REAL,
    schedule_at REAL, replace_if_present INTEGER NOT NULL, network TEXT NOT NULL,
    extra BLOB NOT NULL,
    state INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_at REAL, final_at REAL,
    network_error_code INTEGER
);
CREATE INDEX messages_pending ON messages (state) WHERE state = 1;
CREATE INDEX messages_replace ON messages
    (system_id, destination_addr, source_addr, service_type) WHERE state = 1;
CREATE INDEX messages_final ON messages (final_at) WHERE final_at IS NOT NULL;
CREATE TABLE outbound (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    system_id TEXT NOT NULL, kind TEXT NOT NULL, message_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, state INTEGER NOT NULL
);
CREATE INDEX outbound_system ON outbound (system_id, item_id);
PRAGMA user_version = 1;
"""
"""The tables as the first layout wrote them (every field a column of its own)."""


def test_sqlite_reads_and_upgrades_a_database_of_the_first_layout(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    old = sqlite3.connect(path)
    old.executescript(LAYOUT_1)
    t0 = T0.timestamp()
    old.executemany(
        "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?, ?, ?, ?, ?)", [
            (3, "acme", "mt", "CMT", 1, 1, "12345", 1, 1, "4915100000002", 0x40, 0x7F, 2, 1,
             8, b"\x00h\x00i", t0, t0 + 3600, None, 1, "vodafone", b"\x02\x0c", 1, 1, t0 + 10,
             None, 27),
            (4, "acme", "mt", "", 5, 0, "Shop", 1, 1, "4915100000003", 0, 0, 0, 1, 0, b"done",
             t0, None, None, 0, "", b"", 2, 1, None, t0 + 1, None),
            (5, "acme", "mo", "", 1, 1, "4915100000004", 0, 0, "4242", 0, 0, 0, 0, 0, b"STOP",
             t0, None, None, 0, "", b"", 2, 0, None, t0 + 1, None),
        ])
    old.execute("INSERT INTO outbound (item_id, system_id, kind, message_id, state) "
                "VALUES (7, 'acme', 'receipt', 4, 2)")
    old.execute("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'messages'")  # 6-9 purged
    old.commit()
    old.close()

    store = SqliteStore(path, retry=RETRY)
    waiting = store.query(3, "acme")
    assert waiting is not None and waiting.state is MessageState.ENROUTE
    assert waiting.fields == NewMessage(
        system_id="acme", destination_addr="4915100000002", payload=b"\x00h\x00i",
        service_type="CMT", source_addr_ton=1, source_addr_npi=1, source_addr="12345",
        dest_addr_ton=1, dest_addr_npi=1, esm_class=0x40, protocol_id=0x7F, priority_flag=2,
        registered_delivery=1, data_coding=8, submitted_at=T0, expires_at=at(3600),
        replace_if_present=True, network="vodafone", extra=b"\x02\x0c")
    assert (waiting.attempts, waiting.next_attempt_at, waiting.network_error_code) \
        == (1, at(10), 27)
    mobile = store.query(5, "acme")
    assert mobile is not None and mobile.fields.direction is Direction.MO
    assert [m.message_id for m in store.claim_due(at(10), 10)] == [3]
    (item,) = store.claim_outbound("acme", 10)
    assert (item.item_id, item.kind, item.message.message_id) == (7, OutboundKind.RECEIPT, 4)
    assert store.depth_by_state() == {MessageState.ENROUTE: 1, MessageState.DELIVERED: 2}
    (fresh,) = accept(store, new())
    assert fresh == 10  # no id given out twice
    assert store.purge_finished(at(5), 100) == 1  # the MO; the owed receipt's message stays
    store.apply(StoreBatch(outbound_acknowledged=[item.item_id]), at(5))
    assert store.purge_finished(at(5), 100) == 1
    store.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone() == (4,)
    indexes = {name for (name,) in check.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert indexes == {"messages_pending", "messages_replace", "messages_multi"}
    check.close()


def test_a_message_keeps_its_fate_through_claims_and_replacement(store: MessageStore) -> None:
    fate = bytes(range(12))
    (message_id,) = accept(store, new(fate=fate, replace_if_present=True))
    (claimed,) = store.claim_due(at(1), 10)
    assert claimed.message_id == message_id and claimed.fields.fate == fate
    outcome(store, message_id, TemporaryFailure(), at(2))
    (replacing,) = accept(store, new(fate=b"another", replace_if_present=True), now=at(3))
    assert replacing == message_id  # the submit replaced the waiting message, fate and all
    found = store.query(message_id, "acme")
    assert found is not None and found.fields.fate == b"another"


def test_sqlite_upgrades_a_database_of_the_second_layout(tmp_path: Path) -> None:
    """Layout 2 had no fate column: its rows read back with an empty fate, new ones keep
    theirs, and the file says layout 4 once opened (layout 3's fate and layout 4's
    multi_id added)."""
    path = tmp_path / "smsc.db"
    store = SqliteStore(path, retry=RETRY)
    (old_id,) = accept(store, new(fate=b"dropped"))
    store.close()
    layout_2 = sqlite3.connect(path)
    layout_2.execute("DROP INDEX messages_multi")  # (layout 4's)
    layout_2.execute("ALTER TABLE messages DROP COLUMN multi_id")
    layout_2.execute("ALTER TABLE messages DROP COLUMN fate")
    layout_2.execute("PRAGMA user_version = 2")
    layout_2.close()
    upgraded = SqliteStore(path, retry=RETRY)
    (fresh_id,) = accept(upgraded, new(fate=b"\x01" * 12))
    upgraded.close()
    again = SqliteStore(path, retry=RETRY)
    found_old, found_fresh = again.query(old_id, "acme"), again.query(fresh_id, "acme")
    again.close()
    assert found_old is not None and found_old.fields == new()
    assert found_fresh is not None and found_fresh.fields.fate == b"\x01" * 12
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone() == (4,)
    check.close()


def test_sqlite_refuses_a_second_layout_database_with_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    SqliteStore(path, retry=RETRY).close()
    changed = sqlite3.connect(path)
    changed.execute("PRAGMA user_version = 2")  # yet with the fate column of layout 3
    changed.close()
    with pytest.raises(StoreOpenError, match=r"not an SMSC store of layout 2 \(table messages"):
        SqliteStore(path, retry=RETRY)


def test_sqlite_refuses_a_layout_newer_than_it_knows(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    newer = sqlite3.connect(path)
    newer.execute("PRAGMA user_version = 99")
    newer.close()
    with pytest.raises(StoreLayoutError, match="layout 99"):
        SqliteStore(path, retry=RETRY)


@pytest.mark.parametrize("size", [1, 3, 64, 65, 127, 500])
def test_sqlite_batches_of_any_size_store_each_message_under_its_id(
    tmp_path: Path, size: int
) -> None:
    store = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    first = accept(store, new(destination_addr="first"))
    ids = accept(store, *(new(destination_addr=f"49{i:04d}") for i in range(size)))
    assert ids == list(range(first[0] + 1, first[0] + 1 + size))
    store.close()
    again = SqliteStore(tmp_path / "smsc.db", retry=RETRY)
    for i, message_id in enumerate(ids):
        found = again.query(message_id, "acme")
        assert found is not None and found.fields.destination_addr == f"49{i:04d}"
    (after,) = accept(again, new())
    assert after == ids[-1] + 1
    again.close()


def test_released_items_come_back_first_and_in_their_order(store: MessageStore) -> None:
    accept_attempted(store, *((new(), Delivered()) for _ in range(5)))
    claimed = store.claim_outbound("acme", 3)
    store.release_outbound([item.item_id for item in claimed[1:]])  # the window took one
    again = store.claim_outbound("acme", 10)
    assert [i.item_id for i in again] == [i.item_id for i in claimed[1:]] + sorted(
        i.item_id for i in again[2:])
    assert len(again) == 4 and claimed[0].item_id not in {i.item_id for i in again}


def test_memory_store_keeps_at_most_max_finished_oldest_forgotten_first() -> None:
    """However they finish (at accept, by an outcome, by expiry, by cancel_sm), no more than
    max_finished finished messages stay queryable; the oldest go first, pending ones never,
    and the receipts of the forgotten still go out."""
    store = MemoryStore(retry=RETRY, max_finished=3)

    def kept(ids: list[int]) -> list[bool]:
        return [store.query(i, "acme") is not None for i in ids]

    first = accept_attempted(store, *((new(), Delivered()) for _ in range(2)), now=at(1))
    pending = accept(store, new(), new(expires_at=at(5)), new(), now=at(2))
    later = accept_attempted(store, *((new(), Delivered()) for _ in range(2)), now=at(3))
    assert kept(first + later) == [False, True, True, True]  # finished at accept
    store.claim_due(at(2), 10)
    outcome(store, pending[0], Delivered(), at(4))  # finished by an outcome
    assert kept(first + later) == [False, False, True, True]
    store.release(pending[1:])
    assert [m.message_id for m in store.claim_due(at(6), 10)] == [pending[2]]
    assert kept(later + pending) == [False, True, True, True, True]  # pending[1] expired
    assert store.cancel(system_id="acme", now=at(7), message_id=pending[2]) == 1
    assert kept(first + later + pending) == [False] * 4 + [True] * 3
    assert sum(store.depth_by_state().values()) == 3
    owed = [i.message.message_id for i in store.claim_outbound("acme", 100)]
    assert set(first + later) <= set(owed)


def test_memory_store_without_max_finished_keeps_every_finished_message() -> None:
    store = MemoryStore(retry=RETRY)
    done = accept_attempted(store, *((new(), Delivered()) for _ in range(50)), now=at(1))
    assert all(store.query(i, "acme") is not None for i in done)
