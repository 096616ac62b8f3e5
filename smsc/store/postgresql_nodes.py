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
memory (`ADOPT`), so that a notification missed is made up by the next poll; so is a message
handed over (`HAND_OVER_MESSAGES`: one to another account's ESME, bound on another node),
until its new node has it due (`ADOPT_MESSAGES`).
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
FORGET_BINDS = "DELETE FROM binds WHERE node = ANY(%s)"
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
REMOTE_BINDS = (
    "SELECT b.system_id, array_agg(b.node ORDER BY b.node) FROM binds AS b "
    f"JOIN nodes AS n ON n.id = b.node WHERE b.node <> %s AND n.heartbeat >= {NOW} - %s "
    "GROUP BY b.system_id")
UNBIND = "DELETE FROM binds WHERE node = %s AND NOT (system_id = ANY(%s))"
BIND = ("INSERT INTO binds (node, system_id) SELECT %s, unnest(%s::text[]) "
        "ON CONFLICT DO NOTHING")


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
        db.execute(NOTIFY, (BINDS_CHANNEL,))
