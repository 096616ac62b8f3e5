"""Where the committer runs store calls, and the checkpoints it takes over from SQLite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio

from smsc.app import open_store
from smsc.clock import Clock
from smsc.config import ConfigError, parse_config
from smsc.delivery.committer import Committer, StorePlacement
from smsc.store import MemoryStore, NewMessage, StoreBatch
from smsc.store.models import BatchResult
from smsc.store.sqlite import CHECKPOINT_COMMITS, SqliteStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def new(number: int) -> NewMessage:
    return NewMessage(system_id="acme", destination_addr=f"49151{number:08d}",
                      source_addr="12345", payload=b"hi", submitted_at=T0)


class WatchedStore(SqliteStore):
    """A real SQLite store that notes the thread each transaction and checkpoint ran on, and
    can hold its checkpoint from another connection until told to go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.apply_threads: set[int] = set()
        self.alongside_threads: list[int] = []
        self.checkpoint_threads: list[int] = []
        self.alongside_started = threading.Event()
        self.go_on = threading.Event()
        self.go_on.set()

    def apply(self, batch: StoreBatch, now: datetime) -> BatchResult:
        self.apply_threads.add(threading.get_ident())
        return super().apply(batch, now)

    def checkpoint_alongside(self) -> None:
        self.alongside_threads.append(threading.get_ident())
        self.alongside_started.set()
        assert self.go_on.wait(30)
        super().checkpoint_alongside()

    def checkpoint(self) -> None:
        self.checkpoint_threads.append(threading.get_ident())
        super().checkpoint()


async def commit_rounds(committer: Committer, first: int, rounds: int) -> list[int | None]:
    """Submit one message a round and wait for the committer to be idle each time."""
    ids: list[int | None] = []
    for number in range(first, first + rounds):
        committer.accept(new(number), ids.append)  # type: ignore[arg-type]
        await committer.wait_idle()
    return ids


async def test_commits_run_on_the_trio_thread_and_go_on_during_a_checkpoint(
    tmp_path: Path,
) -> None:
    here = threading.get_ident()
    store = WatchedStore(tmp_path / "smsc.db", checkpoints="caller")
    store.go_on.clear()
    committer = Committer(store, clock=Clock(), placement=StorePlacement.COMMITS_ON_LOOP)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(committer.run)
            ids = await commit_rounds(committer, 0, CHECKPOINT_COMMITS - 1)
            assert store.alongside_threads == []  # not due yet
            ids += await commit_rounds(committer, len(ids), 1)
            with trio.fail_after(30):
                await trio.to_thread.run_sync(store.alongside_started.wait)
            ids += await commit_rounds(committer, len(ids), 10)  # committed while it syncs
            assert committer.checkpoints == 0
            store.go_on.set()
            with trio.fail_after(30):
                await committer.wait_checkpointed()
            nursery.cancel_scope.cancel()
    finally:
        committer.close()
        store.close()
    assert ids == list(range(1, CHECKPOINT_COMMITS + 11))
    assert store.apply_threads == {here}
    assert committer.checkpoints == 1  # one at a time, though due all along
    assert len(store.alongside_threads) == len(store.checkpoint_threads) == 1
    assert here not in store.alongside_threads + store.checkpoint_threads
    assert store.alongside_threads != store.checkpoint_threads  # its own thread, then the worker


async def test_with_synchronous_full_everything_runs_on_the_worker(tmp_path: Path) -> None:
    store = WatchedStore(tmp_path / "smsc.db", synchronous="FULL")
    committer = Committer(store, clock=Clock(), placement=StorePlacement.WORKER)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(committer.run)
            ids = await commit_rounds(committer, 0, CHECKPOINT_COMMITS + 5)
            nursery.cancel_scope.cancel()
    finally:
        committer.close()
        store.close()
    assert ids == list(range(1, CHECKPOINT_COMMITS + 6))
    (thread,) = store.apply_threads
    assert thread != threading.get_ident()
    assert committer.checkpoints == 0  # SQLite checkpoints within its commits
    assert store.alongside_threads == store.checkpoint_threads == []


def test_caller_checkpoints_keep_the_wal_from_growing(tmp_path: Path) -> None:
    """Automatic checkpoints are off; each `checkpoint` lets the next write start the WAL
    over, so the file stays the size of one interval, and without them it keeps growing."""
    wal = tmp_path / "smsc.db-wal"
    store = SqliteStore(tmp_path / "smsc.db", checkpoints="caller")
    number = 0

    def commit() -> None:
        nonlocal number
        store.apply(StoreBatch(accepts=[new(number + i) for i in range(20)]), T0)
        number += 20

    try:
        sizes = []
        for _ in range(3):
            while not store.checkpoint_due():
                commit()
            store.checkpoint_alongside()
            store.checkpoint()
            assert not store.checkpoint_due()
            sizes.append(wal.stat().st_size)
        assert max(sizes) < 1.1 * min(sizes)  # one interval's worth, the file reused
        for _ in range(2 * CHECKPOINT_COMMITS):  # no checkpoint: SQLite does none either
            commit()
        assert store.checkpoint_due()
        assert wal.stat().st_size > 1.5 * max(sizes)
    finally:
        store.close()
    again = SqliteStore(tmp_path / "smsc.db")
    try:
        assert again.query(number, "acme") is not None  # nothing was lost on the way
    finally:
        again.close()


@pytest.mark.parametrize(("store", "expected"), [
    ({"kind": "memory"}, StorePlacement.LOOP),
    ({}, StorePlacement.COMMITS_ON_LOOP),
    ({"synchronous": "full"}, StorePlacement.WORKER),
    ({"writer": "thread"}, StorePlacement.WORKER),
])
def test_the_config_says_where_store_calls_run(
    tmp_path: Path, store: dict[str, str], expected: StorePlacement
) -> None:
    config = parse_config({"store": {"data_dir": str(tmp_path), **store}}, "test.toml")
    opened, placement = open_store(config)
    try:
        assert placement is expected
        if isinstance(opened, SqliteStore):  # SQLite's own checkpoints only on the worker
            opened.apply(StoreBatch(accepts=[new(1)]), T0)
            assert opened.checkpoint_due() is False
            for number in range(CHECKPOINT_COMMITS):
                opened.apply(StoreBatch(accepts=[new(number)]), T0)
            assert opened.checkpoint_due() is (expected is StorePlacement.COMMITS_ON_LOOP)
    finally:
        opened.close()


@pytest.mark.parametrize(("store", "kept"), [({}, 1_000_000), ({"max_finished": 0}, 0),
                                           ({"max_finished": 2}, 2)])
def test_the_memory_store_keeps_as_many_finished_messages_as_configured(
    store: dict[str, int], kept: int
) -> None:
    config = parse_config({"store": {"kind": "memory", **store}}, "test.toml")
    opened, _ = open_store(config)
    assert isinstance(opened, MemoryStore) and opened.max_finished == kept


def test_a_negative_max_finished_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_finished"):
        parse_config({"store": {"max_finished": -1}}, "test.toml")


def test_an_unknown_writer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="writer"):
        parse_config({"store": {"writer": "loop"}}, "test.toml")
