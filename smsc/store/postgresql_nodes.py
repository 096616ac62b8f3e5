"""The nodes of a PostgreSQL store: the processes that share its tables, each owning the
unfinished messages and the owed items it works on.

Every store on the database is a node: a row in `nodes` (name, host, pid, when it started,
its heartbeat), written with the server's clock so that nodes on different hosts agree on
who is silent. Each message and each owed item names its node (`node`: the default of the
column is the writing connection's `smsc.node` setting, so the writes of the hot path name
none). A node owns what it wrote until it hands an item to another node (one whose account
has a receiver bound there) or it dies: a node whose heartbeat is older than the timeout is
taken over by the first survivor to lock its row (`FOR UPDATE SKIP LOCKED`), which becomes
the owner of its unfinished messages and owed items. A node that stops cleanly leaves its
rows to no node (NULL), and the next node to look takes them.

Each session bound on a node is a row of `sessions` (written before the bind is answered,
under the account's advisory lock, so that `max_binds` counts every live node's binds; gone
at unbind, with its node at a clean stop or a take-over): what `/v1/sessions` shows of the
other nodes, and where a receipt finds a receiver (`REMOTE_BINDS`). A `--workers` worker
records where it serves its metrics (`SET_METRICS`), for its first sibling to gather.

An item handed over or taken over is marked `moved` until its new node has read it into
memory (`ADOPT`), so that a notification missed is made up by the next poll; so is a message
handed over (`HAND_OVER_MESSAGES`: one to another account's ESME, bound on another node),
until its new node has it due (`ADOPT_MESSAGES`).

A cancel_sm or replace_sm of a message another node owns is asked of that node: a row in
`requests` (`ASK`, with a NOTIFY on its channel), which the owner takes, runs as its own and
answers (`ANSWER`, with a NOTIFY on the asker's channel); the asker collects the result, or
withdraws the request when no answer came in time (`smsc.cluster.requests`).
"""

from __future__ import annotations

from typing import Any

import psycopg

from smsc.pdu.constants import MessageState

ENROUTE = int(MessageState.ENROUTE)
NOW = "extract(epoch FROM clock_timestamp())"
"""The server's clock, in POSIX seconds: every node's heartbeat on one clock."""
BINDS_CHANNEL = "smsc_binds"
"""Notified when the accounts bound on some node changed."""

REGISTER = (f"INSERT INTO nodes (name, host, pid, started, heartbeat) "
            f"VALUES (%s, %s, %s, {NOW}, {NOW}) RETURNING id")
HEARTBEAT = f"UPDATE nodes SET heartbeat = {NOW} WHERE id = %s RETURNING id"
LIST_NODES = f"SELECT id, name, host, pid, started, {NOW} - heartbeat FROM nodes ORDER BY id"
DEAD_NODES = (f"SELECT id FROM nodes WHERE heartbeat < {NOW} - %s AND id <> %s "
              "FOR UPDATE SKIP LOCKED")
TAKE_UNOWNED_MESSAGES = (
    f"UPDATE messages SET node = %s, moved = false WHERE node IS NULL AND state = {ENROUTE} "
    "RETURNING id, system_id, next_attempt_at")
TAKE_MESSAGES = (
    f"UPDATE messages SET node = %s, moved = false WHERE node = ANY(%s) AND state = {ENROUTE} "
    "RETURNING id, system_id, next_attempt_at")
TAKE_UNOWNED_OUTBOUND = "UPDATE outbound SET node = %s, moved = true WHERE node IS NULL"
TAKE_OUTBOUND = "UPDATE outbound SET node = %s, moved = true WHERE node = ANY(%s)"
"""What no node owns (partial indexes: a look at every heartbeat costs next to nothing), and
what dead nodes owned (a scan, when one died)."""
FORGET_BINDS = "DELETE FROM sessions WHERE node = ANY(%s)"
"""The sessions of nodes taken over or stopping."""
FORGET_NODES = "DELETE FROM nodes WHERE id = ANY(%s)"
RELEASE_MESSAGES = (
    f"UPDATE messages SET node = NULL, moved = false WHERE node = %s AND state = {ENROUTE}")
RELEASE_OUTBOUND = "UPDATE outbound SET node = NULL, moved = false WHERE node = %s"
SETTLE_OUTBOUND = "UPDATE outbound SET moved = false WHERE node = %s AND moved"
ADOPT = ("UPDATE outbound SET moved = false WHERE node = %s AND moved "
         "RETURNING item_id, system_id, kind, message_id, attempts, state")
HAND_OVER = (
    "WITH target AS (SELECT id FROM nodes WHERE id = %s "
    f"AND heartbeat >= {NOW} - %s FOR SHARE) "
    "UPDATE outbound SET node = (SELECT id FROM target), moved = true "
    "WHERE item_id = ANY(%s) AND node = %s AND EXISTS (SELECT 1 FROM target) "
    "RETURNING item_id")
"""Items to a live node, its row locked (FOR SHARE) until the commit: a node that stops
deletes its row before it gives back what it owns, and a survivor taking over a dead node
locks its row, so items are never handed to a node that will not read them."""
HAND_OVER_MESSAGES = (
    "WITH target AS (SELECT id FROM nodes WHERE id = %s "
    f"AND heartbeat >= {NOW} - %s FOR SHARE) "
    "UPDATE messages SET node = (SELECT id FROM target), moved = true "
    f"WHERE id = ANY(%s) AND node = %s AND state = {ENROUTE} "
    "AND EXISTS (SELECT 1 FROM target) RETURNING id")
"""Unfinished messages to a live node, as `HAND_OVER` hands items."""
ADOPT_MESSAGES = ("UPDATE messages SET moved = false WHERE node = %s AND moved "
                  "RETURNING id, system_id, next_attempt_at")
NOTIFY = "SELECT pg_notify(%s, '')"
RECEIVING = "('receiver', 'transceiver')"
NOTIFY_WITH = "SELECT pg_notify(%s, %s)"
OWNERS = (f"SELECT DISTINCT m.node, coalesce(n.heartbeat >= {NOW} - %s, false) "
          "FROM messages AS m LEFT JOIN nodes AS n ON n.id = m.node "
          f"WHERE m.system_id = %s AND m.state = {ENROUTE} AND ")
OWNERS_OF_GROUP = OWNERS + "(m.id = %s OR m.multi_id = %s)"
OWNERS_TO = OWNERS + "m.destination_addr = %s"
"""The nodes that own the unfinished messages of a group (the id an ESME was given and a
submit_multi's other destinations) or an account's pending ones to a destination, each with
whether it is alive (NULL: owned by none)."""
OWN = "SELECT id FROM messages WHERE id = ANY(%s) AND node = %s"
REQUEST_PAYLOAD = "request"
RESULT_PAYLOAD = "result"
"""The payloads of a node's channel: a request asked of it, a result answered to it (no
payload: items handed to it)."""
ASK = (
    "WITH target AS (SELECT id FROM nodes WHERE id = %s "
    f"AND heartbeat >= {NOW} - %s FOR SHARE) "
    "INSERT INTO requests (node, asker, kind, parameters) "
    "SELECT id, %s, %s, %s FROM target RETURNING id")
TAKE_REQUESTS = ("UPDATE requests SET taken = true WHERE node = %s AND NOT taken "
                 "RETURNING id, asker, kind, parameters")
ANSWER = "UPDATE requests SET result = %s WHERE id = %s"
COLLECT = "DELETE FROM requests WHERE asker = %s AND result IS NOT NULL RETURNING id, result"
LOOK_UP_REQUEST = "SELECT taken, result FROM requests WHERE id = %s FOR UPDATE"
WITHDRAW = "DELETE FROM requests WHERE id = %s"
FORGET_REQUESTS = "DELETE FROM requests WHERE asker = ANY(%s)"
"""What dead nodes asked (nobody collects the answers); what was asked of them stays until
its asker withdraws it."""
REMOTE_BINDS = (
    "SELECT s.system_id, array_agg(DISTINCT s.node ORDER BY s.node) FROM sessions AS s "
    f"JOIN nodes AS n ON n.id = s.node WHERE s.node <> %s AND s.bind_type IN {RECEIVING} "
    f"AND n.heartbeat >= {NOW} - %s GROUP BY s.system_id")
ACCOUNT_LOCK = 0x534D5342
"""The first key of the advisory locks that make an account's binds one at a time across
the nodes (the second: `hashtext(system_id)`)."""
LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
LOCK_WAIT = "SELECT set_config('lock_timeout', %s, true)"
"""How long this transaction waits for a lock (LockNotAvailable past it)."""
COUNT_BINDS = (
    "SELECT count(*) FROM sessions AS s JOIN nodes AS n ON n.id = s.node "
    f"WHERE s.system_id = %s AND n.heartbeat >= {NOW} - %s")
"""An account's sessions on the live nodes (a dead node's are gone with it)."""
OPEN_SESSION = (
    "INSERT INTO sessions (node, session, system_id, bind_type, peer, window_size, bound_at) "
    f"VALUES (%s, %s, %s, %s, %s, %s, {NOW}) RETURNING bound_at")
CLOSE_SESSION = "DELETE FROM sessions WHERE node = %s AND session = %s RETURNING bind_type"
LIST_SESSIONS = (
    "SELECT s.node, n.name, s.session, s.system_id, s.bind_type, s.peer, s.window_size, "
    "s.bound_at FROM sessions AS s JOIN nodes AS n ON n.id = s.node "
    f"WHERE n.heartbeat >= {NOW} - %s ORDER BY s.node, s.session")
SET_METRICS = "UPDATE nodes SET metrics = %s, supervisor = %s WHERE id = %s"
SIBLINGS = (
    "SELECT id, metrics FROM nodes WHERE supervisor = %s AND metrics IS NOT NULL "
    f"AND id <> %s AND heartbeat >= {NOW} - %s ORDER BY id")


def ask(db: psycopg.Connection[Any], node: int, timeout: float, asker: int, kind: str,
        parameters: str) -> int | None:
    """Ask `node` to run a request, if it is alive, and wake it, in one transaction; the
    request's id (None: the node is not alive)."""
    with db.transaction():
        row = db.execute(ASK, (node, timeout, asker, kind, parameters)).fetchone()
        if row is None:
            return None
        db.execute(NOTIFY_WITH, (channel(node), REQUEST_PAYLOAD))
    return int(row[0])


def take_requests(db: psycopg.Connection[Any], node: int) -> list[tuple[int, int, str, str]]:
    """The requests asked of `node` that it has not taken yet, now taken: id, asker, kind,
    parameters."""
    return [tuple(row) for row in db.execute(TAKE_REQUESTS, (node,)).fetchall()]


def answer(db: psycopg.Connection[Any], request: int, asker: int, result: int) -> None:
    """A request's result, and its asker woken, in one transaction."""
    with db.transaction():
        db.execute(ANSWER, (result, request))
        db.execute(NOTIFY_WITH, (channel(asker), RESULT_PAYLOAD))


def collect(db: psycopg.Connection[Any], asker: int) -> list[tuple[int, int]]:
    """The results of `asker`'s answered requests (id, result), the requests gone."""
    return [tuple(row) for row in db.execute(COLLECT, (asker,)).fetchall()]


def withdraw(db: psycopg.Connection[Any], request: int, leave_running: bool = True
             ) -> tuple[bool, int | None] | None:
    """A request given up, unless its node is running it (taken, no result yet) and
    `leave_running`: whether its node had taken it, and its result if it came
    (None: no such request, its answer collected)."""
    with db.transaction():
        row = db.execute(LOOK_UP_REQUEST, (request,)).fetchone()
        if row is None:
            return None
        taken, result = bool(row[0]), row[1]
        if not (taken and result is None and leave_running):
            db.execute(WITHDRAW, (request,))
    return taken, result


def channel(node: int) -> str:
    """The channel a node LISTENs on for items handed to it."""
    return f"smsc_node_{node}"


def register(db: psycopg.Connection[Any], name: str, host: str, pid: int) -> int:
    """A new node's row; its id."""
    row = db.execute(REGISTER, (name, host, pid)).fetchone()
    assert row is not None
    return int(row[0])


def heartbeat(db: psycopg.Connection[Any], node: int) -> bool:
    """Say the node is alive; False when its row is gone (it was taken over as dead)."""
    return db.execute(HEARTBEAT, (node,)).fetchone() is not None


def list_nodes(db: psycopg.Connection[Any]) -> list[tuple[int, str, str, int, float, float]]:
    """Every node: id, name, host, pid, started (POSIX), seconds since its heartbeat."""
    return [tuple(row) for row in db.execute(LIST_NODES).fetchall()]


def remote_binds(db: psycopg.Connection[Any], node: int, timeout: float
                 ) -> dict[str, list[int]]:
    """Per account, the other live nodes with a receiver bound for it."""
    return {system_id: list(nodes) for system_id, nodes in
            db.execute(REMOTE_BINDS, (node, timeout)).fetchall()}


def open_session(db: psycopg.Connection[Any], node: int, session: int, system_id: str,
                 bind_type: str, peer: str, window: int, max_binds: int, timeout: float,
                 lock_wait: float) -> float | None:
    """A session bound on `node`, if the account has fewer than `max_binds` sessions on the
    live nodes: its row, and when it bound (the server's clock); None when it has them all.
    The account's advisory lock, held until the COMMIT, makes two nodes' binds of one
    account count one after the other; a receiver's row tells every node. A lock not had
    in `lock_wait` seconds is LockNotAvailable (the connection is the node's: tried again
    after the others' turn)."""
    with db.transaction():
        db.execute(LOCK_WAIT, (f"{max(1, round(lock_wait * 1000))}ms",))
        db.execute(LOCK_ACCOUNT, (ACCOUNT_LOCK, system_id))
        row = db.execute(COUNT_BINDS, (system_id, timeout)).fetchone()
        if row is not None and row[0] >= max_binds:
            return None
        bound = db.execute(OPEN_SESSION, (node, session, system_id, bind_type, peer, window)
                           ).fetchone()
        if bind_type in ("receiver", "transceiver"):
            db.execute(NOTIFY, (BINDS_CHANNEL,))
    assert bound is not None
    return float(bound[0])


def close_session(db: psycopg.Connection[Any], node: int, session: int) -> None:
    """A session of `node` unbound or closed: its row goes (a receiver's tells every node)."""
    with db.transaction():
        row = db.execute(CLOSE_SESSION, (node, session)).fetchone()
        if row is not None and row[0] in ("receiver", "transceiver"):
            db.execute(NOTIFY, (BINDS_CHANNEL,))


def list_sessions(db: psycopg.Connection[Any], timeout: float) -> list[tuple[Any, ...]]:
    """The sessions of every live node: node, its name, session, system_id, bind type, peer,
    window, bound at (POSIX)."""
    return [tuple(row) for row in db.execute(LIST_SESSIONS, (timeout,)).fetchall()]


def set_metrics(db: psycopg.Connection[Any], node: int, address: str, supervisor: int) -> None:
    """Where this worker serves its metrics, for its supervisor's first worker to gather."""
    db.execute(SET_METRICS, (address, supervisor, node))


def siblings(db: psycopg.Connection[Any], node: int, supervisor: int, timeout: float
             ) -> list[tuple[int, str]]:
    """The other live workers of `supervisor` that serve their metrics: id, host:port."""
    return [(int(node_id), str(address)) for node_id, address in
            db.execute(SIBLINGS, (supervisor, node, timeout)).fetchall()]


def release(db: psycopg.Connection[Any], node: int) -> None:
    """A node stopping cleanly: its unfinished messages and owed items to no node (the next
    node to look takes them), its row and sessions gone."""
    with db.transaction():
        db.execute(FORGET_NODES, ([node],))  # first: no item is handed here after this
        db.execute(RELEASE_MESSAGES, (node,))
        db.execute(RELEASE_OUTBOUND, (node,))
        db.execute(FORGET_BINDS, ([node],))
        db.execute(FORGET_REQUESTS, ([node],))
        db.execute(NOTIFY, (BINDS_CHANNEL,))
