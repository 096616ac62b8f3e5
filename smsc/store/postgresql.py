"""Durable MessageStore on PostgreSQL: every accepted message and owed notification in tables
on a server, which other processes can read (and, later, share).

The design is the table stores' (`table_store`): one connection used by one caller at a time
(every call but the delivery loop's quick reads on the committer's worker thread, since
psycopg blocks), one transaction per `apply`, memory changed only once a transaction has
committed, so a submit_sm_resp goes out only after COMMIT. A transaction's statements are
pipelined but for the COPY of new messages (`postgresql_statements`). `synchronous_commit`
is on unless the caller turns it off (a commit then returns before the server's WAL is on
disk: a server crash may lose the last commits, a crash of this process never does).

This module is what is PostgreSQL's: the connection and its transactions, the ids (from
sequences, a block at a time: `postgresql_ids`), the tables (`postgresql_schema`) and the
statements (`postgresql_statements`). Lookups read on a second connection of their own. A
connection lost is a fault like a full disk: the write fails with StoreWriteError, and the
next one connects again.

Each store is a node (`postgresql_nodes`): it loads, claims and delivers only the messages
and owed items it owns, takes over those of dead nodes (`take_over_dead`), reads in what
another node handed it (`adopt_outbound`) and hands over what is owed to an account bound
elsewhere (`hand_over`), and hands a message to another account's ESME to a node where that
ESME is bound (`hand_over_messages`, `adopt_messages`). Its heartbeat and notifications are
the cluster's (`smsc.cluster`), on connections of their own.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

import psycopg

from smsc.pdu.constants import MessageState
from smsc.store import postgresql_nodes as nodes
from smsc.store.errors import StoreOpenError, StoreWriteError
from smsc.store.models import Message, MessageQuery, NewMessage, RetryPolicy
from smsc.store.outbound_mirror import MIRROR_LIMIT, OutboundRow
from smsc.store.postgresql_ids import IdBlocks
from smsc.store.postgresql_schema import ID_BLOCK, connect, describe, prepare_tables
from smsc.store.postgresql_statements import (
    COUNT_BY_STATE,
    COUNT_OUTBOUND,
    MOVE_DUE,
    PURGE,
    SELECT_DUE,
    SELECT_IDS,
    SELECT_MEMBERS,
    SELECT_OUTBOUND,
    SELECT_OUTBOUND_AFTER,
    SELECT_OWNED,
    SELECT_PENDING_TO,
    UPDATE_FIELDS_AND_DUE,
    PostgresqlWrites,
    find,
    is_fault,
)
from smsc.store.purge import purge
from smsc.store.rows import message_of
from smsc.store.table_store import TableStore

__all__ = ["PostgresqlStore"]
ENROUTE = MessageState.ENROUTE


class PostgresqlStore(TableStore):
    """See `base.MessageStore` for the contract and `table_store` for the design."""

    def __init__(
        self,
        dsn: str,
        *,
        retry: RetryPolicy | None = None,
        max_pending: dict[str, int] | None = None,
        synchronous_commit: bool = True,
        mirror_limit: int = MIRROR_LIMIT,
        on_final: Callable[[Message], None] | None = None,
        accepted_notice: Callable[[NewMessage], bool] | None = None,
        node_name: str = "",
        node_timeout: float = 30.0,
    ) -> None:
        super().__init__(describe(dsn), retry=retry, max_pending=max_pending,
                         mirror_limit=mirror_limit, on_final=on_final,
                         accepted_notice=accepted_notice)
        self.dsn = dsn
        self.synchronous_commit = synchronous_commit
        self.node_timeout = node_timeout
        """Seconds of silence after which another node is dead and taken over."""
        self.node_id = 0
        """This store's row in `nodes`."""
        self.work_taken = 0
        """Messages and owed items taken over so far (dead nodes' or no node's): a take-over
        that took some must wake the delivery loops, though no node died."""
        db = connect(dsn, synchronous_commit=synchronous_commit)
        self._writes = PostgresqlWrites(db, IdBlocks("message_ids", ID_BLOCK),
                                        IdBlocks("outbound_ids", ID_BLOCK))
        self._reader = db
        try:
            prepare_tables(db, self.where)
            host = os.uname().nodename
            self.node_id = nodes.register(db, node_name or f"{host}:{os.getpid()}", host,
                                          os.getpid())
            db.execute(f"SET smsc.node = '{self.node_id}'")
            self._take_over_at_open(db)
            self._load()
            self._reader = self._connect()
        except psycopg.Error as error:
            db.close()
            raise StoreOpenError(f"{self.where}: cannot be read ({error})") from error
        except BaseException:
            db.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection that writes as this node (the `node` columns' default)."""
        db = connect(self.dsn, synchronous_commit=self.synchronous_commit)
        db.execute(f"SET smsc.node = '{self.node_id}'")
        return db

    @property
    def _db(self) -> psycopg.Connection[Any]:
        """The connection the transactions write on."""
        return self._writes.db

    def _read(self, statement: str, parameters: Sequence[Any]) -> list[Any]:
        """The rows of a lookup, read on a connection of its own: committed rows only, and
        never in the way of a transaction's pipeline (a lookup may come from another thread
        while one runs, as the tests' do). A connection found lost is made again, once."""
        for attempt in (1, 2):
            try:
                return self._reader.execute(statement, parameters).fetchall()
            except psycopg.OperationalError:
                if attempt == 2 or not (self._reader.closed or self._reader.broken):
                    raise
                self._reader.close()
                self._reader = self._connect()
        raise AssertionError("unreachable")  # pragma: no cover

    def _load(self) -> None:
        db = self._db
        writes = self._writes
        node = (self.node_id,)
        self._loaded(
            writes, due=db.execute(SELECT_DUE, node).fetchall(),
            states=db.execute(COUNT_BY_STATE).fetchall(),
            outbound_counts=db.execute(COUNT_OUTBOUND, node).fetchall(),
            outbound_rows=lambda: db.execute(SELECT_OUTBOUND, node),
            next_message_id=writes.message_ids.first(db),
            next_item_id=writes.item_ids.first(db))

    # -- transactions ------------------------------------------------------------------------

    def _begin(self) -> None:
        writes = self._writes
        if writes.db.closed or writes.db.broken:  # lost: the next write connects again
            writes.db.close()
            writes.db = self._connect()
        db = writes.db
        self._next_message_id = writes.message_ids.room(db, self._next_message_id)
        outbound = self._outbound
        outbound.next_item_id = writes.item_ids.room(db, outbound.next_item_id)
        writes.pipelined().execute("BEGIN")

    def _commit(self) -> None:
        writes = self._writes
        writes.pipelined().execute("COMMIT")
        writes.flush()  # sends what is queued, waits for the results: raises errors

    def _roll_back(self) -> None:
        with suppress(psycopg.Error):  # (the pipeline's error is the one already raised)
            self._writes.flush()
        db = self._db
        if not db.closed and db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with suppress(psycopg.Error):  # (a connection lost is made again by `_begin`)
                db.execute("ROLLBACK")

    def _is_fault(self, error: BaseException) -> bool:
        return is_fault(error)

    # -- reads and writes -------------------------------------------------------------------

    def _read_ids(self, ids: Sequence[int]) -> list[Any]:
        return self._read(SELECT_IDS, (list(ids),))

    def _read_outbound_after(self, item_id: int, system_id: str, count: int
                             ) -> list[OutboundRow]:
        return self._read(SELECT_OUTBOUND_AFTER, (item_id, system_id, self.node_id, count))

    def members(self, message_id: int, system_id: str) -> list[Message]:
        return [message_of(row) for row in self._read(SELECT_MEMBERS, (message_id, system_id))]

    def _read_pending(self, system_id: str, destination_addr: str) -> list[Any]:
        return self._read(SELECT_PENDING_TO, (system_id, destination_addr))

    def _read_found(self, query: MessageQuery) -> list[Any]:
        return self._read(*find(query))

    def _move_due(self, message_ids: list[int], moment: float) -> int:
        writes = self._writes
        row = writes.pipelined().execute(MOVE_DUE, (moment, message_ids, moment)).fetchone()
        return int(row[0]) if row else 0

    def _update_fields_and_due(self, values: tuple[Any, ...], due: float, message_id: int
                               ) -> None:
        self._writes.pipelined().execute(UPDATE_FIELDS_AND_DUE, (*values, due, message_id))

    def query(self, message_id: int, system_id: str) -> Message | None:
        rows = self._read(SELECT_OWNED, (message_id, system_id))
        return message_of(rows[0]) if rows else None

    def purge_finished(self, before: datetime, limit: int) -> int:
        """Delete finished messages whose run finished before `before`, oldest runs first,
        until about `limit` are gone (see `purge.purge`)."""
        cutoff = before.timestamp()
        return self._purged(
            self._write(lambda transaction: purge(self._db, PURGE, cutoff, limit)))

    # -- no checkpoints: the server keeps its own WAL ------------------------------------

    def checkpoint_due(self) -> bool:
        return False

    def checkpoint_alongside(self) -> None:
        pass

    def checkpoint(self) -> None:
        pass

    # -- nodes ---------------------------------------------------------------------------------

    def _take_over_at_open(self, db: psycopg.Connection[Any]) -> None:
        """Before loading: own what no node owns and what dead nodes owned, everything owned
        as read (nothing `moved` left to adopt)."""
        with db.transaction():
            self._take_over(db)
            db.execute(nodes.SETTLE_OUTBOUND, (self.node_id,))

    def _take_over(self, db: psycopg.Connection[Any]) -> tuple[list[int], list[Any]]:
        """In a transaction: become the owner of the unfinished messages and owed items of
        the dead nodes this one could lock, and of those no node owns; the dead nodes' ids and
        the messages taken (id, system_id, due)."""
        node = self.node_id
        dead = [row[0] for row in db.execute(nodes.DEAD_NODES,
                                             (self.node_timeout, node)).fetchall()]
        taken = db.execute(nodes.TAKE_UNOWNED_MESSAGES, (node,)).fetchall()
        db.execute(nodes.TAKE_UNOWNED_OUTBOUND, (node,))
        if dead:
            taken += db.execute(nodes.TAKE_MESSAGES, (node, dead)).fetchall()
            db.execute(nodes.TAKE_OUTBOUND, (node, dead))
            db.execute(nodes.FORGET_BINDS, (dead,))
            db.execute(nodes.FORGET_REQUESTS, (dead,))
            db.execute(nodes.FORGET_NODES, (dead,))
            db.execute(nodes.NOTIFY, (nodes.BINDS_CHANNEL,))
        return dead, taken

    def take_over_dead(self) -> list[int]:
        """Take over the work of dead nodes, and what no node owns: their unfinished
        messages due as they were, their owed items read in (`adopt_outbound`; if that
        fails, at the node's next adopt). Returns the dead nodes' ids."""
        writes = self._writes

        def take(transaction: object) -> tuple[list[int], list[Any]]:
            writes.flush()  # (row locks and RETURNING: one statement at a time)
            return self._take_over(writes.db)

        dead, taken = self._write(take)
        due = self._due
        pending = self._pending
        cache = self._cache
        for message_id, system_id, at in taken:
            cache.pop(message_id, None)
            self._due_again(message_id)
            heapq.heappush(due, (at, message_id))
            pending[system_id] += 1
        self.work_taken += len(taken)
        with suppress(StoreWriteError):  # (logged) read in at the next adopt
            self.work_taken += self.adopt_outbound()
        return dead

    def adopt_outbound(self) -> int:
        """Read in the owed items handed or moved to this node; how many."""
        writes = self._writes
        rows = self._write(lambda transaction: writes.pipelined().execute(
            nodes.ADOPT, (self.node_id,)).fetchall())
        if rows:
            cache = self._cache
            for row in rows:  # (a copy cached earlier may be older than the row)
                cache.pop(row[3], None)
            self._outbound.adopt(cache.items_of(rows))
        return len(rows)

    def hand_over(self, system_id: str, node: int, limit: int) -> int:
        """Hand up to `limit` of the items owed to `system_id` that wait here (none in
        flight) to `node`, if it is alive, and wake it, in one transaction; how many."""
        items = self._outbound.claim(system_id, limit)
        if not items:
            return 0
        ids = [item.item_id for item in items]
        writes = self._writes

        def hand(transaction: object) -> list[Any]:
            db = writes.pipelined()
            moved = db.execute(nodes.HAND_OVER, (node, self.node_timeout, ids, self.node_id))
            db.execute(nodes.NOTIFY, (nodes.channel(node),))
            return moved.fetchall()

        try:
            handed = {row[0] for row in self._write(hand)}
        except BaseException:
            self._outbound.release(ids)
            raise
        self._outbound.acknowledged([i for i in ids if i in handed])  # no longer ours
        self._outbound.release([i for i in ids if i not in handed])
        return len(handed)

    def hand_over_messages(self, node: int, message_ids: list[int]) -> list[int]:
        """Hand these claimed messages (to an ESME bound on `node`) to `node`, if it is alive,
        and wake it, in one transaction; the ids handed, which this node forgets (unclaimed,
        no longer due or pending here: never attempted here again)."""
        claimed = self._claimed
        ids = [i for i in message_ids if i in claimed]
        if not ids:
            return []
        writes = self._writes

        def hand(transaction: object) -> list[Any]:
            db = writes.pipelined()
            moved = db.execute(nodes.HAND_OVER_MESSAGES,
                               (node, self.node_timeout, ids, self.node_id))
            db.execute(nodes.NOTIFY, (nodes.channel(node),))
            return moved.fetchall()

        handed = [row[0] for row in self._write(hand)]
        if handed:
            cache = self._cache
            pending = self._pending
            for message_id in handed:
                cache.pop(message_id, None)
                pending[claimed.pop(message_id).fields.system_id] -= 1
            self._states[ENROUTE] -= len(handed)
            self._handed_away(handed)  # (an index entry left, if it was made due twice)
        return handed

    def adopt_messages(self) -> int:
        """Make due the messages another node handed to this one; how many."""
        writes = self._writes
        rows = self._write(lambda transaction: writes.pipelined().execute(
            nodes.ADOPT_MESSAGES, (self.node_id,)).fetchall())
        if rows:
            due = self._due
            cache = self._cache
            pending = self._pending
            for message_id, system_id, at in rows:
                cache.pop(message_id, None)
                self._due_again(message_id)
                heapq.heappush(due, (at, message_id))
                pending[system_id] += 1
            self._states[ENROUTE] += len(rows)
        return len(rows)

    def owners(self, system_id: str, message_id: int | None, destination_addr: str = ""
               ) -> dict[int | None, bool]:
        """The nodes that own what a cancel or replace of `system_id` would change (by id:
        the message and a submit_multi's other destinations; else the pending messages to
        `destination_addr`), each with whether it is alive (None: owned by no node)."""
        if message_id is not None:
            rows = self._read(nodes.OWNERS_OF_GROUP,
                              (self.node_timeout, system_id, message_id, message_id))
        else:
            rows = self._read(nodes.OWNERS_TO, (self.node_timeout, system_id, destination_addr))
        return {node: bool(alive) for node, alive in rows}

    def _own(self, messages: list[Message]) -> list[Message]:
        """Only the messages this node owns: another node's (it may hold them in memory, or
        attempt them) are changed by that node, asked by `smsc.cluster.requests`."""
        if not messages:
            return messages
        mine = {row[0] for row in self._read(
            nodes.OWN, ([m.message_id for m in messages], self.node_id))}
        return [m for m in messages if m.message_id in mine]

    def retry_now(self, message_ids: list[int], now: datetime) -> int:
        """Only the messages this node owns are made due here: one handed to another node
        since its id was read (an ESME's waiting messages when it binds) must not get an
        index entry that would have it attempted here too."""
        if not message_ids:
            return 0
        mine = {row[0] for row in self._read(nodes.OWN, (message_ids, self.node_id))}
        return super().retry_now([i for i in message_ids if i in mine], now)

    def close(self) -> None:
        """Leave the cluster cleanly (what this node owns goes to the next node to look),
        then close the connections."""
        db = self._db
        if not db.closed and not db.broken and self.node_id:
            with suppress(psycopg.Error):
                self._writes.flush()
                nodes.release(db, self.node_id)
        self._reader.close()
        db.close()
