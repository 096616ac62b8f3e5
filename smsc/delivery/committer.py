"""Committer: the one task that writes to the store, many changes per transaction.

Accepts, delivery outcomes and outbound acknowledgements queue up while a transaction runs and
all go into the next one (group commit). Each submitter is called back only after its commit,
so a submit_sm_resp never acknowledges a message that is not stored. Where each store call
runs is the store's `StorePlacement`: whatever may wait for the disk runs off the trio thread,
on the committer's worker one call at a time, or (most of a checkpoint) beside the others.

When the store cannot write (StoreWriteError: disk full, I/O error, locked, corrupt) nothing
of the batch was kept, on disk or in the store's memory. Its submits are answered as refused
(ESME_RSYSERR: they never get a receipt); what had already happened (delivery outcomes,
outbound items sent or refused) is kept for the next transaction, tried again after a pause
that grows while the fault lasts, so the server recovers by itself, without duplicates, once
the store can write again. The store logs the stretch of failures, not each one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import partial
from typing import Any, TypeVar

import trio

from smsc.clock import Clock
from smsc.delivery.worker import WorkerThread
from smsc.store import AcceptRefused, MessageStore, NewMessage, StoreBatch, StoreWriteError
from smsc.store.models import BatchResult, FirstAttempt, Outcome

log = logging.getLogger("smsc.store")
T = TypeVar("T")
AcceptCallback = Callable[[int | AcceptRefused | None], None]
"""Called with the new message id, the refusal, or None when the store failed."""
RETRY_FIRST = 0.1
RETRY_MOST = 5.0
"""Seconds before trying again after a failed write, doubling from the first to the most
while writes keep failing."""


class StorePlacement(Enum):
    """Which store calls run on the trio thread and which on the committer's worker thread."""

    LOOP = "loop"
    """Every call on the trio thread: the in-memory store, which never waits."""
    COMMITS_ON_LOOP = "commits_on_loop"
    """Transactions on the trio thread; checkpoints, purges and lookups (which wait for the
    disk or read many rows) off it. For SQLite with synchronous NORMAL, whose commit
    hands the WAL to the OS and does not sync it. Most of a transaction is Python holding the
    GIL, so on the worker it ran no sooner, and the two threads handing the GIL to each other
    around every statement cost some 15% more server CPU per message (docs/benchmarks.md)."""
    WORKER = "worker"
    """Every call on the worker thread: SQLite with synchronous FULL, whose commits sync, and
    PostgreSQL, whose every call waits for the server."""


class Committer:
    def __init__(
        self, store: MessageStore, *, clock: Clock, placement: StorePlacement,
        batch_max: int = 500,
        on_commit: Callable[[float, int], None] | None = None,
        after_callbacks: Callable[[], None] | None = None,
        on_not_stored: Callable[[list[NewMessage]], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self._threaded = placement is not StorePlacement.LOOP
        self._commits_on_loop = placement is not StorePlacement.WORKER
        self._batch_max = batch_max
        self._limiter = trio.CapacityLimiter(1)
        self._worker = WorkerThread()
        self._batch = StoreBatch()
        self._callbacks: list[AcceptCallback] = []
        self._wakeup = trio.Event()
        self._committed = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        self._awake = False
        """Whether changes are queued since the task last found nothing to do."""
        self.commits = 0
        """Store changes so far (commits, and messages made due outside one)."""
        self.failed_batches = 0
        """Transactions the store could not write (StoreWriteError)."""
        self._retry_after = RETRY_FIRST
        self.checkpoints = 0
        self._checkpoint_wanted = trio.Event()
        self._checkpointing = False
        """Whether a checkpoint is asked for or under way (one at a time)."""
        self._checkpointed = trio.Event()
        self.on_commit = on_commit
        """Observer of each commit: (seconds taken, messages accepted)."""
        self._after_callbacks = after_callbacks
        """Called once a commit's callbacks have all run, before anyone hears of the commit
        (the answers they queued go out together)."""
        self._on_not_stored = on_not_stored
        """Told of the accepts of a batch the store did not write, before their callbacks
        (the simulation gives their fates' copy numbers back)."""

    # -- queueing (sync, from the trio thread) ------------------------------------------------

    def accept(self, new: NewMessage, callback: AcceptCallback,
               first: FirstAttempt = None) -> None:
        """Queue `new` for the next commit; `first` is how its first delivery attempt stands
        (see StoreBatch.first_attempts)."""
        batch = self._batch
        batch.accepts.append(new)
        batch.first_attempts.append(first)
        self._callbacks.append(callback)
        if not self._awake:  # (_wake's test, inlined: once per message)
            self._wake()

    def outcome(self, message_id: int, outcome: Outcome) -> None:
        self._batch.outcomes.append((message_id, outcome))
        self._wake()

    def outbound_acknowledged(self, item_id: int) -> None:
        self._batch.outbound_acknowledged.append(item_id)
        if not self._awake:
            self._wake()

    def outbound_acknowledged_run(self, item_ids: list[int]) -> None:
        """`outbound_acknowledged` for several items at once."""
        self._batch.outbound_acknowledged += item_ids
        if not self._awake:
            self._wake()

    def outbound_failed(self, item_id: int) -> None:
        self._batch.outbound_failed.append(item_id)
        self._wake()

    def _wake(self) -> None:
        if not self._awake:  # once per round, not once per queued change
            self._awake = True
            if self._idle.is_set():
                self._idle = trio.Event()
            self._wakeup.set()

    # -- store access -----------------------------------------------------------------------

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one store call, serialised with every other (off the trio thread for SQLite,
        on the committer's own worker thread)."""
        if not self._threaded:
            return function(*args, **kwargs)
        if kwargs:
            function = partial(function, **kwargs)
        async with self._limiter:
            return await self._worker.run(function, *args)

    async def _apply(self, batch: StoreBatch) -> BatchResult:
        """One transaction, where the placement says."""
        if not self._commits_on_loop:
            return await self.call(self.store.apply, batch, self.clock.wall())
        async with self._limiter:
            return self.store.apply(batch, self.clock.wall())

    async def make_due(self, message_ids: list[int], now: datetime) -> int:
        """Make waiting messages due at `now` (their handset or network is back) and tell
        whoever waits for store changes, as a commit does; returns how many moved."""
        moved = await self.call(self.store.retry_now, message_ids, now)
        self._announce_change()
        return moved

    def announce_change(self) -> None:
        """Tell whoever waits for store changes that the store changed outside a commit
        (another node's work taken over)."""
        self._announce_change()

    def _announce_change(self) -> None:
        self.commits += 1
        self._committed.set()
        self._committed = trio.Event()

    async def read(self, function: Callable[..., T], *args: Any) -> T:
        """Run one quick store call on the trio thread, serialised with every other.

        For the calls of the delivery loop (claims, releases, the next due time), which read
        the store's in-memory indexes or a few rows: a hop to the worker thread costs more than
        the call itself. Anything that may scan or write many rows goes through `call`.
        """
        if not self._threaded:
            return function(*args)
        async with self._limiter:
            return function(*args)

    def close(self) -> None:
        """End the worker thread (after the call it may be running)."""
        self._worker.stop()

    async def wait_committed(self) -> None:
        """Return after the next commit."""
        await self._committed.wait()

    async def wait_checkpointed(self) -> None:
        """Return after the next checkpoint has ended (succeeded or failed)."""
        await self._checkpointed.wait()

    async def wait_idle(self) -> None:
        """Return once everything queued so far is committed."""
        await self._idle.wait()

    def quiet(self) -> bool:
        """Nothing queued, and no store call under way."""
        return self._idle.is_set() and self._limiter.borrowed_tokens == 0

    async def wait_quiet(self) -> None:
        """Return once nothing is queued and no store call runs (for the clock's `advance`,
        which waits for everything that its jump made happen)."""
        while not self.quiet():
            await self._idle.wait()
            async with self._limiter:
                pass

    # -- the task ---------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                if self._threaded:
                    nursery.start_soon(self._checkpoint_forever)
                await self._commit_forever()
        finally:
            self._worker.stop()  # its thread ends (a later call starts one again)

    async def _commit_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            while self._batch:
                batch, callbacks = self._take()
                started = trio.current_time()
                try:
                    result = await self._apply(batch)
                except StoreWriteError:  # (the store logs it)
                    self._refuse(batch, callbacks)
                    self._keep_for_retry(batch)
                    self.failed_batches += 1
                    await trio.sleep(self._retry_after)
                    self._retry_after = min(self._retry_after * 2, RETRY_MOST)
                    continue
                except Exception:
                    log.exception("store write failed; %d submits refused", len(callbacks))
                    self._refuse(batch, callbacks)
                    continue
                self._retry_after = RETRY_FIRST
                if self.on_commit is not None:
                    self.on_commit(trio.current_time() - started, len(batch.accepts))
                for callback, accepted in zip(callbacks, result.accepted, strict=True):
                    callback(accepted)
                if self._after_callbacks is not None:
                    self._after_callbacks()
                self._announce_change()
                if self._threaded and not self._checkpointing and self.store.checkpoint_due():
                    self._checkpointing = True
                    self._checkpoint_wanted.set()
            self._awake = False
            self._idle.set()

    def _refuse(self, batch: StoreBatch, callbacks: list[AcceptCallback]) -> None:
        """Answer the accepts of a batch that was not written."""
        if self._on_not_stored is not None and batch.accepts:
            self._on_not_stored(batch.accepts)
        for callback in callbacks:
            callback(None)
        if self._after_callbacks is not None:
            self._after_callbacks()

    def _keep_for_retry(self, batch: StoreBatch) -> None:
        """Queue again, ahead of what came meanwhile, what a batch that was not written
        recorded of things that happened (outcomes of attempts, items sent or refused): its
        messages stay claimed and its items leased until a transaction holds them."""
        queued = self._batch
        queued.outcomes[:0] = batch.outcomes
        queued.outbound_acknowledged[:0] = batch.outbound_acknowledged
        queued.outbound_failed[:0] = batch.outbound_failed

    async def _checkpoint_forever(self) -> None:
        """Checkpoints when the commits ask: most of the WAL on a thread of its own while
        transactions go on (its syncs may take a second on a busy disk), then what they
        wrote meanwhile, with no other store call running, so that the WAL starts over."""
        while True:
            await self._checkpoint_wanted.wait()
            self._checkpoint_wanted = trio.Event()
            try:
                await trio.to_thread.run_sync(self.store.checkpoint_alongside)
                await self.call(self.store.checkpoint)
            except Exception:  # the WAL only grows until the next one; nothing is lost
                log.exception("store checkpoint failed")
            else:
                self.checkpoints += 1
            finally:
                self._checkpointing = False
                self._checkpointed.set()
                self._checkpointed = trio.Event()

    def _take(self) -> tuple[StoreBatch, list[AcceptCallback]]:
        batch = self._batch
        if len(batch.accepts) <= self._batch_max:
            self._batch = StoreBatch()
            callbacks, self._callbacks = self._callbacks, []
            return batch, callbacks
        limit = self._batch_max
        taken = StoreBatch(batch.accepts[:limit], batch.first_attempts[:limit],
                           batch.outcomes, batch.outbound_acknowledged, batch.outbound_failed)
        self._batch = StoreBatch(batch.accepts[limit:], batch.first_attempts[limit:])
        callbacks, self._callbacks = self._callbacks[:limit], self._callbacks[limit:]
        return taken, callbacks
