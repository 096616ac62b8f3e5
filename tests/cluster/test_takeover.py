"""Stores on one PostgreSQL database as nodes: each works on what it owns, a survivor takes
over a dead node's scheduled messages and owed receipts (one survivor per dead node), items
handed to a node are read in by it, and a node that stops cleanly leaves its work to the
next."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from smsc.pdu.constants import MessageState
from smsc.store import Delivered, OutboundKind, StoreBatch
from smsc.store.errors import StoreWriteError
from smsc.store.postgresql import PostgresqlStore
from tests.store.test_stores import RETRY, accept, at, new, outcome, receipts

pytestmark = pytest.mark.usefixtures("postgresql_server")


@pytest.fixture
def nodes(postgresql_dsn: str) -> Iterator[list[PostgresqlStore]]:
    opened = [PostgresqlStore(postgresql_dsn, retry=RETRY, node_timeout=5.0)
              for _ in range(3)]
    yield opened
    for store in opened:
        store.close()


def deliver(store: PostgresqlStore, *message_ids: int) -> None:
    """Attempt the messages due now, and record them delivered."""
    assert sorted(m.message_id for m in store.claim_due(at(0), 10)) == sorted(message_ids)
    for message_id in message_ids:
        outcome(store, message_id, Delivered(), at(1))


def silence(dsn: str, store: PostgresqlStore) -> None:
    """Make a node's heartbeat older than any timeout (as if it died long ago)."""
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("UPDATE nodes SET heartbeat = 0 WHERE id = %s", (store.node_id,))


def test_a_dead_nodes_messages_and_receipts_go_to_one_survivor(
        nodes: list[PostgresqlStore], postgresql_dsn: str) -> None:
    dead, one, two = nodes
    (scheduled,) = accept(dead, new(schedule_at=at(60)))
    (delivered,) = accept(dead, new())
    deliver(dead, delivered)
    assert one.claim_due(at(120), 10) == [] and receipts(one) == []  # not theirs
    silence(postgresql_dsn, dead)
    assert one.take_over_dead() == [dead.node_id]
    assert two.take_over_dead() == []  # taken already: each dead node has one heir
    assert one.claim_due(at(30), 10) == []  # due as it was scheduled, not before
    assert [m.message_id for m in one.claim_due(at(60), 10)] == [scheduled]
    assert receipts(one) == [(OutboundKind.RECEIPT, delivered, MessageState.DELIVERED)]
    assert two.claim_due(at(120), 10) == [] and receipts(two) == []
    with psycopg.connect(postgresql_dsn) as db:
        assert db.execute("SELECT id FROM nodes ORDER BY id").fetchall() == [
            (one.node_id,), (two.node_id,)]


def test_items_handed_over_are_read_in_by_their_node_only(
        nodes: list[PostgresqlStore]) -> None:
    giver, taker, other = nodes
    ids = accept(giver, new(), new(), new())
    deliver(giver, *ids)
    assert giver.hand_over("acme", taker.node_id, 2) == 2
    assert [item[1] for item in receipts(giver)] == ids[2:]  # the rest stays
    assert other.adopt_outbound() == 0
    assert taker.adopt_outbound() == 2 and taker.adopt_outbound() == 0
    claimed = taker.claim_outbound("acme", 10)
    assert [item.message.message_id for item in claimed] == ids[:2]
    taker.apply(StoreBatch(outbound_acknowledged=[item.item_id for item in claimed]), at(2))
    assert receipts(taker) == []


def test_a_node_stopped_cleanly_leaves_its_work_to_the_next_to_look(
        nodes: list[PostgresqlStore]) -> None:
    leaving, staying, _ = nodes
    (waiting,) = accept(leaving, new(schedule_at=at(60)))
    (delivered,) = accept(leaving, new())
    deliver(leaving, delivered)
    leaving.close()
    assert staying.take_over_dead() == []  # nobody died: what nobody owns is taken all the same
    assert [m.message_id for m in staying.claim_due(at(60), 10)] == [waiting]
    assert [item[1] for item in receipts(staying)] == [delivered]


def test_nothing_is_handed_to_a_node_that_stopped_or_is_silent(
        nodes: list[PostgresqlStore], postgresql_dsn: str) -> None:
    giver, stopped, silent = nodes
    ids = accept(giver, new(), new())
    deliver(giver, *ids)
    stopped.close()
    silence(postgresql_dsn, silent)
    assert giver.hand_over("acme", stopped.node_id, 10) == 0
    assert giver.hand_over("acme", silent.node_id, 10) == 0
    assert [item[1] for item in receipts(giver)] == ids  # still here, none in flight


class CutAfterTakeOver(PostgresqlStore):
    """A store whose connection is lost once, just after a take-over has committed (before
    the owed items taken are read in)."""

    cut = False

    def adopt_outbound(self) -> int:
        if self.cut:
            self.cut = False
            raise StoreWriteError("connection lost")
        return super().adopt_outbound()


def test_a_take_over_whose_owed_items_are_not_read_in_still_says_whom_it_took_over(
        nodes: list[PostgresqlStore], postgresql_dsn: str) -> None:
    """The messages taken are due here: the node must hear of the take-over (it wakes its
    delivery loop), though reading in the owed items failed (they are read at the next
    adopt); the dead node is forgotten, so no later take-over would say it."""
    dead = nodes[0]
    heir = CutAfterTakeOver(postgresql_dsn, retry=RETRY, node_timeout=5.0)
    try:
        (waiting,) = accept(dead, new(schedule_at=at(60)))
        (delivered,) = accept(dead, new())
        deliver(dead, delivered)
        silence(postgresql_dsn, dead)
        heir.cut = True
        assert heir.take_over_dead() == [dead.node_id]
        assert [m.message_id for m in heir.claim_due(at(60), 10)] == [waiting]
        assert heir.adopt_outbound() == 1
        assert [item[1] for item in receipts(heir)] == [delivered]
    finally:
        heir.close()
