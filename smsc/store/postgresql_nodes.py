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

An item handed over or taken over is marked `moved` until its new node has read it into
memory (`ADOPT`), so that a notification missed is made up by the next poll.

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
    f"UPDATE messages SET node = %s WHERE node IS NULL AND state = {ENROUTE} "
    "RETURNING id, system_id, next_attempt_at")
TAKE_MESSAGES = (
    f"UPDATE messages SET node = %s WHERE node = ANY(%s) AND state = {ENROUTE} "
    "RETURNING id, system_id, next_attempt_at")
TAKE_UNOWNED_OUTBOUND = "UPDATE outbound SET node = %s, moved = true WHERE node IS NULL"
TAKE_OUTBOUND = "UPDATE outbound SET node = %s, moved = true WHERE node = ANY(%s)"
"""What no node owns (partial indexes: a look at every heartbeat costs next to nothing), and
what dead nodes owned (a scan, when one died)."""
FORGET_BINDS = "DELETE FROM binds WHERE node = ANY(%s)"
FORGET_NODES = "DELETE FROM nodes WHERE id = ANY(%s)"
RELEASE_MESSAGES = f"UPDATE messages SET node = NULL WHERE node = %s AND state = {ENROUTE}"
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
NOTIFY = "SELECT pg_notify(%s, '')"
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
WITHDRAW = "DELETE FROM requests WHERE id = %s RETURNING taken, result"
FORGET_REQUESTS = "DELETE FROM requests WHERE asker = ANY(%s)"
"""What dead nodes asked (nobody collects the answers); what was asked of them stays until
its asker withdraws it."""
REMOTE_BINDS = (
    "SELECT b.system_id, array_agg(b.node ORDER BY b.node) FROM binds AS b "
    f"JOIN nodes AS n ON n.id = b.node WHERE b.node <> %s AND n.heartbeat >= {NOW} - %s "
    "GROUP BY b.system_id")
UNBIND = "DELETE FROM binds WHERE node = %s AND NOT (system_id = ANY(%s))"
BIND = ("INSERT INTO binds (node, system_id) SELECT %s, unnest(%s::text[]) "
        "ON CONFLICT DO NOTHING")


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


def withdraw(db: psycopg.Connection[Any], request: int) -> tuple[bool, int | None]:
    """A request given up: whether its node had taken it, and its result if it came."""
    row = db.execute(WITHDRAW, (request,)).fetchone()
    return (False, None) if row is None else (bool(row[0]), row[1])


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


def set_binds(db: psycopg.Connection[Any], node: int, system_ids: list[str]) -> None:
    """The accounts with a receiver bound on this node are these; tell every node."""
    with db.transaction():
        db.execute(UNBIND, (node, system_ids))
        db.execute(BIND, (node, system_ids))
        db.execute(NOTIFY, (BINDS_CHANNEL,))


def release(db: psycopg.Connection[Any], node: int) -> None:
    """A node stopping cleanly: its unfinished messages and owed items to no node (the next
    node to look takes them), its row and binds gone."""
    with db.transaction():
        db.execute(FORGET_NODES, ([node],))  # first: no item is handed here after this
        db.execute(RELEASE_MESSAGES, (node,))
        db.execute(RELEASE_OUTBOUND, (node,))
        db.execute(FORGET_BINDS, ([node],))
        db.execute(FORGET_REQUESTS, ([node],))
        db.execute(NOTIFY, (BINDS_CHANNEL,))
