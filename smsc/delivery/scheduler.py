"""DeliveryScheduler: claims due messages, runs their simulated attempts, records outcomes."""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from functools import partial

import trio

from smsc.clock import Clock
from smsc.delivery.committer import AcceptCallback, Committer
from smsc.delivery.esmes import EsmeDelivery, receiving_account
from smsc.pdu.constants import MessageState
from smsc.simulation.draws import Fate
from smsc.simulation.fate import Simulation
from smsc.simulation.networks import Attempt, Result
from smsc.store import (
    AcceptRefused,
    Delivered,
    Message,
    NewMessage,
    PermanentFailure,
    TemporaryFailure,
)
from smsc.store.models import UNDER_WAY, Outcome

CLAIM_BATCH = 1000
DELIVERED = Delivered()
_NOT_YET = object()
_DELIVERED = Result.DELIVERED
"""Enum members as module constants (docs/architecture.md, "Hot-path idioms")."""
_NO_FATE: Fate = b""
"""The fate of messages on networks whose attempts draw nothing."""


def outcome_of(attempt: Attempt) -> Outcome:
    code = attempt.network_error_code
    result = attempt.result
    if result is _DELIVERED:  # the usual attempt, before the match
        return DELIVERED if code is None else Delivered(code)
    match result:
        case Result.ABSENT:
            return TemporaryFailure(code, "absent subscriber")
        case Result.REJECTED:
            return PermanentFailure(MessageState.REJECTED, code)
        case _:
            return PermanentFailure(MessageState.UNDELIVERABLE, code)


class DeliveryScheduler:
    def __init__(
        self,
        *,
        committer: Committer,
        simulation: Simulation,
        clock: Clock,
        started: float,
        max_in_flight: int = 10000,
        pending_limited: AbstractSet[str] = frozenset(),
        on_attempt: Callable[[str, str], None] | None = None,
        follow_up: Callable[[Message, Attempt], None] | None = None,
        esmes: EsmeDelivery | None = None,
    ) -> None:
        self.committer = committer
        self.store = committer.store
        self.simulation = simulation
        self.networks = simulation.networks
        self.clock = clock
        self.started = started
        """The simulation's time base (simulated time, `Clock.simulated`): its times are
        seconds since this moment."""
        self._elapsed_for: object = _NOT_YET
        self._elapsed = 0.0
        """The time (since `started`) the first attempts of the submits received with one
        submit time start at, and that time object: read once per read chunk."""
        self._free_slots = max_in_flight
        """How many more attempts that take time may be under way (an int, not a semaphore:
        nothing waits for one, and accept reads it once per message)."""
        self._pending_limited = pending_limited
        """Accounts with a max_pending: their submits may be refused as the store writes
        them, so their first attempt waits until they are stored (none is counted in vain)."""
        self._nursery: trio.Nursery | None = None
        """Where attempts that take time run; accepts attempt nothing before it is open."""
        self._max_in_flight = max_in_flight
        self.on_attempt = on_attempt
        """Observer of each delivery attempt: (network, result)."""
        self.follow_up = follow_up
        """Told of finished attempts that ask for it (inboxes, replies, waiting lists)."""
        self.esmes = esmes
        """Attempts of messages to another account's ESME (network `ESME_NETWORK`…)."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                commits_seen = self.committer.commits
                room = min(CLAIM_BATCH, max(self._free_slots, 0))
                messages = (
                    await self.committer.read(self.store.claim_due, self.clock.wall(), room)
                    if room
                    else []
                )
                for message in messages:
                    self._start(nursery, message)
                if len(messages) == room and room:
                    await trio.sleep(0)
                    continue
                await self._wait_for_work(commits_seen)

    async def _wait_for_work(self, commits_seen: int) -> None:
        due = await self.committer.read(self.store.next_due_at)
        if self.committer.commits != commits_seen:
            return  # something was committed (or made due) while we looked: look again
        # a millisecond late, so float rounding between wall and simulated time can never
        # wake us just before the message is due (and spin)
        deadline = math.inf if due is None else self.clock.simulated_of(due) + 0.001
        with self.clock.move_on_at(deadline):
            await self.committer.wait_committed()

    # -- first attempts at acceptance -------------------------------------------------------

    def accept(self, new: NewMessage, callback: AcceptCallback) -> None:
        """Queue a submitted MT message for the store with its first delivery attempt already
        started, so it is written once in the state that attempt leaves it in: a message the
        network takes at once is stored finished, its receipt owed, in the same transaction
        (otherwise it would be written due, claimed after the commit and written again).
        An attempt that takes time is stored under way and finishes like any other; a
        scheduled or replacing submit, one of an account with max_pending, or one that finds
        every attempt slot taken, is stored due and waits for the delivery loop. `callback`
        hears the store's answer as usual. On a network whose attempts draw, the message's
        fate is counted here, in the order of submission, and stored with it (`new.fate`);
        a submit the store then refuses gives its copy back (max_pending here, a failed write
        through the committer's `on_not_stored`)."""
        network = self.networks.get(new.network)
        fate = _NO_FATE
        if network is not None and network.draws:
            fate = self.simulation.fate(new.source_addr, new.destination_addr, new.payload)
        new.fate = fate
        if (new.schedule_at is not None or new.replace_if_present
                or self._nursery is None or self._free_slots <= 0
                or new.system_id in self._pending_limited):
            if fate and new.system_id in self._pending_limited:  # (max_pending may refuse it)
                callback = partial(self._give_back_if_refused, fate, callback)
            self.committer.accept(new, callback)
            return
        if network is None:
            if self.esmes is not None and receiving_account(new.network) is not None:
                self.committer.accept(new, callback)  # due: sent once it has its id
            else:  # routed to no network (routing.unroutable = "undeliver")
                self.committer.accept(new, callback, PermanentFailure())
            return
        submitted_at = new.submitted_at
        if submitted_at is self._elapsed_for:  # a read chunk's submits share their time
            elapsed = self._elapsed
        else:
            elapsed = self._elapsed = self.clock.simulated() - self.started
            self._elapsed_for = submitted_at
        attempt = self.simulation.attempt(network, new.destination_addr, 0, elapsed, fate)
        if self.on_attempt is not None:
            self.on_attempt(network.name, attempt.result._value_)
        if attempt.delay > 0:
            self._free_slots -= 1
            self.committer.accept(new, partial(self._under_way, new, attempt, callback),
                                  UNDER_WAY)
        elif attempt.follow_up and self.follow_up is not None:
            self.committer.accept(new, partial(self._ended, new, attempt, callback),
                                  outcome_of(attempt))
        elif attempt.result is _DELIVERED and attempt.network_error_code is None:
            self.committer.accept(new, callback, DELIVERED)  # (outcome_of's usual answer)
        else:
            self.committer.accept(new, callback, outcome_of(attempt))

    def accept_held(self, new: NewMessage, callback: AcceptCallback) -> bool:
        """Queue `new` for the store claimed, its first attempt held back until
        `start_held`: a submit_multi's first destination, whose id the others are stored
        with, so that no receipt of it can go out before the submit_multi is answered. Its
        fate is counted and stored with it, as `accept` does. Returns whether it is held:
        what `accept` stores due (scheduled, replacing, an account with max_pending, every
        attempt slot taken, the loop not running) is stored due here too, for the delivery
        loop, and `start_held` has nothing to start."""
        network = self.networks.get(new.network)
        fate = _NO_FATE
        if network is not None and network.draws:
            fate = self.simulation.fate(new.source_addr, new.destination_addr, new.payload)
            if new.system_id in self._pending_limited:  # (max_pending may refuse it)
                callback = partial(self._give_back_if_refused, fate, callback)
        new.fate = fate
        if (new.schedule_at is not None or new.replace_if_present
                or self._nursery is None or self._free_slots <= 0
                or new.system_id in self._pending_limited):
            self.committer.accept(new, callback)
            return False
        self.committer.accept(new, callback, UNDER_WAY)
        return True

    def start_held(self, message_id: int, new: NewMessage) -> None:
        """Start the first attempt of a message `accept_held` stored as `message_id`, held."""
        assert self._nursery is not None  # (accept_held holds nothing before it is open)
        self._start(self._nursery, Message(message_id, new, next_attempt_at=new.submitted_at))

    def _give_back_if_refused(self, fate: Fate, callback: AcceptCallback,
                              result: int | AcceptRefused | None) -> None:
        if isinstance(result, AcceptRefused):
            self.simulation.give_back(fate)
        callback(result)

    def _ended(self, new: NewMessage, attempt: Attempt, callback: AcceptCallback,
               result: int | AcceptRefused | None) -> None:
        callback(result)
        if isinstance(result, int) and self.follow_up is not None:
            self.follow_up(Message(result, new, attempts=1), attempt)

    def _under_way(self, new: NewMessage, attempt: Attempt, callback: AcceptCallback,
                   result: int | AcceptRefused | None) -> None:
        callback(result)
        if isinstance(result, int) and self._nursery is not None:
            message = Message(result, new, next_attempt_at=new.submitted_at)
            self._nursery.start_soon(self._finish_later, message, attempt)
        else:
            self._free_slots += 1

    # -- attempts of due messages -------------------------------------------------------------

    def _start(self, nursery: trio.Nursery, message: Message) -> None:
        network = self.networks.get(message.fields.network)
        if network is None:
            receiving = receiving_account(message.fields.network)
            if receiving is not None and self.esmes is not None:
                self.esmes.attempt(message, receiving)  # to another ESME, as MO
            else:  # routed to no network (routing.unroutable = "undeliver")
                self.committer.outcome(message.message_id, PermanentFailure())
            return
        fields = message.fields
        fate = fields.fate
        if not fate and network.draws:  # stored before fates were, or on another network
            fate = self.simulation.known_fate(fields.source_addr, fields.destination_addr,
                                              fields.payload)
        attempt = self.simulation.attempt(network, fields.destination_addr, message.attempts,
                                          self.clock.simulated() - self.started, fate)
        if self.on_attempt is not None:
            self.on_attempt(network.name, attempt.result._value_)
        if attempt.delay <= 0:
            self._finish(message, attempt)
            return
        self._free_slots -= 1
        nursery.start_soon(self._finish_later, message, attempt)

    def _finish(self, message: Message, attempt: Attempt) -> None:
        self.committer.outcome(message.message_id, outcome_of(attempt))
        if attempt.follow_up and self.follow_up is not None:
            self.follow_up(message, attempt)

    async def _finish_later(self, message: Message, attempt: Attempt) -> None:
        try:
            await self.clock.sleep(attempt.delay)  # simulated latency
            self._finish(message, attempt)
        finally:
            self._free_slots += 1
