"""The simulated world behind the SMSC (pure): networks, handsets, magic numbers, inboxes.

`attempt` decides one delivery attempt and `submit_fault` one submit's fault. Every network has
its own random streams derived from the seed, so one network's traffic never shifts another's
outcomes, and the same seed with the same traffic gives the same results. Time comes in as
seconds since the SMSC started.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from smsc.config import FaultMixConfig, HandsetConfig, NetworkConfig, SimulationConfig
from smsc.simulation.handsets import (
    MAGIC_PREFIXES,
    Handsets,
    Magic,
    digits_of,
    magic_of,
    status_at,
)
from smsc.simulation.inbox import Inboxes
from smsc.simulation.networks import Attempt, ErrorCode, Fault, Result, SimulatedNetwork

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
"""A module constant: on Python 3.11 an Enum class attribute runs a lookup hook per use."""


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
        self._rngs: dict[str, tuple[random.Random, random.Random]] = {}
        self.reseed()

    def reseed(self) -> None:
        """Restart every random stream from the configured seed."""
        seed = self.settings.seed
        self._rngs = {
            name: (random.Random(f"{seed}/{name}/delivery"), random.Random(f"{seed}/{name}/submit"))
            for name in self.networks
        }

    def reset(self) -> None:
        """Back to the configuration: overrides, outages, fault mixes, inboxes and random
        streams as at start."""
        for network in self.networks.values():
            network.reset()
        self.handsets.reset()
        self.inboxes.clear()
        self.reseed()
        self._update_faulty()

    def _update_faulty(self) -> None:
        self._faulty = any(network.submit_fault_possible for network in self.networks.values())

    # -- decisions --------------------------------------------------------------------------

    def attempt(self, network: SimulatedNetwork, destination: str, attempts: int,
                now: float) -> Attempt:
        """How a delivery attempt on `network` ends; `attempts` made before this one."""
        if self.magic and destination.startswith(MAGIC_PREFIXES):
            forced = self._magic_attempt(destination, attempts)
            if forced is not None:
                return forced
        rng = self._rngs[network.name][0]
        if not self.handsets.active:
            attempt = network.attempt(now, rng)
            if self.keeps_inbox and attempt.result is _DELIVERED:
                return Attempt(attempt.delay, attempt.result, follow_up=True)
            return attempt
        return self._handset_attempt(network, destination, now, rng)

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
                         rng: random.Random) -> Attempt:
        attempt = network.attempt(now, rng)
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
                return Attempt(delay, Result.ABSENT, network.error_code("absent", rng),
                               status.online_at, "handset:" + digits, True)
            case "memory_full":
                return Attempt(delay, Result.ABSENT, network.error_code("memory_full", rng),
                               None, "handset:" + digits, True)
            case "failing":
                return Attempt(delay, Result.UNDELIVERABLE,
                               network.error_code("undeliverable", rng))
        if attempt.result is not Result.DELIVERED:
            return Attempt(delay, attempt.result, attempt.network_error_code)
        return Attempt(delay, Result.DELIVERED,
                       follow_up=self.keeps_inbox or profile.reply != "none")

    def submit_fault(self, network: str, destination: str) -> SubmitFault | None:
        """The fault a submit to `destination`, routed to `network`, meets (None: none)."""
        if self.magic and destination.startswith(MAGIC_PREFIXES):
            magic = magic_of(destination)
            if magic is not None and magic[0] in _MAGIC_FAULTS:
                return SubmitFault(_MAGIC_FAULTS[magic[0]])
        if not self._faulty:
            return None
        simulated = self.networks.get(network)
        if simulated is None:
            return None
        fault = simulated.submit_fault(self._rngs[network][1])
        if fault is None:
            return None
        return SubmitFault(fault, simulated.faults.slow_response_delay
                           if fault is Fault.SLOW_RESPONSE else 0.0)

    def set_faults(self, network: str, faults: FaultMixConfig) -> None:
        """Replace a network's submit-time fault mix.

        Raises:
            KeyError: no such network.
            ValueError: the probabilities add up to more than 1 or one is out of 0..1.
        """
        chances = (faults.throttled, faults.system_error, faults.slow_response,
                   faults.no_response, faults.disconnect)
        if any(not 0 <= chance <= 1 for chance in chances) or sum(chances) > 1 + 1e-9:
            raise ValueError("fault probabilities must be within 0..1 and add up to at most 1")
        if faults.slow_response_delay < 0:
            raise ValueError("slow_response_delay must not be negative")
        self.networks[network].set_faults(faults)
        self._update_faulty()
