"""ControlPlane: what operators and tests may see and change in a running SMSC, in Python.

The HTTP API (`control/api.py`), the dashboard and the embedding helpers (`smsc/embed.py`) are
thin layers over this one object, so every operation exists once. Everything here runs on the
trio thread; store reads go through the committer (off the trio thread for SQLite).
"""

from __future__ import annotations

import dataclasses
import itertools
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import trio

from smsc.clock import Clock
from smsc.control.errors import NotFound
from smsc.control.recent import RecentAcknowledgements
from smsc.delivery.committer import Committer
from smsc.delivery.mobile import MobileOriginator
from smsc.metrics import BIND_MODES, SmscMetrics, Snapshot, by_node
from smsc.pdu.constants import MessageState
from smsc.pdu.text import decode_text_lenient, is_binary_coding
from smsc.server.link import Link
from smsc.simulation.handsets import digits_of
from smsc.store import (
    Message,
    MessageQuery,
    MessageStore,
    OutboundItem,
    OutboundKind,
    format_message_id,
)

HISTORY_SECONDS = 300
"""How far back the dashboard's rate chart reaches."""
SAMPLE_INTERVAL = 1.0
BOUND_STATES = {"transmitter": "bound_tx", "receiver": "bound_rx", "transceiver": "bound_trx"}
"""The state of another node's session, by its bind mode (its rows are bound sessions)."""


@dataclass(frozen=True, slots=True)
class RatePoint:
    """Totals at one moment; the dashboard's rates are differences between points."""

    at: float
    """Seconds since the SMSC started."""
    submitted: int
    delivered: int
    failed: int
    acknowledged: int
    """Receipts and MO messages the ESMEs acknowledged."""


class ClusterView(Protocol):
    """This process as a node of a shared PostgreSQL store (`smsc.cluster.node.ClusterNode`),
    as the control plane reads it: the sessions of every node, and the metrics of the
    `--workers` siblings."""

    node_id: int

    @property
    def bound_at(self) -> Mapping[Link, float]:
        """This node's admitted sessions and when each bound (POSIX)."""

    def node_name(self, node: int) -> str:
        """A node's name as the last heartbeat read it ("" when unknown)."""

    async def sessions(self) -> list[tuple[Any, ...]] | None:
        """Every live node's sessions (`postgresql_nodes.list_sessions`); None when the
        database cannot say."""

    async def sibling_metrics(self, token: str = ""
                              ) -> tuple[dict[int, bytes], list[int]] | None:
        """The other `--workers` workers' metrics by node, and the nodes that did not
        answer; None when this node is not a worker."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class ControlPlane:
    """See the module docstring. Built by `app.run`; reachable as `RunningSmsc.control`."""

    def __init__(
        self,
        *,
        id_format: str,
        clock: Clock,
        committer: Committer,
        links: set[Link],
        metrics: SmscMetrics,
        mobile: MobileOriginator,
        accounts: Iterable[str] = (),
        cluster: ClusterView | None = None,
    ) -> None:
        self.clock = clock
        self.cluster = cluster
        """The node this process is of a shared PostgreSQL store (None: on its own)."""
        self.committer = committer
        self.store: MessageStore = committer.store
        self.links = links
        self.metrics = metrics
        self.mobile = mobile
        self.accounts = tuple(accounts)
        """The configured system_ids: their gauges read 0 while they have nothing."""
        self.id_format = id_format
        """server.message_id_format: how ids are written and read back."""
        self.started_at = clock.monotonic()
        self._ids = itertools.count(1)
        self._session_ids: weakref.WeakKeyDictionary[Link, int] = weakref.WeakKeyDictionary()
        self.history: deque[RatePoint] = deque(maxlen=int(HISTORY_SECONDS / SAMPLE_INTERVAL))
        self._store_snapshot: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self._nursery: trio.Nursery | None = None
        self._acknowledged = RecentAcknowledgements(now=clock.monotonic())
        """Recently acknowledged deliveries: message id → kind (bounded)."""
        self._ack_waiters: dict[int, trio.Event] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the tasks the control plane starts (unbinds) and sample the rates."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._sample_rates)
            task_status.started()

    # -- sessions ---------------------------------------------------------------------------

    def on_link(self, link: Link) -> None:
        """Listener hook: number each connection as it arrives (ids never repeat)."""
        self._session_ids[link] = next(self._ids)

    def session_id(self, link: Link) -> int:
        if link not in self._session_ids:
            self.on_link(link)
        return self._session_ids[link]

    def sessions(self) -> list[dict[str, Any]]:
        return [self.describe_session(link)
                for link in sorted(self.links, key=self.session_id)]

    def describe_session(self, link: Link) -> dict[str, Any]:
        session = link.session
        bind_type = session.bind_type
        return {
            "id": self.session_id(link),
            "peer": link.peer,
            "system_id": session.system_id or None,
            "bind_type": bind_type.value if bind_type else None,
            "state": session.state.value,
            "window": session.limits.window,
            "in_flight": session.outstanding,
        }

    async def every_session(self) -> list[dict[str, Any]]:
        """/v1/sessions: this process's sessions; on a shared PostgreSQL store, with every
        other live node's bound sessions after them, each naming its node and when it bound.
        Another node's window is the account's as it bound, its in_flight null (counted per
        PDU, it stays on its node); ids are per node."""
        cluster = self.cluster
        if cluster is None:
            return self.sessions()
        here = cluster.node_id
        node = {"id": here, "name": cluster.node_name(here)}
        found = []
        for link in sorted(self.links, key=self.session_id):
            found.append({**self.describe_session(link), "node": node,
                          "bound_since": _posix_iso(cluster.bound_at.get(link))})
        for (node_id, name, session_id, system_id, bind_type, peer, window,
             bound_at) in await cluster.sessions() or ():
            if node_id == here:
                continue
            found.append({
                "id": session_id, "peer": peer, "system_id": system_id,
                "bind_type": bind_type, "state": BOUND_STATES[bind_type],
                "window": window, "in_flight": None, "node": {"id": node_id, "name": name},
                "bound_since": _posix_iso(bound_at)})
        return found

    def find_session(self, session_id: int) -> Link:
        for link in self.links:
            if self._session_ids.get(link) == session_id:
                return link
        raise NotFound(f"no session {session_id}")

    async def unbind_session(self, session_id: int, timeout: float = 5.0) -> None:
        """Send unbind; the link closes when the ESME answers (or after `timeout`)."""
        link = self.find_session(session_id)
        assert self._nursery is not None, "ControlPlane.run has not started"
        self._nursery.start_soon(link.unbind, timeout)

    def drop_session(self, session_id: int) -> None:
        """Close the connection at once, without unbind."""
        self.find_session(session_id).abort("dropped by the control API")

    # -- deliveries to ESMEs -----------------------------------------------------------------

    def on_acknowledged(self, items: list[OutboundItem]) -> None:
        """Outbound hook: an ESME answered these receipts or MO deliver_sm with ESME_ROK."""
        self.metrics.record_acknowledged(items)
        self._acknowledged.add_items(items)
        if self._ack_waiters:
            for item in items:
                waiter = self._ack_waiters.pop(item.message.message_id, None)
                if waiter is not None:
                    waiter.set()

    async def wait_acknowledged(self, message_id: int) -> OutboundKind:
        """Return once an ESME has acknowledged the receipt (or MO message) of `message_id`:
        the deliver_sm was answered with ESME_ROK. Intermediate notifications do not count.
        Acknowledgements are remembered for 30 s at least, the last 5,000 always."""
        while (kind := self._acknowledged.get(message_id)) in (None, OutboundKind.INTERMEDIATE):
            waiter = self._ack_waiters.setdefault(message_id, trio.Event())
            await waiter.wait()
        assert kind is not None
        return kind

    # -- messages ---------------------------------------------------------------------------

    async def find_messages(self, query: MessageQuery) -> list[dict[str, Any]]:
        """Messages matching `query`, newest first. A number matches however it was written:
        `+4477…`, `004477…` and `4477…` are one number (as the simulation keys handsets)."""
        if query.address is None or not digits_of(query.address).isdigit():
            found = await self.committer.call(self.store.find, query)
        else:
            digits = digits_of(query.address)
            by_id: dict[int, Message] = {}
            for written in (digits, f"+{digits}", f"00{digits}"):
                variant = dataclasses.replace(query, address=written)
                for message in await self.committer.call(self.store.find, variant):
                    by_id[message.message_id] = message
            found = [by_id[i] for i in sorted(by_id, reverse=True)[:query.limit]]
        return [self.describe_message(message) for message in found]

    async def message(self, message_id: int) -> dict[str, Any]:
        found = await self.committer.call(self.store.find, MessageQuery(message_id=message_id))
        if not found:
            raise NotFound(f"no message {format_message_id(message_id, self.id_format)}")
        return self.describe_message(found[0])

    def describe_message(self, message: Message) -> dict[str, Any]:
        fields = message.fields
        binary = is_binary_coding(fields.data_coding)
        return {
            "id": format_message_id(message.message_id, self.id_format),
            "submit_id": format_message_id(message.public_id, self.id_format),
            "account": fields.system_id,
            "direction": fields.direction.value,
            "source_addr": fields.source_addr,
            "destination_addr": fields.destination_addr,
            "state": message.state.name,
            "network": fields.network or None,
            "data_coding": fields.data_coding,
            "text": None if binary else decode_text_lenient(
                _user_text(fields.payload, fields.esm_class), fields.data_coding
            ).text,
            "payload_hex": fields.payload.hex(),
            "registered_delivery": fields.registered_delivery,
            "attempts": message.attempts,
            "submitted_at": _iso(fields.submitted_at),
            "final_at": _iso(message.final_at),
            "next_attempt_at": _iso(message.next_attempt_at),
            "expires_at": _iso(fields.expires_at),
            "network_error_code": message.network_error_code,
        }

    # -- mobile-originated ------------------------------------------------------------------

    async def inject_mo(self, source_addr: str, destination_addr: str, text: str,
                        data_coding: int | None = None) -> list[str]:
        """Store a handset's message for the account owning `destination_addr`; long texts
        are split into concatenated parts. Returns the message ids, one per part."""
        ids = await self.mobile.send_text(source_addr, destination_addr, text,
                                          data_coding=data_coding)
        return [format_message_id(i, self.id_format) for i in ids]

    # -- metrics and the dashboard ---------------------------------------------------------

    async def refresh_store_snapshot(self) -> None:
        """Read messages by state and deliveries owed from the store (before a scrape)."""
        depth = await self.committer.call(self.store.depth_by_state)
        owed = await self.committer.call(self.store.outbound_counts)
        self._store_snapshot = ({state.name: n for state, n in depth.items()}, owed)

    async def render_metrics(self, accept: str = "", token: str = "") -> tuple[bytes, str]:
        """/metrics: the exposition and its content type. On a shared PostgreSQL store each
        sample carries this node's id as `node`, and a `--workers` worker's adds those of
        its sibling workers (gathered from each, `token` their control token), which serve
        no control API of their own."""
        await self.refresh_store_snapshot()
        cluster = self.cluster
        if cluster is None:
            return self.metrics.render(self.snapshot(), accept)
        here, _ = self.metrics.render(self.snapshot())
        texts = {str(cluster.node_id): here}
        gathered = await cluster.sibling_metrics(token)
        if gathered is None:
            return by_node(texts, accept=accept)
        siblings, left_out = gathered
        texts.update((str(node), text) for node, text in sorted(siblings.items()))
        return by_node(texts, [str(node) for node in left_out], accept)

    def snapshot(self) -> Snapshot:
        """The present state, for the gauges of /metrics (`SmscMetrics.render`); the
        configured accounts read 0 where they have nothing."""
        accounts = self.accounts
        binds = {(account, mode): 0 for account in accounts for mode in BIND_MODES}
        in_flight = dict.fromkeys(accounts, 0)
        window = dict.fromkeys(accounts, 0)
        for link in list(self.links):
            session = link.session
            if not session.state.is_bound or session.bind_type is None:
                continue
            key = (session.system_id, session.bind_type.value)
            binds[key] = binds.get(key, 0) + 1
            in_flight[session.system_id] = in_flight.get(session.system_id, 0) + \
                session.outstanding
            window[session.system_id] = window.get(session.system_id, 0) + session.limits.window
        depth, owed = self._store_snapshot
        return Snapshot(binds=binds, window_in_flight=in_flight, window_size=window,
                        by_state=dict(depth),
                        deliveries_pending={**dict.fromkeys(accounts, 0), **owed})

    def totals(self) -> RatePoint:
        submitted, delivered, failed, acknowledged = self.metrics.totals()
        return RatePoint(round(self.clock.monotonic() - self.started_at, 3), submitted,
                         delivered, failed, acknowledged)

    async def _sample_rates(self) -> None:
        """Record the totals every second, for the dashboard's chart of recent rates."""
        while True:
            self.history.append(self.totals())
            self._acknowledged.tick(self.clock.monotonic())
            await trio.sleep(SAMPLE_INTERVAL)

    async def overview(self, recent: int = 20) -> dict[str, Any]:
        """Everything the dashboard shows, in one JSON object: `queue` holds only messages
        still waiting (not yet final), `finished_kept` those the store keeps until retention
        purges them."""
        await self.refresh_store_snapshot()
        depth, owed = self._store_snapshot
        now = self.totals()
        queue = {state: n for state, n in depth.items() if state not in _FINAL}
        return {
            "uptime": now.at,
            "totals": _point(now),
            "history": [_point(p) for p in self.history],
            "queue": {"waiting": sum(queue.values()), "by_state": queue},
            "finished_kept": {state: n for state, n in depth.items() if state in _FINAL},
            "deliveries_pending": {**dict.fromkeys(self.accounts, 0), **owed},
            "sessions": await self.every_session(),
            "recent_messages": await self.find_messages(MessageQuery(limit=recent)),
        }


_FINAL = frozenset(state.name for state in MessageState if state.is_final)


def _posix_iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


def _point(point: RatePoint) -> dict[str, float]:
    return {"at": point.at, "submitted": point.submitted, "delivered": point.delivered,
            "failed": point.failed, "acknowledged": point.acknowledged}


def _user_text(payload: bytes, esm_class: int) -> bytes:
    if esm_class & 0x40 and payload and payload[0] + 1 <= len(payload):
        return payload[payload[0] + 1:]
    return payload


__all__ = ["ControlPlane", "NotFound", "RatePoint"]
