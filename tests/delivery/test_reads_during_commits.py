"""On a table store that reads apart (`TableStore.reads_apart`, here PostgreSQL's with it
on) the delivery loop's quick calls go on while a transaction waits for the server: only the
database's part runs on the committer's worker, and the committed batch is applied to memory
afterwards on the trio thread (a failed one not at all)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio

from smsc.clock import Clock
from smsc.delivery.committer import Committer, StorePlacement
from smsc.pdu.constants import MessageState
from smsc.store import NewMessage, StoreBatch
from smsc.store.models import BatchResult, MessageQuery, Transition

pytest.importorskip("psycopg")

from smsc.store.postgresql import PostgresqlStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new(number: int, expires_at: datetime | None = None) -> NewMessage:
    return NewMessage(system_id="acme", destination_addr=f"49151{number:08d}",
                      source_addr="12345", payload=b"hi", submitted_at=T0,
                      expires_at=expires_at)


class GatedStore(PostgresqlStore):
    """A real PostgreSQL store whose batches, once `gate` is closed, wait on the worker
    thread before their transaction until it opens again (as a commit waits for the server),
    and whose quick calls read apart."""

    reads_apart = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def write_batch(self, batch: StoreBatch, now: datetime, expiring: list[Transition]
                    ) -> BatchResult:
        if not self.gate.is_set():
            self.waiting.set()
            assert self.gate.wait(30)
        return super().write_batch(batch, now, expiring)


async def held_commit(store: GatedStore, committer: Committer, number: int,
                      answers: list[int | None]) -> None:
    """Queue one accept and return once its transaction waits at the closed gate."""
    store.gate.clear()
    store.waiting.clear()
    committer.accept(new(number), answers.append)  # type: ignore[arg-type]
    with trio.fail_after(30):
        await trio.to_thread.run_sync(store.waiting.wait)


async def test_claims_and_releases_go_on_while_a_commit_waits(postgresql_dsn: str) -> None:
    store = GatedStore(postgresql_dsn)
    committer = Committer(store, clock=Clock(), placement=StorePlacement.WORKER)
    answers: list[int | None] = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(committer.run)
            committer.accept(new(1), answers.append)  # type: ignore[arg-type]
            await committer.wait_idle()
            await held_commit(store, committer, 2, answers)
            with trio.fail_after(10):  # (before: waited for the commit, so for ever here)
                claimed = await committer.read(store.claim_due, datetime.now(UTC), 10)
                assert [m.message_id for m in claimed] == answers
                await committer.read(store.release, answers)
                due = await committer.read(store.next_due_at)
            assert due is not None
            assert len(answers) == 1  # the second is not answered before its commit
            assert store.pending_count("acme") == 1  # nor counted in memory
            store.gate.set()
            await committer.wait_idle()
            assert len(answers) == 2 and None not in answers
            assert store.pending_count("acme") == 2
            claimed = await committer.read(store.claim_due, datetime.now(UTC), 10)
            assert sorted(m.message_id for m in claimed) == sorted(answers)  # type: ignore[type-var]
            nursery.cancel_scope.cancel()
    finally:
        committer.close()
        store.close()


async def test_a_commit_that_fails_while_claims_go_on_leaves_memory_as_it_was(
    postgresql_dsn: str,
) -> None:
    import psycopg

    store = GatedStore(postgresql_dsn)
    committer = Committer(store, clock=Clock(), placement=StorePlacement.WORKER)
    answers: list[int | None] = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(committer.run)
            committer.accept(new(1), answers.append)  # type: ignore[arg-type]
            await committer.wait_idle()
            before = (store.depth_by_state(), store.pending_count("acme"))
            await held_commit(store, committer, 2, answers)
            with psycopg.connect(postgresql_dsn, autocommit=True) as admin:  # the writer's
                admin.execute("SELECT pg_terminate_backend(%s)",  # connection is lost
                              (store._db.info.backend_pid,))
            claimed = await committer.read(store.claim_due, datetime.now(UTC), 10)
            assert [m.message_id for m in claimed] == answers[:1]
            store.gate.set()
            await committer.wait_idle()
            assert answers[1] is None  # refused: it was never stored
            assert committer.failed_batches == 1
            assert (store.depth_by_state(), store.pending_count("acme")) == before
            assert [m.message_id for m in store.find(MessageQuery())] == answers[:1]
            nursery.cancel_scope.cancel()
    finally:
        committer.close()
        store.close()


async def test_a_message_found_expired_during_a_commit_is_written_by_the_next(
    postgresql_dsn: str,
) -> None:
    store = GatedStore(postgresql_dsn)
    committer = Committer(store, clock=Clock(), placement=StorePlacement.WORKER)
    answers: list[int | None] = []
    expiry = datetime.now(UTC) + timedelta(hours=1)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(committer.run)
            committer.accept(new(1, expires_at=expiry), answers.append)  # type: ignore[arg-type]
            await committer.wait_idle()
            await held_commit(store, committer, 2, answers)
            later = expiry + timedelta(seconds=1)
            assert await committer.read(store.claim_due, later, 10) == []  # expired
            assert await committer.read(store.claim_due, later, 10) == []  # not found again
            store.gate.set()
            await committer.wait_idle()
            expired = store.query(answers[0], "acme")  # type: ignore[arg-type]
            assert expired is not None and expired.state is MessageState.EXPIRED
            assert store.depth_by_state() == {MessageState.EXPIRED: 1,
                                              MessageState.ENROUTE: 1}
            assert store.pending_count("acme") == 1
            nursery.cancel_scope.cancel()
    finally:
        committer.close()
        store.close()
