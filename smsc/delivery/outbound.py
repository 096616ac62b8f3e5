"""OutboundDispatcher: pushes receipts and MO messages to the ESMEs' receiver binds.

Items are claimed from the store only while a bound RX/TRX receiver of their system_id has
room in its window; a deliver_sm_resp with ESME_ROK acknowledges the item, anything else (an error
status, a response timeout, a dropped connection) gives it back to the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import trio

from smsc.clock import Clock
from smsc.delivery.committer import Committer
from smsc.delivery.esmes import NO_ANSWER, EsmeDelivery
from smsc.delivery.receivers import BindRegistry, Receiver
from smsc.pdu import DeliverSm, Pdu, Prebuilt
from smsc.pdu.constants import CommandStatus
from smsc.receipts import ReceiptDialects, build_mo_parts
from smsc.session import LocalProtocolError, ResponseReceived
from smsc.store import OutboundItem, OutboundKind

log = logging.getLogger("smsc.outbound")
FAILURE_BACKOFF = 1.0
"""Seconds an account's queue rests after the ESME refused or failed to answer a delivery."""
_MO = OutboundKind.MO
_RECEIPT = OutboundKind.RECEIPT
_ROK = CommandStatus.ESME_ROK
"""Enum members as module constants (docs/architecture.md, "Hot-path idioms")."""


class OutboundDispatcher:
    def __init__(
        self, *, committer: Committer, binds: BindRegistry, clock: Clock,
        dialects: ReceiptDialects,
        on_acknowledged: Callable[[list[OutboundItem]], None] | None = None,
        esmes: EsmeDelivery | None = None,
    ) -> None:
        self.committer = committer
        self.store = committer.store
        self.binds = binds
        self.clock = clock
        self.dialects = dialects
        self._in_flight: dict[tuple[int, int], OutboundItem] = {}
        self._parts: dict[tuple[int, int], _Parts] = {}
        """For items sent as several PDUs: (receiver, sequence) → what is left of its item."""
        self._resting: dict[str, float] = {}
        self._turns: dict[str, int] = {}
        self._wakeup = trio.Event()
        self._woken = False
        """Whether `_wakeup` is set already (saves setting it once per acknowledgement)."""
        self.sent = 0
        self.on_acknowledged = on_acknowledged
        """Observer of the deliveries the ESME acknowledged (several at once, in order)."""
        self.esmes = esmes
        """Told of the answers to what it sent: messages from other ESMEs."""

    def wake(self) -> None:
        if not self._woken:
            self._woken = True
            self._wakeup.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_commits)
            nursery.start_soon(self._watch_binds)
            task_status.started()
            while True:
                self._wakeup = trio.Event()
                self._woken = False
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
        # one clock reading per round: the receipts' "done date", the responses' deadlines
        now = self.clock.monotonic()
        wall = self.clock.wall_at(now)
        for system_id, items in claimed.items():
            unsent += self._deal(system_id, items, receivers[system_id], wall, now)
        if unsent:
            await self.committer.read(self.store.release_outbound, unsent)

    def _claim(self) -> tuple[dict[str, list[OutboundItem]], dict[str, list[Receiver]]]:
        """Claim, for each account with deliveries waiting, as many as its receivers' windows
        have room for (one store call per round; receivers are looked at only for accounts
        that have something waiting, so a round costs nothing per idle bind)."""
        store = self.store
        claimed: dict[str, list[OutboundItem]] = {}
        receivers: dict[str, list[Receiver]] = {}
        for system_id in store.systems_with_outbound():
            if system_id in self._resting:
                continue
            ready: list[Receiver] = []
            room = 0
            for receiver in self.binds.receivers(system_id):
                free = receiver.window_free
                if free > 0:
                    ready.append(receiver)
                    room += free
            if room:
                items = store.claim_outbound(system_id, room)
                if items:
                    claimed[system_id] = items
                    receivers[system_id] = ready
        return claimed, receivers

    def _deal(
        self, system_id: str, items: list[OutboundItem], receivers: list[Receiver],
        wall: datetime, now: float,
    ) -> list[int]:
        """Deal the items round-robin over the receivers with room (the turn carries over from
        one round to the next), then send each receiver its share as `_send_all` does: in runs.
        Returns the ids that could not go."""
        if len(receivers) == 1:  # the usual: one receiver, no turns to take
            return self._send_all(receivers[0], items, wall, now)
        count = len(receivers)
        room = [receiver.window_free for receiver in receivers]
        shares: list[list[OutboundItem]] = [[] for _ in receivers]
        unsent: list[int] = []
        turn = self._turns.get(system_id, 0)
        for item in items:
            for _ in range(count):
                index = turn % count
                turn += 1
                if room[index] > 0:
                    room[index] -= 1
                    shares[index].append(item)
                    break
            else:
                unsent.append(item.item_id)
        self._turns[system_id] = turn
        for receiver, share in zip(receivers, shares, strict=True):
            if share:
                unsent += self._send_all(receiver, share, wall, now)
        return unsent

    def _send_all(self, receiver: Receiver, items: list[OutboundItem], wall: datetime,
                  now: float) -> list[int]:
        """Every item to one receiver, in order: receipts prebuilt in runs, one call
        for each run, anything else one by one. Returns the ids of the items that could not
        go (from the first the receiver did not take)."""
        if not receiver.is_open or not receiver.bound:
            return [item.item_id for item in items]
        with_tlvs = receiver.speaks_34
        prebuilt_receipts = self.dialects.prebuilt_receipts
        index = 0
        count = len(items)
        while index < count:
            item = items[index]
            if item.kind is _RECEIPT:
                run = prebuilt_receipts(items, index, with_tlvs, wall)
                if run:
                    went = self._send_run(receiver, run, items, index, now)
                    index += went
                    if went < len(run):
                        return [later.item_id for later in items[index:]]
                    continue
            # anything not prebuilt goes between the runs, in order
            if not self._send(receiver, item, wall, now):
                return [later.item_id for later in items[index:]]
            index += 1
        return []

    def _send_run(self, receiver: Receiver, run: Sequence[Prebuilt], items: list[OutboundItem],
                  start: int, now: float) -> int:
        """A run of receipts prebuilt, `items[start:]` theirs; returns how many went."""
        try:
            went = receiver.send_prebuilt_run(run, now)
        except LocalProtocolError:
            return 0
        in_flight = self._in_flight
        receiver_id = id(receiver)
        for pdu, item in zip(run[:went], items[start:start + went], strict=True):
            in_flight[(receiver_id, pdu.sequence_number)] = item
        self.sent += went
        return went

    def _send(self, receiver: Receiver, item: OutboundItem, wall: datetime, now: float) -> bool:
        if not receiver.is_open or not receiver.bound:
            return False
        with_tlvs = receiver.speaks_34
        if item.kind is _MO and not with_tlvs:
            return self._send_parts(receiver, item)
        pdu = self.dialects.for_fields(item.message.fields).build_prebuilt(item, with_tlvs, wall)
        return self._send_built(receiver, item, pdu, now)

    def _send_built(self, receiver: Receiver, item: OutboundItem, pdu: Pdu | None, now: float
                    ) -> bool:
        if pdu is None:  # the dialect reports nothing for this item: it is done
            self.committer.outbound_acknowledged(item.item_id)
            return True
        try:
            sent = receiver.send(pdu, now)
        except LocalProtocolError:
            return False
        self._in_flight[(id(receiver), sent.sequence_number)] = item
        self.sent += 1
        return True

    def _send_parts(self, receiver: Receiver, item: OutboundItem) -> bool:
        """An MO message for a v3.3 bind: as many deliver_sm as it takes, as many at once as
        the window has room for and the rest as parts are answered; the item is done when
        every part is acknowledged."""
        pdus = build_mo_parts(item.message, with_tlvs=False)
        if len(pdus) == 1:
            try:
                sent = receiver.send(pdus[0])
            except LocalProtocolError:
                return False
            self._in_flight[(id(receiver), sent.sequence_number)] = item
            self.sent += 1
            return True
        room = receiver.window_free
        if not room:
            return False
        parts = _Parts(receiver, item, pdus[room:], len(pdus))
        for pdu in pdus[:room]:
            if not self._send_part(parts, pdu):
                break
        self.sent += 1
        return True

    def _send_part(self, parts: _Parts, pdu: DeliverSm) -> bool:
        try:
            sent = parts.receiver.send(pdu)
        except LocalProtocolError:  # the receiver closed under us: the parts sent are in vain
            if not parts.failed:
                parts.failed = True
                self.committer.outbound_failed(parts.item.item_id)
            return False
        key = (id(parts.receiver), sent.sequence_number)
        self._in_flight[key] = parts.item
        self._parts[key] = parts
        return True

    # -- what the receivers report --------------------------------------------------------------

    def on_responses(self, receiver: Receiver, events: list[ResponseReceived]) -> None:
        """The receiver's answers to what it was sent, in order (a read chunk's: once per
        message). ESME_ROK acknowledges an item; anything else gives it back to the queue and
        rests the account."""
        in_flight = self._in_flight
        receiver_id = id(receiver)
        acknowledged: list[OutboundItem] = []
        settled = False
        for event in events:
            key = (receiver_id, event.request.sequence_number)
            item = in_flight.pop(key, None)
            if item is None:
                if self.esmes is not None:
                    self.esmes.answered(receiver, key[1], event.message.command_status)
                continue
            status = event.message.command_status
            if self._parts and not self._part_done(key, status):
                continue  # more parts to come, or the item was already given back
            settled = True
            if status == _ROK:
                acknowledged.append(item)
            else:
                log.info("%s refused a delivery with status 0x%08X", receiver.peer, status)
                self.committer.outbound_failed(item.item_id)
                self._rest(receiver)
        if acknowledged:
            self.committer.outbound_acknowledged_run([item.item_id for item in acknowledged])
            if self.on_acknowledged is not None:
                self.on_acknowledged(acknowledged)
        if self.esmes is not None and self.esmes.backlogged:  # (room in the window again)
            self.esmes.room(receiver.system_id)
        if settled and not self._woken:  # (wake's test, inlined: once per run)
            self.wake()

    def on_timeout(self, receiver: Receiver, request: Pdu) -> None:
        key = (id(receiver), request.sequence_number)
        item = self._in_flight.pop(key, None)
        if item is not None and (not self._parts or self._part_done(key, -1)):
            self.committer.outbound_failed(item.item_id)
            self._rest(receiver)
        elif item is None and self.esmes is not None:
            self.esmes.answered(receiver, key[1], NO_ANSWER)
        if self.esmes is not None and self.esmes.backlogged:
            self.esmes.room(receiver.system_id)
        self.wake()

    def on_closed(self, receiver: Receiver, unanswered: tuple[Pdu, ...]) -> None:
        for request in unanswered:
            key = (id(receiver), request.sequence_number)
            item = self._in_flight.pop(key, None)
            if item is not None and (not self._parts or self._part_done(key, -1)):
                self.committer.outbound_failed(item.item_id)
            elif item is None and self.esmes is not None:
                self.esmes.answered(receiver, key[1], NO_ANSWER)
        self.wake()

    def _part_done(self, key: tuple[int, int], status: int) -> bool:
        """Whether the answer to one part settles its item (True for single PDUs): the first
        failed part gives the item back, the last acknowledged one completes it."""
        parts = self._parts.pop(key, None)
        if parts is None:
            return True
        parts.left -= 1
        if parts.failed:
            return False
        if status != CommandStatus.ESME_ROK:
            parts.failed = True
            return True
        if parts.waiting:  # an acknowledged part made room for the next
            self._send_part(parts, parts.waiting.pop(0))
        return parts.left == 0

    def _rest(self, receiver: Receiver) -> None:
        system_id = receiver.system_id
        self._resting[system_id] = self.clock.monotonic() + FAILURE_BACKOFF


class _Parts:
    """One item sent as several PDUs: the parts not sent yet, how many are still to be
    answered, and whether one of them failed (the item is then given back once)."""

    __slots__ = ("failed", "item", "left", "receiver", "waiting")

    def __init__(self, receiver: Receiver, item: OutboundItem, waiting: list[DeliverSm],
                 count: int) -> None:
        self.receiver = receiver
        self.item = item
        self.waiting = waiting
        self.left = count
        self.failed = False
