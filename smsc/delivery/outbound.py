"""OutboundDispatcher: pushes receipts and MO messages to the ESMEs' receiver binds.

Items are claimed from the store only while a bound RX/TRX link of their system_id has room in
its window; a deliver_sm_resp with ESME_ROK acknowledges the item, anything else (an error
status, a response timeout, a dropped connection) gives it back to the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import trio

from smsc.clock import Clock
from smsc.delivery.committer import Committer
from smsc.pdu import Pdu
from smsc.pdu.constants import CommandStatus
from smsc.receipts import ReceiptDialects
from smsc.server.binds import BindRegistry
from smsc.server.link import Link
from smsc.session import LocalProtocolError
from smsc.store import OutboundItem

log = logging.getLogger("smsc.outbound")
FAILURE_BACKOFF = 1.0
"""Seconds an account's queue rests after the ESME refused or failed to answer a delivery."""


class OutboundDispatcher:
    def __init__(
        self, *, committer: Committer, binds: BindRegistry, clock: Clock,
        dialects: ReceiptDialects,
    ) -> None:
        self.committer = committer
        self.store = committer.store
        self.binds = binds
        self.clock = clock
        self.dialects = dialects
        self._in_flight: dict[tuple[int, int], OutboundItem] = {}
        self._resting: dict[str, float] = {}
        self._turns: dict[str, int] = {}
        self._wakeup = trio.Event()
        self.sent = 0
        self.on_acknowledged: Callable[[OutboundItem], None] | None = None
        """Observer of each delivery the ESME acknowledged."""

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_commits)
            nursery.start_soon(self._watch_binds)
            task_status.started()
            while True:
                self._wakeup = trio.Event()
                await self._push()
                deadline = min(self._resting.values(), default=float("inf"))
                with trio.move_on_at(deadline):
                    await self._wakeup.wait()

    async def _watch_commits(self) -> None:
        while True:
            await self.committer.wait_committed()
            self.wake()

    async def _watch_binds(self) -> None:
        while True:
            await self.binds.wait_changed()
            self.wake()

    async def _push(self) -> None:
        now = self.clock.monotonic()
        if self._resting:
            self._resting = {s: t for s, t in self._resting.items() if t > now}
        claimed, receivers = await self.committer.read(self._claim)
        if not claimed:
            return
        unsent: list[int] = []
        wall = self.clock.wall()  # one receipt "done date" clock reading per round
        for system_id, items in claimed.items():
            unsent += self._deal(system_id, items, receivers[system_id], wall)
        if unsent:
            await self.committer.read(self.store.release_outbound, unsent)

    def _claim(self) -> tuple[dict[str, list[OutboundItem]], dict[str, list[Link]]]:
        """Claim, for each account with deliveries waiting, as many as its receivers' windows
        have room for (one store call per round; receivers are looked at only for accounts
        that have something waiting, so a round costs nothing per idle bind)."""
        store = self.store
        claimed: dict[str, list[OutboundItem]] = {}
        receivers: dict[str, list[Link]] = {}
        for system_id in store.systems_with_outbound():
            if system_id in self._resting:
                continue
            links: list[Link] = []
            room = 0
            for link in self.binds.receivers(system_id):
                free = link.session.window_free
                if free > 0:
                    links.append(link)
                    room += free
            if room:
                items = store.claim_outbound(system_id, room)
                if items:
                    claimed[system_id] = items
                    receivers[system_id] = links
        return claimed, receivers

    def _deal(
        self, system_id: str, items: list[OutboundItem], links: list[Link], wall: datetime
    ) -> list[int]:
        """Send items round-robin over the receivers (the turn carries over from one round to
        the next); returns the ids that could not go."""
        unsent: list[int] = []
        turn = self._turns.get(system_id, 0)
        for item in items:
            for _ in range(len(links)):
                link = links[turn % len(links)]
                turn += 1
                if link.session.window_free > 0 and self._send(link, item, wall):
                    break
            else:
                unsent.append(item.item_id)
        self._turns[system_id] = turn
        return unsent

    def _send(self, link: Link, item: OutboundItem, wall: datetime) -> bool:
        if not link.is_open or not link.session.state.is_bound:
            return False
        pdu = self.dialects.for_message(item.message).build(
            item, with_tlvs=link.session.peer_speaks_34, now=wall
        )
        if pdu is None:  # the dialect reports nothing for this item: it is done
            self.committer.outbound_sent(item.item_id)
            return True
        try:
            sent = link.send(pdu)
        except LocalProtocolError:
            return False
        self._in_flight[(id(link), sent.sequence_number)] = item
        self.sent += 1
        return True

    # -- what the links report ------------------------------------------------------------------

    def on_response(self, link: Link, response: Pdu, request: Pdu) -> None:
        item = self._in_flight.pop((id(link), request.sequence_number), None)
        if item is None:
            return
        if response.command_status == CommandStatus.ESME_ROK:
            self.committer.outbound_sent(item.item_id)
            if self.on_acknowledged is not None:
                self.on_acknowledged(item)
        else:
            log.info(
                "%s refused a delivery with status 0x%08X", link.peer, response.command_status
            )
            self.committer.outbound_failed(item.item_id)
            self._rest(link)
        self.wake()

    def on_timeout(self, link: Link, request: Pdu) -> None:
        item = self._in_flight.pop((id(link), request.sequence_number), None)
        if item is not None:
            self.committer.outbound_failed(item.item_id)
            self._rest(link)
        self.wake()

    def on_closed(self, link: Link, unanswered: tuple[Pdu, ...]) -> None:
        for request in unanswered:
            item = self._in_flight.pop((id(link), request.sequence_number), None)
            if item is not None:
                self.committer.outbound_failed(item.item_id)
        self.wake()

    def _rest(self, link: Link) -> None:
        system_id = link.session.system_id
        self._resting[system_id] = self.clock.monotonic() + FAILURE_BACKOFF
