"""Retention: finished messages are purged once older than the configured time."""

from __future__ import annotations

import logging
from datetime import timedelta

import trio

from smsc.clock import Clock
from smsc.delivery.committer import Committer
from smsc.store import StoreWriteError

log = logging.getLogger("smsc.retention")
PURGE_BATCH = 10000


async def purge_finished_messages(
    committer: Committer,
    clock: Clock,
    *,
    retention: float,
    interval: float = 60.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every `interval` seconds, delete finished messages older than `retention` seconds
    (simulated time; an advance of the clock makes no stop for a purge: it runs with the
    next step past its time)."""
    task_status.started()
    while True:
        await clock.sleep(interval, step=False)
        before = clock.wall() - timedelta(seconds=retention)
        while True:
            try:
                purged = await committer.call(committer.store.purge_finished, before,
                                              PURGE_BATCH)
            except StoreWriteError:  # nothing was purged (the store logs it): next round
                break
            if purged:
                log.debug("purged %d finished messages", purged)
            if purged < PURGE_BATCH:
                break
