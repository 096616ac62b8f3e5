"""A LISTEN connection waited on by trio: psycopg has no trio support, so the SMSC waits for
the connection's socket to be readable (`trio.lowlevel.wait_readable`) and then reads the
notifications that came without blocking.

A connection lost is connected again, after a pause that grows to `poll`; the caller is told
(`on_connected`) each time it is listening again, so that it can read what it may have missed,
and it is woken at least every `poll` seconds meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import trio

from smsc.store.postgresql_schema import connect

log = logging.getLogger("smsc.cluster")


async def listen(
    dsn: str, channels: Sequence[str], *, on_notify: Callable[[str, str], None],
    on_connected: Callable[[], None], poll: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """LISTEN on `channels` until cancelled: `on_notify(channel, payload)` for each
    notification, `on_connected()` after each (re)connection and every `poll` seconds (a
    notification lost while the connection was down is made up for by the caller's
    reading)."""
    started = False
    pause = 0.1
    while True:
        try:
            db = await trio.to_thread.run_sync(_listening, dsn, channels)
        except Exception as error:  # (StoreOpenError, psycopg.Error)
            log.warning("cluster: cannot LISTEN (%s); again in %.1f s", error, pause)
            if not started:
                started = True
                task_status.started()
            on_connected()  # poll meanwhile
            await trio.sleep(pause)
            pause = min(pause * 2, poll)
            continue
        pause = 0.1
        try:
            on_connected()
            if not started:
                started = True
                task_status.started()
            await _receive(db, on_notify, on_connected, poll)
        except psycopg.Error as error:
            log.warning("cluster: LISTEN connection lost (%s); connecting again", error)
        finally:
            db.close()


def _listening(dsn: str, channels: Sequence[str]) -> psycopg.Connection[Any]:
    db = connect(dsn, synchronous_commit=True)
    for name in channels:
        db.execute(f"LISTEN {name}")
    return db


async def _receive(db: psycopg.Connection[Any], on_notify: Callable[[str, str], None],
                   on_connected: Callable[[], None], poll: float) -> None:
    """Wait for notifications until the connection fails (psycopg.Error)."""
    pgconn = db.pgconn
    socket = db.fileno()
    while True:
        with trio.move_on_after(poll) as waited:
            await trio.lowlevel.wait_readable(socket)
        if waited.cancelled_caught:
            on_connected()  # (a poll: whatever came by another way)
            continue
        pgconn.consume_input()  # non-blocking: what the socket holds
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise psycopg.OperationalError("connection closed")
        while (notification := pgconn.notifies()) is not None:
            on_notify(notification.relname.decode(), notification.extra.decode())
