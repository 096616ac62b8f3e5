"""Simulated networks: how long a delivery attempt takes and how it ends (pure).

Time comes in as seconds since the SMSC started and randomness from the `Uniform` source the
caller passes (`smsc.simulation.draws.Draws`: a function of the message and the attempt), so
an attempt's result, error code and latency draw never depend on other traffic. A network with
the default settings (fixed latency, one result, no cap, no outage) hands out one prebuilt
Attempt and draws no random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from smsc.config import FaultMixConfig, NetworkConfig, OutageConfig


class Uniform(Protocol):
    """A source of uniform numbers: a decision's `Draws`, or a random.Random in tests."""

    def random(self) -> float: ...


class Result(Enum):
    DELIVERED = "delivered"
    ABSENT = "absent"
    """Temporary: the handset is unreachable; the message waits and is retried."""
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"


class ErrorCode:
    """GSM MAP error codes reported with failures (3GPP TS 29.002)."""

    UNKNOWN_SUBSCRIBER = 1
    CALL_BARRED = 13
    ABSENT_SUBSCRIBER = 27
    SM_DELIVERY_FAILURE = 32
    """Used for memory capacity exceeded."""
    SYSTEM_FAILURE = 34
    """Used while a network is out."""



@dataclass(frozen=True, slots=True)
class Attempt:
    delay: float
    """Seconds the attempt takes before its result is known."""
    result: Result
    network_error_code: int | None = None
    retry_at: float | None = None
    """When the cause of a temporary failure is known to end (seconds since start), e.g. a
    scheduled outage or a handset's next switch-on: the message is tried again then."""
    wait_key: str | None = None
    """What a temporary failure waits for: "network:NAME" or "handset:DIGITS"."""
    follow_up: bool = False
    """The caller must report the finished attempt back (inbox, replies, waiting lists)."""


class Fault(Enum):
    """A submit-time fault (see FaultMixConfig)."""

    THROTTLED = "throttled"
    SYSTEM_ERROR = "system_error"
    SLOW_RESPONSE = "slow_response"
    NO_RESPONSE = "no_response"
    DISCONNECT = "disconnect"


def outage_end(outages: tuple[OutageConfig, ...], now: float) -> float | None:
    """The end of the scheduled outage under way at `now` (seconds since start), or None."""
    end = None
    for outage in outages:
        offset = now - outage.start
        if offset < 0:
            continue
        if outage.every:
            offset %= outage.every
        if offset < outage.duration:
            candidate = now - offset + outage.duration
            end = candidate if end is None else max(end, candidate)
    return end


class SimulatedNetwork:
    """One configured network, with its runtime changes (outages, fault mix)."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        self.name = config.name
        self.wait_key = "network:" + config.name
        mix = config.outcomes
        weights = [mix.delivered, mix.absent, mix.undeliverable, mix.rejected]
        self._results = [Result.DELIVERED, Result.ABSENT, Result.UNDELIVERABLE, Result.REJECTED]
        self._cumulative: list[float] | None = None
        if sum(weights) > 0:
            total, running = sum(weights), 0.0
            self._cumulative = []
            for weight in weights:
                running += weight / total
                self._cumulative.append(running)
        codes = config.error_codes
        override = (config.error_code,) if config.error_code else None
        self._codes: dict[str, tuple[int, ...]] = {
            kind: override or getattr(codes, kind)
            for kind in ("absent", "undeliverable", "rejected", "memory_full", "outage")
        }
        fixed_result = Result(config.result)
        fixed_codes = self._codes.get(fixed_result.value, (0,))
        self._fixed = (
            Attempt(config.latency, fixed_result,
                    None if fixed_result is Result.DELIVERED else fixed_codes[0])
            if self._cumulative is None and config.latency_distribution == "fixed"
            and not config.max_rate and len(fixed_codes) == 1
            else None
        )
        self.draws = self._fixed is None or any(len(codes) > 1 for codes in self._codes.values())
        """Whether an attempt here may draw a random number (else it needs no `Draws`)."""
        self._next_start = 0.0
        self.outage_until: float | None = None
        """A runtime outage: math.inf until stopped, or its end (seconds since start)."""
        self.faults = config.faults
        self._faulty = _any_fault(config.faults)

    def error_code(self, kind: str, rng: Uniform) -> int:
        """The code reported with a failure of `kind` (absent, undeliverable, rejected,
        memory_full, outage): the configured one, or one drawn from several."""
        codes = self._codes[kind]
        return codes[0] if len(codes) == 1 else codes[int(rng.random() * len(codes))]

    # -- runtime changes -------------------------------------------------------------------

    def start_outage(self, now: float, duration: float | None = None) -> None:
        self.outage_until = math.inf if duration is None else now + duration

    def stop_outage(self) -> None:
        self.outage_until = None

    def set_faults(self, faults: FaultMixConfig, *, configured: bool = False) -> None:
        """Use `faults` from now on; `configured` makes it the configured mix too (a reloaded
        configuration's), the one `reset` goes back to."""
        if configured:
            self.config = replace(self.config, faults=faults)
        self.faults = faults
        self._faulty = _any_fault(faults)

    def reset(self) -> None:
        """Back to the configuration: no runtime outage, the configured fault mix."""
        self.stop_outage()
        self.set_faults(self.config.faults)
        self._next_start = 0.0

    # -- decisions ------------------------------------------------------------------------------

    def outage_end(self, now: float) -> float | None:
        """When the outage under way ends (math.inf: until stopped), or None when up."""
        until = self.outage_until
        if until is not None and until <= now:
            self.outage_until = until = None
        scheduled = outage_end(self.config.outages, now) if self.config.outages else None
        if until is None:
            return scheduled
        return until if scheduled is None else max(until, scheduled)

    def attempt(self, now: float, rng: Uniform) -> Attempt:
        """How an attempt started at `now` (seconds since start) ends, on the network side."""
        if self.outage_until is not None or self.config.outages:
            end = self.outage_end(now)
            if end is not None:
                return Attempt(0.0, Result.ABSENT, self.error_code("outage", rng),
                               None if math.isinf(end) else end, self.wait_key, True)
        if self._fixed is not None:
            return self._fixed
        result = self.draw_result(rng)
        code = None if result is Result.DELIVERED else self.error_code(result.value, rng)
        return Attempt(self.wait(now) + self.latency(rng), result, code)

    def draw_result(self, rng: Uniform) -> Result:
        cumulative = self._cumulative
        if cumulative is None:
            return Result(self.config.result)
        draw = rng.random()
        for result, bound in zip(self._results, cumulative, strict=True):
            if draw < bound:
                return result
        return self._results[-1]

    def latency(self, rng: Uniform) -> float:
        config = self.config
        match config.latency_distribution:
            case "uniform":
                value = config.latency + config.latency_spread * (2.0 * rng.random() - 1.0)
            case "normal":  # Box-Muller, from two uniform numbers
                radius = math.sqrt(-2.0 * math.log(1.0 - rng.random()))
                value = (config.latency + config.latency_spread * radius
                         * math.cos(math.tau * rng.random()))
            case "exponential":
                value = (-math.log(1.0 - rng.random()) * config.latency
                         if config.latency > 0 else 0.0)
            case _:
                value = config.latency
        return max(value, 0.0)

    def wait(self, now: float) -> float:
        """Seconds an attempt started at `now` waits for the throughput cap."""
        rate = self.config.max_rate
        if not rate:
            return 0.0
        start = max(now, self._next_start)
        self._next_start = start + 1 / rate
        return start - now

    @property
    def submit_fault_possible(self) -> bool:
        return self._faulty

    def submit_fault(self, draw: float) -> Fault | None:
        """The fault a submit routed here meets, given a uniform number in [0, 1), or None."""
        if not self._faulty:
            return None
        faults = self.faults
        for fault, chance in (
            (Fault.THROTTLED, faults.throttled),
            (Fault.SYSTEM_ERROR, faults.system_error),
            (Fault.SLOW_RESPONSE, faults.slow_response),
            (Fault.NO_RESPONSE, faults.no_response),
            (Fault.DISCONNECT, faults.disconnect),
        ):
            if draw < chance:
                return fault
            draw -= chance
        return None


def _any_fault(faults: FaultMixConfig) -> bool:
    return bool(faults.throttled or faults.system_error or faults.slow_response
                or faults.no_response or faults.disconnect)
