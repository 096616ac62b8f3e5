"""SimulationControl: the runtime API of the simulated networks and handsets
(`RunningSmsc.simulation`), and the shell work their changes cause.

When a handset comes back (switched online, its schedule turns it on, memory freed) or a
network's outage ends, the messages waiting for it are made due at once; ESMEs that asked for
it with set_dpf get an alert_notification. Delivered messages land in the handset's inbox;
echo and auto-reply handsets answer through the MobileOriginator.

Times in this API are seconds since the SMSC started (`now()`; in a cluster, since the first
of the nodes running started).

Every change is a `Change`: a JSON-able state of one thing (a handset's override, a network's
outage or fault mix, or a reset), applied by `apply`. Alone, a change is applied at once; with
`shared` (the nodes of a PostgreSQL cluster, `smsc.cluster.simulation_sync`), it is written to
the store for every node and applied here in the order the store gave it.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import trio

from smsc.clock import Clock
from smsc.config import FaultMixConfig, HandsetConfig
from smsc.delivery.committer import Committer
from smsc.delivery.mobile import MobileOriginator, NoRoute, StoreFailed
from smsc.delivery.receivers import BindRegistry
from smsc.pdu import AlertNotification
from smsc.pdu.concat import SarInfo
from smsc.pdu.constants import Tag
from smsc.pdu.errors import DecodeError
from smsc.pdu.tlv import decode_tlvs
from smsc.simulation.fate import Simulation, check_faults
from smsc.simulation.handsets import digits_of, status_at
from smsc.simulation.inbox import InboxMessage
from smsc.simulation.networks import Attempt, Result
from smsc.store import Message, StoreWriteError

log = logging.getLogger("smsc.simulation")
HANDSET = "handset:"
NETWORK = "network:"
MS_AVAILABLE = 0
"""ms_availability_status: available."""
PRUNE_AT = 1000
"""Waiting messages per handset or network before expired ones are dropped from the index."""
POSIX_ORIGIN = datetime.fromtimestamp(0, UTC)
RESET = "reset"

Change = dict[str, Any]
"""One runtime change as JSON: {"kind": "handset", "number", "profile"} (the override, None
to drop it), {"kind": "outage", "network", "out", "until"} (POSIX seconds, None while it lasts
until stopped), {"kind": "faults", "network", "faults"} or {"kind": "reset"}. A change is the
whole new state of what it names (its `key`), so that applying the latest per key gives the
same world whatever came before."""


def change_key(change: Change) -> str:
    """What a change replaces: a later change with the same key makes it moot."""
    kind = change["kind"]
    if kind == "handset":
        return HANDSET + str(change["number"])
    if kind in ("outage", "faults"):
        return f"{kind}:{change['network']}"
    return RESET


class SharedChanges(Protocol):
    """The nodes sharing the simulation: `publish` returns once the change is in the store and
    every change up to it has been applied here (`SimulationControl.apply`).

    Raises SimulationChangeFailed when the store does not take it."""

    applied: int
    """The seq of the last change applied here."""

    async def publish(self, change: Change) -> None: ...

    async def wait_applied(self, seq: int) -> None: ...


class SimulationChangeFailed(Exception):
    """A change the store of a cluster could not take: applied on no node."""


@dataclass(frozen=True, slots=True)
class HandsetView:
    """A handset as the runtime API reports it."""

    number: str
    """International digits (no "+" or "00")."""
    profile: str | None
    """The matching profile's name ("runtime" for a number set only at runtime)."""
    state: str
    """online, offline, memory_full or failing, now."""
    online_at: float | None
    """When a scheduled handset switches on again (seconds since start), while offline."""
    latency: float
    reply: str
    reply_text: str
    overridden: bool
    """Whether a runtime change overrides the configured profile."""
    waiting: int
    """Messages waiting for this handset to come back."""
    inbox: int
    """Messages in its inbox."""
    reply_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class NetworkView:
    """A network as the runtime API reports it."""

    name: str
    out: bool
    """Whether an outage (scheduled or started at runtime) is under way."""
    outage_ends_at: float | None
    """When it ends (seconds since start); None while up or until stopped."""
    faults: FaultMixConfig
    waiting: int
    """Messages waiting for the outage to end."""


@dataclass(frozen=True, slots=True)
class _Waiting:
    """What is kept of a message waiting for its handset or network: a million of them must
    not hold a million messages (their payloads are in the store)."""

    expires: float | None
    """End of its validity (POSIX seconds), to forget it once it can only expire."""
    alert: tuple[str, int, int, str, int, int, str] | None
    """When the submit set set_dpf: system_id, source TON/NPI/address and destination
    TON/NPI/address, for the alert_notification once the handset is back."""


def _waiting_entry(message: Message) -> _Waiting:
    fields = message.fields
    expires = fields.expires_at.timestamp() if fields.expires_at is not None else None
    if not _wants_alert(fields.extra):
        return _Waiting(expires, None)
    return _Waiting(expires, (fields.system_id, fields.source_addr_ton, fields.source_addr_npi,
                              fields.source_addr, fields.dest_addr_ton, fields.dest_addr_npi,
                              fields.destination_addr))


class SimulationControl:
    """Runtime control of the simulated world; build it in app.py and pass it explicitly."""

    def __init__(
        self,
        *,
        simulation: Simulation,
        committer: Committer,
        binds: BindRegistry,
        mobile: MobileOriginator,
        clock: Clock,
        started: float,
    ) -> None:
        self.simulation = simulation
        self.committer = committer
        self.store = committer.store
        self.binds = binds
        self.mobile = mobile
        self.clock = clock
        self.started = started
        """The time base (simulated time) shared with the DeliveryScheduler."""
        self._waiting: dict[str, dict[int, _Waiting]] = {}
        self._timed: list[tuple[float, str]] = []
        self._timed_at: dict[str, float] = {}
        self._prune_at: dict[str, int] = {}
        self._timer_changed = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.alerts_sent = 0
        self.replies_sent = 0
        self.shared: SharedChanges | None = None
        """Set by app.py on a store shared by several nodes: changes go through it."""

    def now(self) -> float:
        """Seconds since the SMSC started: the time base of schedules and outages."""
        return self.clock.simulated() - self.started

    # -- handsets ---------------------------------------------------------------------------

    def handset(self, number: str) -> HandsetView:
        """The state of the handset with this number (+, 00 or plain international digits)."""
        digits = digits_of(number)
        handsets = self.simulation.handsets
        profile = handsets.profile_for(digits)
        status = status_at(profile, self.now())
        return HandsetView(
            number=digits,
            profile=profile.name if profile else None,
            state=status.state,
            online_at=status.online_at,
            latency=profile.latency if profile else 0.0,
            reply=profile.reply if profile else "none",
            reply_text=profile.reply_text if profile else "",
            overridden=digits in handsets.overrides,
            waiting=len(self._waiting.get(HANDSET + digits, ())),
            inbox=len(self.simulation.inboxes.messages(digits)),
            reply_delay=profile.reply_delay if profile else 0.0,
        )

    async def set_handset(
        self,
        number: str,
        *,
        state: str | None = None,
        latency: float | None = None,
        reply: str | None = None,
        reply_text: str | None = None,
        reply_delay: float | None = None,
    ) -> HandsetView:
        """Change one handset at runtime (what is not given stays). When it becomes
        reachable, its waiting messages are due at once and set_dpf alerts go out before
        this returns.

        Raises:
            ValueError: an unknown state or reply mode, or a negative latency.
        """
        digits = digits_of(number)
        profile = self.simulation.handsets.changed(
            digits, state=state, latency=latency, reply=reply, reply_text=reply_text,
            reply_delay=reply_delay)
        await self._change({"kind": "handset", "number": digits,
                            "profile": dataclasses.asdict(profile)})
        return self.handset(digits)

    async def reset_handset(self, number: str) -> HandsetView:
        """Drop the runtime override: the configured profile applies again."""
        digits = digits_of(number)
        await self._change({"kind": "handset", "number": digits, "profile": None})
        return self.handset(digits)

    def inbox(self, number: str) -> list[InboxMessage]:
        """Messages the handset received, oldest first (needs simulation.inbox_size > 0)."""
        return self.simulation.inboxes.messages(digits_of(number))

    def diagnostics(self, number: str) -> list[str]:
        """Encoding mistakes the handset saw, including in parts of unfinished messages."""
        return self.simulation.inboxes.diagnostics(digits_of(number))

    def inbox_numbers(self) -> list[str]:
        """Handsets that have received something."""
        return self.simulation.inboxes.handsets()

    def clear_inbox(self, number: str | None = None) -> None:
        """Empty one handset's inbox and diagnostics, or every inbox."""
        self.simulation.inboxes.clear(None if number is None else digits_of(number))

    # -- networks ---------------------------------------------------------------------------

    def networks(self) -> list[NetworkView]:
        return [self.network(name) for name in self.simulation.networks]

    def network(self, name: str) -> NetworkView:
        """Raises KeyError for an unknown network."""
        network = self.simulation.networks[name]
        end = network.outage_end(self.now())
        return NetworkView(
            name=name,
            out=end is not None,
            outage_ends_at=None if end is None or math.isinf(end) else end,
            faults=network.faults,
            waiting=len(self._waiting.get(NETWORK + name, ())),
        )

    async def start_outage(self, name: str, duration: float | None = None) -> NetworkView:
        """Take a network down: attempts fail temporarily (error 34) and wait. With a
        duration it comes back by itself; without, at stop_outage.

        Raises:
            KeyError: no such network.
            ValueError: duration not positive.
        """
        if duration is not None and duration <= 0:
            raise ValueError("duration must be positive")
        self.simulation.networks[name]  # (KeyError)
        until = None if duration is None else self._posix(self.now() + duration)
        await self._change({"kind": "outage", "network": name, "out": True, "until": until})
        return self.network(name)

    async def stop_outage(self, name: str) -> NetworkView:
        """End a runtime outage; waiting messages go out at once (a scheduled outage under
        way still runs its course).

        Raises:
            KeyError: no such network.
        """
        self.simulation.networks[name]  # (KeyError)
        await self._change({"kind": "outage", "network": name, "out": False, "until": None})
        return self.network(name)

    async def set_faults(self, name: str, faults: FaultMixConfig) -> NetworkView:
        """Replace a network's submit-time fault mix (FaultMixConfig(): none).

        Raises:
            KeyError: no such network.
            ValueError: probabilities outside 0..1 or adding up to more than 1.
        """
        self.simulation.networks[name]  # (KeyError)
        check_faults(faults)
        await self._change({"kind": "faults", "network": name,
                            "faults": dataclasses.asdict(faults)})
        return self.network(name)

    def configure_faults(self, name: str, faults: FaultMixConfig) -> NetworkView:
        """A configuration reload's fault mix: in force here from now on, and the one `reset`
        goes back to (each node reads its own configuration file).

        Raises:
            KeyError: no such network.
            ValueError: probabilities outside 0..1 or adding up to more than 1.
        """
        self.simulation.set_faults(name, faults, configured=True)
        return self.network(name)

    async def reset(self) -> None:
        """Everything back to the configuration: handset overrides, runtime outages, fault
        mixes (as last reloaded), inboxes and fates (as at start); messages waiting for what
        is now reachable go out."""
        await self._change({"kind": RESET})

    # -- changes ----------------------------------------------------------------------------

    @property
    def applied(self) -> int:
        """The number (seq) of the last shared change applied here; 0 alone. A harness that
        changed something on one node waits for that node's number on another
        (`wait_applied`) before it sends through it."""
        return self.shared.applied if self.shared is not None else 0

    async def wait_applied(self, seq: int) -> None:
        """Return once the shared change `seq`, or a later one, is applied here."""
        if self.shared is not None:
            await self.shared.wait_applied(seq)

    async def _change(self, change: Change) -> None:
        if self.shared is None:
            await self.apply(change)
        else:
            await self.shared.publish(change)

    def _posix(self, at: float) -> float:
        """A time of this API (seconds since start) in POSIX seconds: what every node reads
        alike (each counts its own seconds since its own start)."""
        return at + self.started - self.clock.simulated_of(POSIX_ORIGIN)

    def _since_start(self, posix: float) -> float:
        return posix - self.started + self.clock.simulated_of(POSIX_ORIGIN)

    async def apply(self, change: Change) -> None:
        """Apply one change here, with what it causes (waiting messages due, alerts). A change
        naming a network this node does not know is logged and skipped."""
        kind = change["kind"]
        if kind == "handset":
            digits = str(change["number"])
            profile = change["profile"]
            self.simulation.handsets.override(
                digits, None if profile is None else HandsetConfig(**profile))
            await self._come_back_if_reachable(HANDSET + digits)
            return
        if kind == RESET:
            self.simulation.reset()
            for key in list(self._waiting):
                await self._come_back_if_reachable(key)
            return
        name = str(change["network"])
        network = self.simulation.networks.get(name)
        if network is None:
            log.warning("simulation change for network %r, unknown here: skipped", name)
            return
        if kind == "faults":
            self.simulation.set_faults(name, FaultMixConfig(**change["faults"]))
        elif not change["out"]:
            network.stop_outage()
            await self._come_back_if_reachable(NETWORK + name)
        elif change["until"] is None:
            network.start_outage(self.now())
        else:
            end = self._since_start(float(change["until"]))
            network.outage_until = end
            self._schedule(end, NETWORK + name)

    # -- from the scheduler -----------------------------------------------------------------

    def after_attempt(self, message: Message, attempt: Attempt) -> None:
        """A finished attempt that asked for follow-up (Attempt.follow_up)."""
        if attempt.result is Result.ABSENT:
            key = attempt.wait_key
            if key is not None:
                entries = self._waiting.setdefault(key, {})
                entries[message.message_id] = _waiting_entry(message)
                if len(entries) >= self._prune_at.get(key, PRUNE_AT):
                    self._prune(key, entries)
                if attempt.retry_at is not None:
                    self._schedule(attempt.retry_at, key)
        elif attempt.result is Result.DELIVERED:
            self._delivered(message)

    def _prune(self, key: str, entries: dict[int, _Waiting]) -> None:
        """Forget waiting messages whose validity is over (they finish as EXPIRED in the
        store), so a handset that never comes back does not hold them forever."""
        now = self.clock.wall().timestamp()
        for message_id in [i for i, entry in entries.items()
                           if entry.expires is not None and entry.expires <= now]:
            del entries[message_id]
        self._prune_at[key] = max(PRUNE_AT, 2 * len(entries))

    def _delivered(self, message: Message) -> None:
        fields = message.fields
        digits = digits_of(fields.destination_addr)
        whole = self.simulation.inboxes.receive(
            digits, source_addr=fields.source_addr, user_data=fields.payload,
            esm_class=fields.esm_class, data_coding=fields.data_coding,
            sar=_sar_of(fields.extra), message_id=message.message_id, now=self.now(),
        )
        if whole is None or not self.simulation.handsets.active:
            return
        profile = self.simulation.handsets.profile_for(digits)
        if profile is None or profile.reply == "none":
            return
        text = whole.text if profile.reply == "echo" else profile.reply_text
        if text and self._nursery is not None:
            self._nursery.start_soon(self._reply, message, text, profile.reply_delay)

    async def _reply(self, message: Message, text: str, delay: float) -> None:
        fields = message.fields
        if delay:
            await self.clock.sleep(delay)  # a simulated handset's reply delay
        try:
            await self.mobile.send_text(
                fields.destination_addr, fields.source_addr, text,
                source_addr_ton=fields.dest_addr_ton, source_addr_npi=fields.dest_addr_npi,
                dest_addr_ton=fields.source_addr_ton, dest_addr_npi=fields.source_addr_npi,
                system_id=fields.system_id,
            )
            self.replies_sent += 1
        except (NoRoute, StoreFailed) as error:
            log.warning("reply from %s not stored: %s", fields.destination_addr, error)

    # -- comebacks --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hosts replies, and wakes waiting messages when a known outage or off-time ends."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                changed = self._timer_changed
                # a millisecond late, so the handset or network is surely back when retried
                deadline = (self.started + self._timed[0][0] + 0.001 if self._timed
                            else math.inf)
                with self.clock.move_on_at(deadline):
                    await changed.wait()
                if changed.is_set():
                    continue
                now = self.now()
                while self._timed and self._timed[0][0] <= now:
                    at, key = heapq.heappop(self._timed)
                    if self._timed_at.get(key) == at:
                        del self._timed_at[key]
                        await self._come_back_if_reachable(key)

    def _schedule(self, at: float, key: str) -> None:
        current = self._timed_at.get(key)
        if current is not None and current <= at and current > self.now():
            return
        self._timed_at[key] = at
        heapq.heappush(self._timed, (at, key))
        self._timer_changed.set()
        self._timer_changed = trio.Event()

    def _reachable(self, key: str) -> bool:
        now = self.now()
        if key.startswith(NETWORK):
            network = self.simulation.networks.get(key[len(NETWORK):])
            return network is None or network.outage_end(now) is None
        profile = self.simulation.handsets.profile_for(key[len(HANDSET):])
        return status_at(profile, now).state in ("online", "failing")

    async def _come_back_if_reachable(self, key: str) -> None:
        if not self._reachable(key):
            return
        waiting = self._waiting.pop(key, None)
        if not waiting:
            return
        await self.committer.wait_idle()  # their absent outcomes are written: no longer claimed
        try:
            moved = await self.committer.make_due(list(waiting), self.clock.wall())
        except StoreWriteError:  # (the store logs it) they keep their own retry times
            log.info("%s is back: %d waiting messages keep their retry times (store failing)",
                     key, len(waiting))
            return
        log.info("%s is back: %d waiting messages due now", key, moved)
        if key.startswith(HANDSET):
            self._alert(waiting.values())

    def _alert(self, waiting: Iterable[_Waiting]) -> None:
        """One alert_notification per (account, ESME address, handset) that set set_dpf."""
        sent: set[tuple[str, str, str]] = set()
        for entry in waiting:
            if entry.alert is None:
                continue
            system_id, esme_ton, esme_npi, esme_addr, ms_ton, ms_npi, ms_addr = entry.alert
            key = (system_id, esme_addr, ms_addr)
            if key in sent:
                continue
            receivers = self.binds.receivers(system_id)
            if not receivers:
                continue  # alert_notification is not stored: nobody bound, nobody told
            sent.add(key)
            receivers[0].send(AlertNotification(
                source_addr_ton=ms_ton, source_addr_npi=ms_npi, source_addr=ms_addr,
                esme_addr_ton=esme_ton, esme_addr_npi=esme_npi, esme_addr=esme_addr,
                tlvs={Tag.ms_availability_status: MS_AVAILABLE},
            ))
            self.alerts_sent += 1


def _tlvs_of(extra: bytes) -> dict[int, object]:
    if not extra:
        return {}
    try:
        return decode_tlvs(extra, 0, len(extra), frozenset())
    except DecodeError:
        return {}


def _wants_alert(extra: bytes) -> bool:
    return _tlvs_of(extra).get(Tag.set_dpf) == 1


def _sar_of(extra: bytes) -> SarInfo | None:
    tlvs = _tlvs_of(extra)
    reference = tlvs.get(Tag.sar_msg_ref_num)
    total = tlvs.get(Tag.sar_total_segments)
    seqnum = tlvs.get(Tag.sar_segment_seqnum)
    if isinstance(reference, int) and isinstance(total, int) and isinstance(seqnum, int):
        return SarInfo(reference, total, seqnum)
    return None
