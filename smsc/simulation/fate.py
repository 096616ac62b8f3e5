"""The simulated world behind the SMSC (pure): networks, handsets, magic numbers, inboxes.

`attempt` decides one delivery attempt and `submit_fault` one submit's fault. Every random
number comes from `Draws` keyed by the seed and the network and fed the message's `Fate` (its
identity in the traffic: source, destination, payload and how many stored messages with those
came before it) and the attempt's number, so with one seed a message meets the same fate
whatever the pacing, the load, or how its attempts interleave with other traffic. What
depends on time by design (outages, handset on/off schedules, the wait behind a network's
throughput cap) is decided by the time passed in, as seconds since the SMSC started.
"""

from __future__ import annotations

import secrets
from bisect import insort
from dataclasses import dataclass

from smsc.config import FaultMixConfig, HandsetConfig, NetworkConfig, SimulationConfig
from smsc.simulation.draws import (
    SUBMIT_STEP,
    Draws,
    Fate,
    draw,
    fate_of,
    identity,
    network_key,
    parts_of,
)
from smsc.simulation.handsets import (
    MAGIC_PREFIXES,
    Handsets,
    Magic,
    digits_of,
    magic_of,
    status_at,
)
from smsc.simulation.inbox import Inboxes
from smsc.simulation.networks import (
    Attempt,
    ErrorCode,
    Fault,
    Result,
    SimulatedNetwork,
    Uniform,
)

MAGIC_DELAY_DEFAULT = 60.0
_MAGIC_ATTEMPTS = {
    Magic.DELIVERED: Attempt(0.0, Result.DELIVERED),
    Magic.UNDELIVERABLE: Attempt(0.0, Result.UNDELIVERABLE, ErrorCode.UNKNOWN_SUBSCRIBER),
    Magic.EXPIRES: Attempt(0.0, Result.ABSENT, ErrorCode.ABSENT_SUBSCRIBER),
    Magic.REJECTED: Attempt(0.0, Result.REJECTED, ErrorCode.CALL_BARRED),
}
_MAGIC_FAULTS = {
    Magic.THROTTLED: Fault.THROTTLED,
    Magic.SYSTEM_ERROR: Fault.SYSTEM_ERROR,
    Magic.NO_RESPONSE: Fault.NO_RESPONSE,
    Magic.DISCONNECT: Fault.DISCONNECT,
}
_ABSENT_ONCE = Attempt(0.0, Result.ABSENT, ErrorCode.ABSENT_SUBSCRIBER)
_DELIVERED = Result.DELIVERED
"""Enum members as module constants (docs/architecture.md, "Hot-path idioms")."""
REPEATS_KEPT = 1 << 17
"""Identities whose repeats one generation of `Repeats` counts (two generations are kept)."""


class _NoDraws:
    """What a network that draws nothing is handed: no hash, no allocation."""

    def random(self) -> float:
        raise AssertionError("this network's attempts draw nothing")


_NO_DRAWS: Uniform = _NoDraws()


class Repeats:
    """How many messages with each identity came before: the n-th copy of the same message
    gets a fate of its own (a load test sending one text to one number still sees the
    configured mix). Two generations of at most `limit` identities each bound the memory
    (about 100 bytes an identity); a copy sent after `limit` to 2 * `limit` other distinct
    messages may be counted as a first one again. A copy counted and then not stored is
    given back (`give_back`), so that it shifts the numbers of no later copy."""

    __slots__ = ("current", "gaps", "limit", "previous")

    def __init__(self, limit: int = REPEATS_KEPT) -> None:
        self.limit = limit
        self.current: dict[bytes, int] = {}
        self.previous: dict[bytes, int] = {}
        self.gaps: dict[bytes, list[int]] = {}
        """Numbers given back below an identity's count (copies after them were counted
        already), in order: the next copies take them first."""

    def count(self, identity: bytes) -> int:
        """How many times `identity` was counted before (the smallest number given back, if
        any); counts it once more."""
        if self.gaps:  # (empty unless a copy was given back while later ones were counted)
            gaps = self.gaps.get(identity)
            if gaps:
                repeat = gaps.pop(0)
                if not gaps:
                    del self.gaps[identity]
                return repeat
        current = self.current
        seen = current.get(identity)
        if seen is None:
            seen = self.previous.get(identity, 0)
            if len(current) >= self.limit:
                self.previous = current
                self.current = current = {}
        current[identity] = seen + 1
        return seen

    def give_back(self, identity: bytes, repeat: int) -> None:
        """Uncount the `repeat`-th copy of `identity`: the next copy counted gets its number."""
        seen = self.current.get(identity)
        if seen is None:
            seen = self.previous.get(identity)
        if seen is None or repeat >= seen:
            return  # counted before a clear, or forgotten: nothing to give back
        gaps = self.gaps.get(identity)
        if repeat < seen - 1:
            if gaps is None:
                gaps = self.gaps[identity] = []
            insort(gaps, repeat)
            return
        seen -= 1  # the last number counted: the count goes down, past the gaps below it
        while gaps and gaps[-1] == seen - 1:
            gaps.pop()
            seen -= 1
        if gaps is not None and not gaps:
            del self.gaps[identity]
        self.current[identity] = seen

    def clear(self) -> None:
        self.current.clear()
        self.previous.clear()
        self.gaps.clear()


@dataclass(frozen=True, slots=True)
class SubmitFault:
    fault: Fault
    delay: float = 0.0
    """Seconds the response is held back (slow_response)."""


class Simulation:
    """Built once by the application from the configuration; changed at runtime through
    `smsc.delivery.simulation.SimulationControl`."""

    def __init__(
        self,
        *,
        networks: tuple[NetworkConfig, ...],
        handsets: tuple[HandsetConfig, ...],
        settings: SimulationConfig,
    ) -> None:
        self.settings = settings
        self.networks = {config.name: SimulatedNetwork(config) for config in networks}
        self.handsets = Handsets(handsets)
        # echo and auto-reply handsets reassemble too, keeping only their last message
        self.inboxes = Inboxes(max(settings.inbox_size, 1))
        self.keeps_inbox = settings.inbox_size > 0
        self.magic = settings.magic_numbers
        self._faulty = False
        """Whether any network has a submit fault mix (else submits skip the lookup)."""
        self._update_faulty()
        self._keys: dict[str, bytes] = {}
        """Each network's hash key under the seed."""
        self._stored = Repeats()
        """Repeats among stored messages (a message's `fate`)."""
        self._submitted = Repeats()
        """Repeats among submits that met a network's fault mix (their fault's fate)."""
        self._last_identity: tuple[str, str, bytes, bytes] = ("", "", b"", identity("", "", b""))
        """The last (source, destination, payload) hashed and their identity: a submit's fault
        and its stored message meet the same objects, compared by `is` (docs/architecture.md,
        hot-path idioms)."""
        self.seed = settings.seed if settings.seed is not None else secrets.randbits(64)
        """The seed in force: the configured one, or without one a seed drawn for this run
        (fresh randomness each run, kept across `reset`)."""
        self.reseed()

    def use_seed(self, seed: int) -> None:
        """Take `seed` as the seed in force (the one the nodes of a cluster share) and start
        again from it."""
        self.seed = seed
        self.reseed()

    def reseed(self) -> None:
        """Start again from the seed: same traffic, same fates (repeats are counted anew)."""
        seed = self.seed
        self._keys = {name: network_key(seed, name) for name in self.networks}
        self._stored.clear()
        self._submitted.clear()

    def reset(self) -> None:
        """Back to the configuration: overrides, outages, fault mixes, inboxes, and fates as
        at start."""
        for network in self.networks.values():
            network.reset()
        self.handsets.reset()
        self.inboxes.clear()
        self.reseed()
        self._update_faulty()

    def _update_faulty(self) -> None:
        self._faulty = any(network.submit_fault_possible for network in self.networks.values())

    # -- fates ----------------------------------------------------------------------------

    def _identity(self, source: str, destination: str, payload: bytes) -> bytes:
        last = self._last_identity
        if last[2] is payload and last[1] is destination and last[0] is source:
            return last[3]
        found = identity(source, destination, payload)
        self._last_identity = (source, destination, payload, found)
        return found

    def fate(self, source: str, destination: str, payload: bytes) -> Fate:
        """The fate of a message being stored; counts it among the repeats of its identity,
        so ask once per stored message, in the order they are submitted."""
        found = self._identity(source, destination, payload)
        return fate_of(found, self._stored.count(found))

    def give_back(self, fate: Fate) -> None:
        """A message whose `fate` was counted was not stored after all (the store refused it,
        or could not write): its copy number goes back, for the next copy of its message."""
        if fate:
            self._stored.give_back(*parts_of(fate))

    def known_fate(self, source: str, destination: str, payload: bytes) -> Fate:
        """The fate of a stored message that has none of its own (stored before fates were):
        that of the first message with its identity."""
        return fate_of(identity(source, destination, payload), 0)

    # -- decisions --------------------------------------------------------------------------

    def attempt(self, network: SimulatedNetwork, destination: str, attempts: int,
                now: float, fate: Fate) -> Attempt:
        """How a delivery attempt on `network` ends; `attempts` made before this one. `fate`
        matters only where `network.draws` (else any will do)."""
        if self.magic and destination.startswith(MAGIC_PREFIXES):
            forced = self._magic_attempt(destination, attempts)
            if forced is not None:
                return forced
        draws = Draws(self._keys[network.name], fate, attempts) if network.draws else _NO_DRAWS
        if not self.handsets.active:
            attempt = network.attempt(now, draws)
            if self.keeps_inbox and attempt.result is _DELIVERED:
                return Attempt(attempt.delay, attempt.result, follow_up=True)
            return attempt
        return self._handset_attempt(network, destination, now, draws)

    def _magic_attempt(self, destination: str, attempts: int) -> Attempt | None:
        magic = magic_of(destination)
        if magic is None:
            return None
        kind, number = magic
        follow_up = self.keeps_inbox
        if kind is Magic.DELAYED:
            return Attempt(float(number) or MAGIC_DELAY_DEFAULT, Result.DELIVERED,
                           follow_up=follow_up)
        if kind is Magic.ABSENT_ONCE:
            if attempts == 0:
                return _ABSENT_ONCE
            return Attempt(0.0, Result.DELIVERED, follow_up=follow_up)
        forced = _MAGIC_ATTEMPTS.get(kind)
        if forced is not None and follow_up and forced.result is Result.DELIVERED:
            return Attempt(0.0, Result.DELIVERED, follow_up=True)
        return forced

    def _handset_attempt(self, network: SimulatedNetwork, destination: str, now: float,
                         draws: Uniform) -> Attempt:
        attempt = network.attempt(now, draws)
        if attempt.wait_key is not None:
            return attempt  # the network is out: the handset does not matter
        digits = digits_of(destination)
        profile = self.handsets.profile_for(digits)
        if profile is None:
            if self.keeps_inbox and attempt.result is _DELIVERED:
                return Attempt(attempt.delay, attempt.result, follow_up=True)
            return attempt
        status = status_at(profile, now)
        delay = attempt.delay + profile.latency
        match status.state:
            case "offline":
                return Attempt(delay, Result.ABSENT, network.error_code("absent", draws),
                               status.online_at, "handset:" + digits, True)
            case "memory_full":
                return Attempt(delay, Result.ABSENT, network.error_code("memory_full", draws),
                               None, "handset:" + digits, True)
            case "failing":
                return Attempt(delay, Result.UNDELIVERABLE,
                               network.error_code("undeliverable", draws))
        if attempt.result is not Result.DELIVERED:
            return Attempt(delay, attempt.result, attempt.network_error_code)
        return Attempt(delay, Result.DELIVERED,
                       follow_up=self.keeps_inbox or profile.reply != "none")

    def submit_fault(self, network: str, destination: str, *, source: str = "",
                     payload: bytes = b"") -> SubmitFault | None:
        """The fault a submit from `source` to `destination` with `payload`, routed to
        `network`, meets (None: none). Where the network has a fault mix, the submit is
        counted among the repeats of its identity (a submit sent again after a fault meets
        the next copy's fate)."""
        if self.magic and destination.startswith(MAGIC_PREFIXES):
            magic = magic_of(destination)
            if magic is not None and magic[0] in _MAGIC_FAULTS:
                return SubmitFault(_MAGIC_FAULTS[magic[0]])
        if not self._faulty:
            return None
        simulated = self.networks.get(network)
        if simulated is None or not simulated.submit_fault_possible:
            return None
        found = self._identity(source, destination, payload)
        fate = fate_of(found, self._submitted.count(found))
        fault = simulated.submit_fault(draw(self._keys[network], fate, SUBMIT_STEP))
        if fault is None:
            return None
        return SubmitFault(fault, simulated.faults.slow_response_delay
                           if fault is Fault.SLOW_RESPONSE else 0.0)

    def set_faults(self, network: str, faults: FaultMixConfig, *,
                   configured: bool = False) -> None:
        """Replace a network's submit-time fault mix; `configured`: as the configured one
        too (a reload), which `reset` goes back to.

        Raises:
            KeyError: no such network.
            ValueError: the probabilities add up to more than 1 or one is out of 0..1.
        """
        check_faults(faults)
        self.networks[network].set_faults(faults, configured=configured)
        self._update_faulty()


def check_faults(faults: FaultMixConfig) -> None:
    """Raises ValueError when the probabilities add up to more than 1, one is out of 0..1,
    or the slow response's delay is negative."""
    chances = (faults.throttled, faults.system_error, faults.slow_response,
               faults.no_response, faults.disconnect)
    if any(not 0 <= chance <= 1 for chance in chances) or sum(chances) > 1 + 1e-9:
        raise ValueError("fault probabilities must be within 0..1 and add up to at most 1")
    if faults.slow_response_delay < 0:
        raise ValueError("slow_response_delay must not be negative")
