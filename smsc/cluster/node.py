"""ClusterNode: this process as one node of a PostgreSQL store shared with others.

It beats the node's heartbeat, takes over the work of dead nodes, admits each bind into the
`sessions` table (`max_binds` counted across the live nodes) and takes it out at unbind, and
hands what is owed to an account with no receiver here to a node that has one (round-robin
over them), waking it with NOTIFY in the same transaction; it LISTENs for what others hand to
it (`notifications`), and for the cancel_sm and replace_sm asked of it and answered to it
(`requests`). A message to another account's ESME that has a receiver bound only on another
node is handed to that node as owed items are (`hand_messages`, for `smsc.delivery.esmes`).
The store does the writes (`PostgresqlStore.take_over_dead`, `adopt_outbound`, `hand_over`,
`hand_over_messages`), through the committer like every other store call; the heartbeat,
the node list and the sessions go on a connection of this node's own, in a thread (psycopg
blocks); /v1/status reads the node list again when asked, on a connection of its own.
With `--workers`, it also says where a worker serves its metrics and gathers its siblings'
(`scrape`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import psycopg
import trio

from smsc.cluster.notifications import listen
from smsc.cluster.requests import OwnerRequests
from smsc.cluster.scrape import fetch_metrics
from smsc.delivery.committer import Committer
from smsc.delivery.receivers import BindRegistry
from smsc.server.link import Link
from smsc.store import postgresql_nodes as nodes
from smsc.store.errors import StoreOpenError, StoreWriteError
from smsc.store.postgresql import PostgresqlStore
from smsc.store.postgresql_schema import connect

log = logging.getLogger("smsc.cluster")
HAND_OVER_BATCH = 1000
"""Items handed to another node per transaction."""
SCRAPE_TIMEOUT = 2.0
"""Seconds a sibling worker has to answer a metrics scrape before it is left out."""
STATUS_READ_WAIT = 0.5
"""Seconds /v1/status waits for the node list read fresh, before it gives the last
heartbeat's."""
ADMIT_LOCK_WAIT = 0.05
"""Seconds one try of a bind's admission waits for its account's lock, holding the node's
connection; the bind tries again, after the node's other calls, for up to node_timeout."""
Answer = Callable[[bool | None], None]
"""How a bind's admission is told: True (admitted), False (the account's max_binds are bound
across the live nodes) or None (the database could not say)."""


class ClusterNode:
    def __init__(self, *, store: PostgresqlStore, committer: Committer, binds: BindRegistry,
                 wake_outbound: Callable[[], None], on_lost: Callable[[], None],
                 session_id: Callable[[Link], int], supervisor: int | None = None,
                 listeners: Mapping[str, Callable[[], None]] | None = None) -> None:
        self.store = store
        self.committer = committer
        self.binds = binds
        self.wake_outbound = wake_outbound
        self.on_lost = on_lost
        """Called when this node finds itself taken over (silent too long): it must stop."""
        self.listeners = dict(listeners or {})
        """Other channels heard on this node's LISTEN connection: each called when notified,
        and after each (re)connection and poll (a notification may have been lost)."""
        self.node_id = store.node_id
        self.timeout = store.node_timeout
        self.interval = store.node_timeout / 3
        """Seconds between heartbeats (and between polls for what was handed here)."""
        self.nodes: list[dict[str, Any]] = []
        """Every node as last read (each heartbeat, and each /v1/status)."""
        self.taken_over: list[int] = []
        """The dead nodes this one took over."""
        self._remote: dict[str, list[int]] = {}
        """Per account, the other live nodes with a receiver bound for it."""
        self._turns: Counter[str] = Counter()
        self._remote_changed = trio.Event()
        self.session_id = session_id
        """The control plane's number of a link: its session's key in `sessions`."""
        self.supervisor = supervisor
        """The `--workers` supervisor's pid (None: not a worker)."""
        self.bound_at: dict[Link, float] = {}
        """This node's sessions in the `sessions` table, and when each bound (POSIX)."""
        self._nursery: trio.Nursery | None = None
        self._ending = 0
        """Rows of sessions ended and not yet deleted."""
        self._ended = trio.Event()
        self._unended: set[int] = set()
        """Sessions whose row's delete failed: deleted at the next heartbeats (left, a row
        would count for max_binds as long as this node runs)."""
        self._work = trio.Event()
        self._adopt = True
        self._refresh = True
        self._db: psycopg.Connection[Any] | None = None
        self._db_lock = trio.Lock()
        self._status_db: psycopg.Connection[Any] | None = None
        """The connection /v1/status reads the node list on (its read may be left running
        when the database is slow: never in the way of the node's own calls)."""
        self._status_reads = trio.CapacityLimiter(1)
        """One read of the node list for /v1/status at a time (one left running holds it:
        the next status waits for it, then gives the list last read)."""
        self.requests = OwnerRequests(store=store, committer=committer, on_db=self._on_db,
                                      take_over=self.take_over, wake_outbound=wake_outbound)
        """cancel_sm and replace_sm of messages other nodes own, asked of their owners."""

    # -- the node's own connection --------------------------------------------------------

    async def _on_db(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(connection, *args)` on this node's connection, in a thread; a connection
        found lost is made again on the next call."""
        async with self._db_lock:
            return await trio.to_thread.run_sync(self._call, function, *args)

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        db = self._db
        if db is None or db.closed or db.broken:
            if db is not None:
                db.close()
            db = self._db = connect(self.store.dsn, synchronous_commit=True)
        return function(db, *args)

    # -- running ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"id": self.node_id, "timeout": self.timeout, "nodes": self.nodes}

    async def current_status(self) -> dict[str, Any]:
        """`status` with the node list read now (a node started since the last heartbeat is
        in it), or the last one read when the database has not answered within
        STATUS_READ_WAIT."""
        with trio.move_on_after(STATUS_READ_WAIT):
            listed = await trio.to_thread.run_sync(self._list_nodes, abandon_on_cancel=True,
                                                   limiter=self._status_reads)
            if listed is not None:
                self._listed(listed)
        return self.status()

    def _list_nodes(self) -> list[tuple[int, str, str, int, float, float]] | None:
        """(In a thread) every node as `nodes.list_nodes` reads them; None when they cannot
        be read (the database fails)."""
        try:
            db = self._status_db
            if db is None or db.closed or db.broken:
                if db is not None:
                    db.close()
                db = self._status_db = connect(self.store.dsn, synchronous_commit=True)
            return nodes.list_nodes(db)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: node list not read (%s)", self.node_id, error)
            return None

    def _listed(self, listed: list[tuple[int, str, str, int, float, float]]) -> None:
        self.nodes = [{"id": node, "name": name, "host": host, "pid": pid, "started": started,
                       "heartbeat_age": round(age, 3), "alive": age <= self.timeout}
                      for node, name, host, pid, started, age in listed]

    def poke(self) -> None:
        self._work.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self.beat()
                await nursery.start(partial(
                    listen, self.store.dsn,
                    [nodes.channel(self.node_id), nodes.BINDS_CHANNEL, *self.listeners],
                    on_notify=self._notified, on_connected=self._missed, poll=self.interval))
                nursery.start_soon(self._heartbeats)
                nursery.start_soon(self._watch_binds)
                nursery.start_soon(self._watch_commits)
                await nursery.start(self.requests.run)
                await self._settle()  # the binds, before anything is handed here
                task_status.started()
                while True:
                    await self._work.wait()
                    self._work = trio.Event()
                    await self._settle()
        finally:
            self._nursery = None
            if self._db is not None:
                self._db.close()
            if self._status_db is not None and not self._status_reads.borrowed_tokens:
                self._status_db.close()  # (else the read still running is left to end)

    def _notified(self, channel: str, payload: str) -> None:
        heard = self.listeners.get(channel)
        if heard is not None:
            heard()
        elif payload == nodes.REQUEST_PAYLOAD:
            self.requests.requested()
        elif payload == nodes.RESULT_PAYLOAD:
            self.requests.answered()
        else:
            if channel == nodes.BINDS_CHANNEL:
                self._refresh = True
            else:
                self._adopt = True
            self.poke()

    def _missed(self) -> None:
        """(Re)connected, or a poll: read everything again."""
        for heard in self.listeners.values():
            heard()
        self._refresh = self._adopt = True
        self.requests.missed()
        self.poke()

    async def _heartbeats(self) -> None:
        while True:
            await trio.sleep(self.interval)
            await self.beat()

    async def beat(self) -> None:
        """One heartbeat, the node list read, and dead nodes taken over."""
        try:
            alive = await self._on_db(nodes.heartbeat, self.node_id)
            listed = await self._on_db(nodes.list_nodes)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: no heartbeat (%s)", self.node_id, error)
            return
        if not alive:
            log.error("cluster: node %d was taken over by the others (silent for more than "
                      "%.1f s): stopping", self.node_id, self.timeout)
            self.on_lost()
            return
        self._listed(listed)
        try:
            for session in sorted(self._unended):
                await self._on_db(nodes.close_session, self.node_id, session)
                self._unended.discard(session)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: sessions' rows not deleted (%s)", self.node_id,
                        error)
        try:
            await self.take_over()
        except StoreWriteError as error:  # (the store logged it) again at the next heartbeat
            log.warning("cluster: node %d: no take-over (%s)", self.node_id, error)

    async def take_over(self) -> None:
        """Take over the work of dead nodes, and what no node owns."""
        store = self.store
        taken = store.work_taken
        dead = await self.committer.call(store.take_over_dead)
        if dead:
            log.warning("cluster: node %d took over dead node(s) %s", self.node_id,
                        ", ".join(map(str, dead)))
            self.taken_over += dead
            self._refresh = True
            self.poke()
        if dead or store.work_taken != taken:  # (a node stopped cleanly: none dead)
            self.committer.announce_change()  # their due messages
            self.wake_outbound()

    async def _watch_binds(self) -> None:
        while True:
            await self.binds.wait_changed()
            self.poke()

    async def _watch_commits(self) -> None:
        """A commit may owe something to an account bound only elsewhere."""
        while True:
            await self.committer.wait_committed()
            if self._remote:
                self.poke()

    async def _settle(self) -> None:
        """Bring the other nodes' receivers, what was handed here and what to hand over up
        to date."""
        try:
            if self._refresh:
                self._refresh = False
                remote = await self._on_db(nodes.remote_binds, self.node_id, self.timeout)
                if remote != self._remote:
                    self._remote = remote
                    self._remote_changed.set()
                    self._remote_changed = trio.Event()
            if self._adopt:
                self._adopt = False
                if await self.committer.call(self.store.adopt_outbound):
                    self.wake_outbound()
                if await self.committer.call(self.store.adopt_messages):
                    self.committer.announce_change()  # due here now
            if self._remote:
                await self._hand_over()
        except (psycopg.Error, StoreOpenError) as error:  # tried again at the next poll
            log.warning("cluster: node %d: %s", self.node_id, error)
            self._refresh = self._adopt = True
        except Exception as error:  # StoreWriteError: the same
            log.warning("cluster: node %d: %s", self.node_id, error)
            self._adopt = True

    async def _hand_over(self) -> None:
        """What is owed to accounts with no receiver here, to nodes that have one."""
        store = self.store
        for system_id in await self.committer.read(store.systems_with_outbound):
            targets = self._remote.get(system_id)
            if not targets or self.binds.receivers(system_id):
                continue
            target = targets[self._turns[system_id] % len(targets)]
            self._turns[system_id] += 1
            while (handed := await self.committer.call(
                    store.hand_over, system_id, target, HAND_OVER_BATCH)) == HAND_OVER_BATCH:
                pass
            if not handed:  # (nothing waiting, or the node is gone: read the binds again)
                self._refresh = True

    # -- messages to an ESME bound on another node (`smsc.delivery.esmes.Elsewhere`) -------

    def bound_elsewhere(self, system_id: str) -> bool:
        """Whether another live node has a receiver of `system_id` bound."""
        return system_id in self._remote

    async def wait_binds_changed(self) -> None:
        """Return when the accounts bound on other nodes have changed."""
        await self._remote_changed.wait()

    async def hand_messages(self, system_id: str, message_ids: list[int]) -> set[int]:
        """Hand claimed messages to `system_id`'s ESME to a node where it is bound (the
        nodes taken in turn); the ids handed (none when that node is gone or the write
        failed: the caller attempts them here)."""
        targets = self._remote.get(system_id)
        if not targets:
            return set()
        target = targets[self._turns[system_id] % len(targets)]
        self._turns[system_id] += 1
        try:
            handed = await self.committer.call(self.store.hand_over_messages, target,
                                               message_ids)
        except Exception as error:  # (StoreWriteError, psycopg.Error)
            log.warning("cluster: node %d: messages not handed to node %d (%s)",
                        self.node_id, target, error)
            handed = []
        if len(handed) < len(message_ids):  # (that node may be gone: read the binds again)
            self._refresh = True
            self.poke()
        return set(handed)

    # -- sessions ---------------------------------------------------------------------------

    def admit(self, link: Link, system_id: str, bind_mode: str, max_binds: int,
              window: int, answer: Answer) -> None:
        """Admit a bind the account allows into the `sessions` table, unless the account
        has `max_binds` sessions on the live nodes already; `answer` is told which."""
        if not self._spawn(self._admit, link, system_id, bind_mode, max_binds, window,
                           answer):
            answer(None)

    async def _admit(self, link: Link, system_id: str, bind_mode: str, max_binds: int,
                     window: int, answer: Answer) -> None:
        deadline = trio.current_time() + self.timeout
        try:
            while True:  # (another account's bind, or the heartbeat, goes between tries)
                try:
                    bound_at = await self._on_db(
                        nodes.open_session, self.node_id, self.session_id(link), system_id,
                        bind_mode, link.peer, window, max_binds, self.timeout,
                        ADMIT_LOCK_WAIT)
                    break
                except psycopg.errors.LockNotAvailable:
                    if trio.current_time() >= deadline or not link.is_open:
                        raise
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: %s bind not admitted (%s)", self.node_id,
                        link.peer, error)
            answer(None)
            return
        if bound_at is None:
            answer(False)
            return
        self.bound_at[link] = bound_at
        answer(True)

    def ended(self, link: Link) -> None:
        """The link unbound or closed: its row goes (if it has one)."""
        if self.bound_at.pop(link, None) is not None and self._spawn(
                self._end, self.session_id(link)):
            self._ending += 1

    def _spawn(self, function: Callable[..., Any], *args: Any) -> bool:
        """Start `function(*args)` in the node's nursery; False once the node is stopping
        (its rows go with it)."""
        try:
            if self._nursery is not None:
                self._nursery.start_soon(function, *args)
                return True
        except RuntimeError:  # (closed to new arrivals)
            pass
        return False

    async def _end(self, session: int) -> None:
        try:
            await self._on_db(nodes.close_session, self.node_id, session)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: session %d's row stays until the next heartbeat "
                        "(%s)", self.node_id, session, error)
            self._unended.add(session)
        finally:
            self._ending -= 1
            if not self._ending:
                self._ended.set()
                self._ended = trio.Event()

    async def wait_sessions_ended(self) -> None:
        """Return once the rows of the sessions ended so far are deleted (for tests: an ESME
        that unbinds here and binds at once on another node may find its row still there)."""
        while self._ending:
            await self._ended.wait()

    async def sessions(self) -> list[tuple[Any, ...]] | None:
        """Every live node's sessions, as `postgresql_nodes.list_sessions` reads them; None
        when the database cannot say."""
        try:
            rows: list[tuple[Any, ...]] = await self._on_db(nodes.list_sessions, self.timeout)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: no session list (%s)", self.node_id, error)
            return None
        return rows

    def node_name(self, node: int) -> str:
        """A node's name as the last heartbeat read it ("" when unknown)."""
        return next((str(n["name"]) for n in self.nodes if n["id"] == node), "")

    # -- metrics of the --workers siblings --------------------------------------------------

    async def publish_metrics(self, address: str) -> None:
        """Say where this worker serves its metrics (`host:port`), for the first worker."""
        assert self.supervisor is not None
        try:
            await self._on_db(nodes.set_metrics, self.node_id, address, self.supervisor)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: its metrics at %s not recorded, so not gathered "
                        "(%s)", self.node_id, address, error)

    async def sibling_metrics(self, token: str = ""
                              ) -> tuple[dict[int, bytes], list[int]] | None:
        """The metrics of the other live workers of this node's supervisor, as each serves
        them, fetched at once; and the nodes that did not answer in `SCRAPE_TIMEOUT`. None
        when this node is not a worker."""
        if self.supervisor is None:
            return None
        try:
            found = await self._on_db(nodes.siblings, self.node_id, self.supervisor,
                                      self.timeout)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: no sibling list (%s)", self.node_id, error)
            return {}, []
        texts: dict[int, bytes] = {}

        async def fetch(node: int, address: str) -> None:
            with trio.move_on_after(SCRAPE_TIMEOUT):
                try:
                    texts[node] = await fetch_metrics(address, token)
                except (OSError, ValueError, trio.BrokenResourceError) as error:
                    log.warning("cluster: node %d's metrics at %s: %s", node, address, error)

        async with trio.open_nursery() as nursery:
            for node, address in found:
                nursery.start_soon(fetch, node, address)
        return texts, [node for node, _ in found if node not in texts]
