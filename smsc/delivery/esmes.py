"""EsmeDelivery: MT messages to another account's mo_addresses, delivered to that ESME.

The message's network is `ESME_NETWORK` + the receiving system_id (`smsc.submit` sets it).
An attempt sends it to a bound receiver of that account as a mobile-originated deliver_sm
(its UDH, SAR fields or message_payload as submitted; parts for a 3.3 bind, as MO; a
data_sm with the user data in message_payload when the receiving account's receipt dialect
says `pdu = "data_sm"`), and the
receiving ESME's answer is the attempt's outcome, so the sender's receipt reports what it
really did: DELIVRD after ESME_ROK; a temporary refusal (ESME_RX_T_APPN, ESME_RTHROTTLED,
ESME_RMSGQFUL), no answer, a dropped connection or no receiver bound is retried on the
retry schedule until validity ends (EXPIRED); any other refusal is retried too, and the
`REFUSALS_ALLOWED`-th attempt it refuses makes the message UNDELIVERABLE. The error code of a
refusal is its command_status (the receipt's err:); of no receiver, 27 (absent subscriber).
Messages that found no receiver are made due at once when their account binds (`run`). A
message that finds every receiver's window full waits, claimed, until an answer frees room
(`room`), as receipts wait for it: a burst to an ESME is not turned into retries.

In a cluster (`Elsewhere`: the other nodes of a PostgreSQL store) an attempt that finds no
receiver here but one bound on another node hands the message to that node, which attempts
it as its own; a message waiting for its account is made due when it binds on any node.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

import trio

from smsc.clock import Clock
from smsc.config import ESME_NETWORK
from smsc.delivery.committer import Committer
from smsc.delivery.receivers import BindRegistry, Receiver
from smsc.pdu import Pdu
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.receipts import ReceiptDialects, build_mo_data_sm, build_mo_parts
from smsc.session import LocalProtocolError
from smsc.store import Delivered, Message, PermanentFailure, TemporaryFailure
from smsc.store.errors import StoreWriteError
from smsc.store.models import Outcome

log = logging.getLogger("smsc.esmes")
S = CommandStatus
REFUSALS_ALLOWED = 3
"""Attempts a receiving ESME may refuse permanently before the message is UNDELIVERABLE."""
TEMPORARY = frozenset({S.ESME_RX_T_APPN, S.ESME_RTHROTTLED, S.ESME_RMSGQFUL})
"""Refusals that say "later": retried until validity ends, never UNDELIVERABLE."""
ABSENT = 27
"""The error code of an attempt that found no receiver bound (GSM: absent subscriber)."""
NO_ANSWER = -1
"""The status passed for a response timeout or a closed connection."""


HAND_OVER_BATCH = 1000
"""Messages handed to another node per transaction."""


class Elsewhere(Protocol):
    """The other nodes of a cluster, as seen for messages to their ESMEs
    (`smsc.cluster.node.ClusterNode`)."""

    def bound_elsewhere(self, system_id: str) -> bool:
        """Whether another node has a receiver of `system_id` bound."""

    async def wait_binds_changed(self) -> None:
        """Return when the accounts bound on other nodes have changed."""

    async def hand_messages(self, system_id: str, message_ids: list[int]) -> set[int]:
        """Hand these claimed messages to a node where `system_id` is bound; the ids
        handed (no longer this node's)."""


def receiving_account(network: str) -> str | None:
    """The system_id a message of this network goes to, or None for a simulated network."""
    return network[len(ESME_NETWORK):] if network.startswith(ESME_NETWORK) else None


class _Attempt:
    """One message sent as one or more PDUs: how many are still to be answered."""

    __slots__ = ("left", "message", "settled")

    def __init__(self, message: Message, parts: int) -> None:
        self.message = message
        self.left = parts
        self.settled = False


class EsmeDelivery:
    def __init__(self, *, committer: Committer, binds: BindRegistry, clock: Clock,
                 dialects: ReceiptDialects | None = None) -> None:
        self.committer = committer
        self.dialects = dialects
        """Whose choice, for the receiving account, says deliver_sm or data_sm."""
        self.binds = binds
        self.clock = clock
        self._in_flight: dict[tuple[int, int], _Attempt] = {}
        self._turns: dict[str, int] = {}
        self._waiting: dict[str, set[int]] = {}
        """Per receiving account, the messages whose last attempt found it unbound."""
        self.elsewhere: Elsewhere | None = None
        """The cluster's other nodes, when this SMSC is one node of several."""
        self._to_hand: dict[str, list[Message]] = {}
        """Per receiving account, claimed messages for a node where it is bound."""
        self._handing = trio.Event()
        self._binds_changed = trio.Event()
        self._backlog: dict[str, deque[Message]] = {}
        """Per receiving account, claimed messages that found every receiver's window full."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Make the messages waiting for an account due as soon as it binds a receiver (on
        any node), and hand messages to the nodes where their ESME is bound."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch, self.binds.wait_changed)
            if self.elsewhere is not None:
                nursery.start_soon(self._watch, self.elsewhere.wait_binds_changed)
                nursery.start_soon(self._hand_over)
            task_status.started()
            while True:
                await self._binds_changed.wait()
                self._binds_changed = trio.Event()
                for system_id in list(self._backlog):
                    if self.binds.receivers(system_id):
                        self.room(system_id)
                    else:  # its receivers gone: attempted again (elsewhere, or waiting)
                        for message in self._backlog.pop(system_id):
                            self.attempt(message, system_id)
                bound = [s for s in self._waiting if self._bound_anywhere(s)]
                ids = [i for system_id in bound for i in self._waiting.pop(system_id)]
                if ids:
                    await self.committer.wait_idle()  # their outcomes written: not claimed
                    try:
                        await self.committer.make_due(ids, self.clock.wall())
                    except StoreWriteError:  # (the store logs it) they keep their retry times
                        log.info("%d messages for ESMEs just bound keep their retry times "
                                 "(store failing)", len(ids))

    async def _watch(self, changed: Callable[[], Awaitable[None]]) -> None:
        while True:
            await changed()
            self._binds_changed.set()

    def _bound_anywhere(self, system_id: str) -> bool:
        if self.binds.receivers(system_id):
            return True
        return self.elsewhere is not None and self.elsewhere.bound_elsewhere(system_id)

    async def _hand_over(self) -> None:
        """Hand the messages queued by `attempt` to other nodes; those none took are
        attempted here (no receiver: retried, and waiting for a bind)."""
        assert self.elsewhere is not None
        while True:
            await self._handing.wait()
            self._handing = trio.Event()
            queued, self._to_hand = self._to_hand, {}
            for system_id, messages in queued.items():
                for start in range(0, len(messages), HAND_OVER_BATCH):
                    batch = messages[start:start + HAND_OVER_BATCH]
                    handed = await self.elsewhere.hand_messages(
                        system_id, [m.message_id for m in batch])
                    waiting = self._waiting.get(system_id, set())
                    for message in batch:
                        if message.message_id in handed:
                            waiting.discard(message.message_id)
                        else:
                            self._unbound(message, system_id)

    def attempt(self, message: Message, system_id: str) -> None:
        """Send a claimed message to `system_id`'s receiver; its outcome follows the answer."""
        receiver = self._receiver(system_id)
        if receiver is None:
            if self.binds.receivers(system_id):  # every window full: sent as room frees
                self._backlog.setdefault(system_id, deque()).append(message)
                return
            elsewhere = self.elsewhere
            if elsewhere is not None and elsewhere.bound_elsewhere(system_id):
                self._to_hand.setdefault(system_id, []).append(message)
                self._handing.set()
            else:
                self._unbound(message, system_id)
            return
        # the MO as the receiving account sees it (its dialect, its queue's system_id)
        mobile = replace(message, fields=replace(message.fields, system_id=system_id))
        pdus: list[Pdu]
        if receiver.speaks_34 and self.dialects is not None \
                and self.dialects.for_fields(mobile.fields).config.pdu == "data_sm":
            pdus = [build_mo_data_sm(mobile)]
        else:
            pdus = list(build_mo_parts(mobile, with_tlvs=receiver.speaks_34))
        if len(pdus) > receiver.window_free:
            self._finish(message, TemporaryFailure(ABSENT, "receiving ESME's window full"))
            return
        attempt = _Attempt(message, len(pdus))
        now = self.clock.monotonic()
        for pdu in pdus:
            try:
                sent = receiver.send(pdu, now)
            except LocalProtocolError:  # closed under us: the parts sent are in vain
                self._settle(attempt, NO_ANSWER)
                return
            self._in_flight[(id(receiver), sent.sequence_number)] = attempt

    @property
    def backlogged(self) -> bool:
        """Whether messages wait for room in a receiver's window."""
        return bool(self._backlog)

    def room(self, system_id: str) -> None:
        """A receiver of `system_id` may have room in its window again (an answer came):
        send what waits for it, oldest first."""
        backlog = self._backlog.pop(system_id, None)
        if backlog is None:
            return
        while backlog and any(r.window_free > 0 for r in self.binds.receivers(system_id)):
            self.attempt(backlog.popleft(), system_id)
        if backlog:
            self._backlog[system_id] = backlog

    def _unbound(self, message: Message, system_id: str) -> None:
        """An attempt that found no receiver: retried, and made due when one binds."""
        self._waiting.setdefault(system_id, set()).add(message.message_id)
        self._finish(message, TemporaryFailure(ABSENT, "receiving ESME not bound"))

    def _receiver(self, system_id: str) -> Receiver | None:
        """The next receiver of `system_id` with room in its window (round-robin)."""
        ready = [r for r in self.binds.receivers(system_id) if r.window_free > 0]
        if not ready:
            return None
        turn = self._turns.get(system_id, 0)
        self._turns[system_id] = turn + 1
        return ready[turn % len(ready)]

    def answered(self, receiver: Receiver, sequence_number: int, status: int) -> bool:
        """The receiver's answer to a PDU; False when it was not one of ours."""
        attempt = self._in_flight.pop((id(receiver), sequence_number), None)
        if attempt is None:
            return False
        if status != S.ESME_ROK:
            log.info("%s refused a message from another ESME with status 0x%08X",
                     receiver.peer, status)
        self._settle(attempt, status)
        return True

    def _settle(self, attempt: _Attempt, status: int) -> None:
        """The first refused part settles the attempt; the last acknowledged one does."""
        attempt.left -= 1
        if attempt.settled:
            return
        if status == S.ESME_ROK:
            if attempt.left == 0:
                attempt.settled = True
                self._finish(attempt.message, Delivered())
            return
        attempt.settled = True
        self._finish(attempt.message, outcome_of_refusal(attempt.message, status))

    def _finish(self, message: Message, outcome: Outcome) -> None:
        self.committer.outcome(message.message_id, outcome)


def outcome_of_refusal(message: Message, status: int) -> Outcome:
    """What a receiving ESME's refusal (or no answer: `NO_ANSWER`) makes of an attempt."""
    if status == NO_ANSWER:
        return TemporaryFailure(None, "no answer from the receiving ESME")
    code = status & 0xFFFF
    if status in TEMPORARY or message.attempts + 1 < REFUSALS_ALLOWED:
        return TemporaryFailure(code, "refused by the receiving ESME")
    return PermanentFailure(MessageState.UNDELIVERABLE, code)
