"""The simulation the nodes of a PostgreSQL store share: one seed, and every runtime change.

Seed and time base. At start a node joins the nodes running (`join`): the first of them (no
other live node has joined) sets the seed, its configured `simulation.seed` or the one it
drew, and its start as the time base of handset schedules and scheduled outages, and clears
the changes of an earlier run; the next ones take that seed and that start. A node configured
with another seed than the running nodes' is refused (ConfigError, one line): its messages
would meet other fates than theirs.

Changes. The node that takes a change (`SimulationControl` through the control API or the
embedding helpers) writes it in `simulation_changes` and notifies `smsc_simulation` in the same
transaction (`publish`), then reads and applies every change after the last it applied, up to
its own, before it answers. Every other node does the same reading when notified, after its
LISTEN connection is made again, at each poll, and at start, so a node started later or a
notification lost ends in the same state. Writers hold an advisory lock until they commit, so
the changes commit in the order of their `seq` and a reader never skips one. A change is the
whole state of one key (a handset, an outage, a fault mix, the last reset) and replaces the
row of its key; a reset deletes every row before it: the table holds at most one row per
key changed since the last reset.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import trio
from psycopg.types.json import Jsonb

from smsc.config import ConfigError
from smsc.delivery.simulation import RESET, Change, SimulationChangeFailed, change_key
from smsc.store.errors import StoreOpenError
from smsc.store.postgresql_nodes import NOW
from smsc.store.postgresql_schema import connect, describe

log = logging.getLogger("smsc.cluster")
CHANNEL = "smsc_simulation"
"""Notified when a change is written."""
LOCK = 0x534D5331
"""The advisory lock a writer or a joining node holds until it commits."""

TAKE_LOCK = "SELECT pg_advisory_xact_lock(%s)"
FORGET_GONE = (f"DELETE FROM simulation_nodes WHERE node NOT IN "
               f"(SELECT id FROM nodes WHERE heartbeat >= {NOW} - %s)")
OTHERS = "SELECT count(*) FROM simulation_nodes WHERE node <> %s"
READ_SEED = "SELECT seed, configured, started FROM simulation_seed"
SET_SEED = ("INSERT INTO simulation_seed (one, seed, configured, started) "
            "VALUES (true, %s, %s, %s) ON CONFLICT (one) DO UPDATE SET seed = EXCLUDED.seed, "
            "configured = EXCLUDED.configured, started = EXCLUDED.started")
CLEAR = "DELETE FROM simulation_changes"
JOIN = "INSERT INTO simulation_nodes (node) VALUES (%s) ON CONFLICT DO NOTHING"
WRITE = ("INSERT INTO simulation_changes (key, seq, change, node, at) "
         f"VALUES (%s, nextval('simulation_change_ids'), %s, %s, {NOW}) "
         "ON CONFLICT (key) DO UPDATE SET seq = EXCLUDED.seq, change = EXCLUDED.change, "
         "node = EXCLUDED.node, at = EXCLUDED.at RETURNING seq")
NOTIFY = f"NOTIFY {CHANNEL}"
READ = "SELECT seq, change FROM simulation_changes WHERE seq > %s ORDER BY seq"


def join(db: psycopg.Connection[Any], node: int, timeout: float, configured: int | None,
         drawn: int, started: float) -> tuple[int, float]:
    """This node among those sharing the simulation (`started`: now, POSIX seconds); the
    seed they use and when the first of them started.

    Raises:
        ConfigError: `configured` differs from the running nodes' seed.
    """
    with db.transaction():
        db.execute(TAKE_LOCK, (LOCK,))
        db.execute(FORGET_GONE, (timeout,))
        others = db.execute(OTHERS, (node,)).fetchone()
        row = db.execute(READ_SEED).fetchone()
        if others and others[0] and row is not None:
            seed, theirs, started = int(row[0]), bool(row[1]), float(row[2])
            if configured is not None and configured != seed:
                raise ConfigError(
                    "", "simulation.seed",
                    f"{configured} differs from the seed of the nodes running on this store "
                    f"({seed}, {'configured' if theirs else 'drawn at their start'}): "
                    "every node of a cluster needs the same simulation.seed")
        else:  # the first node of a run: its seed, no change of an earlier run
            seed = configured if configured is not None else drawn
            db.execute(SET_SEED, (str(seed), configured is not None, started))
            db.execute(CLEAR)
        db.execute(JOIN, (node,))
    return seed, started


def write(db: psycopg.Connection[Any], change: Change, node: int) -> int:
    """Write one change for every node; its seq."""
    key = change_key(change)
    with db.transaction():
        db.execute(TAKE_LOCK, (LOCK,))
        if key == RESET:
            db.execute(CLEAR)
        row = db.execute(WRITE, (key, Jsonb(change), node)).fetchone()
        db.execute(NOTIFY)
    assert row is not None
    return int(row[0])


def read(db: psycopg.Connection[Any], after: int) -> list[tuple[int, Change]]:
    """The changes after `after`, in order."""
    return [(int(seq), change) for seq, change in db.execute(READ, (after,)).fetchall()]


class SimulationSync:
    """This node's part in the shared simulation: `SimulationControl.shared`."""

    def __init__(self, *, dsn: str, node_id: int,
                 apply: Callable[[Change], Awaitable[None]]) -> None:
        self.dsn = dsn
        self.node_id = node_id
        self.apply = apply
        self.applied = 0
        """The seq of the last change applied here."""
        self._applied_changed = trio.Event()
        self._catching_up = trio.Lock()
        self._wake = trio.Event()
        self._db: psycopg.Connection[Any] | None = None
        self._db_lock = trio.Lock()

    async def _on_db(self, function: Callable[..., Any], *args: Any) -> Any:
        async with self._db_lock:
            return await trio.to_thread.run_sync(self._call, function, *args)

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        db = self._db
        if db is None or db.closed or db.broken:
            if db is not None:
                db.close()
            db = self._db = connect(self.dsn, synchronous_commit=True)
        return function(db, *args)

    async def publish(self, change: Change) -> None:
        """Write `change` for every node; returns once it is applied here too."""
        try:
            seq = await self._on_db(write, change, self.node_id)
        except (psycopg.Error, StoreOpenError) as error:
            raise SimulationChangeFailed(f"the store did not take the change ({error})"
                                         ) from error
        try:
            await self.catch_up()
        except (psycopg.Error, StoreOpenError) as error:
            raise SimulationChangeFailed(
                f"the change is stored but not yet read back here ({error}); every node "
                "applies it at its next poll") from error
        assert self.applied >= seq

    async def catch_up(self) -> None:
        """Apply every change written since the last one applied, in order."""
        async with self._catching_up:
            for seq, change in await self._on_db(read, self.applied):
                await self.apply(change)
                self.applied = seq
                self._applied_changed.set()
                self._applied_changed = trio.Event()

    async def wait_applied(self, seq: int) -> None:
        """Return once the change `seq` (another node's `applied` after its change) or a
        later one is applied here."""
        while self.applied < seq:
            await self._applied_changed.wait()

    def poke(self) -> None:
        """A change was notified, the LISTEN connection is back, or a poll: read them."""
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Catch up at start (the changes of the nodes running), then whenever poked."""
        try:
            await self._catch_up_logged()
            task_status.started()
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                await self._catch_up_logged()
        finally:
            if self._db is not None:
                self._db.close()

    async def _catch_up_logged(self) -> None:
        try:
            await self.catch_up()
        except (psycopg.Error, StoreOpenError) as error:  # again at the next poke or poll
            log.warning("cluster: node %d: simulation changes not read (%s)", self.node_id,
                        error)


def join_cluster(dsn: str, node: int, timeout: float, configured: int | None, drawn: int,
                 started: float) -> tuple[int, float]:
    """`join` on a connection of its own (at start, in a thread).

    Raises:
        ConfigError: see `join`.
        StoreOpenError: the database cannot be reached or read.
    """
    with connect(dsn, synchronous_commit=True) as db:
        try:
            return join(db, node, timeout, configured, drawn, started)
        except psycopg.Error as error:
            raise StoreOpenError(f"{describe(dsn)}: the simulation's seed cannot be read "
                                 f"({error})") from error
