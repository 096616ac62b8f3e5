"""Simulated networks: how long a delivery attempt takes and how it ends (pure, seeded)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from smsc.config import NetworkConfig


class Result(Enum):
    DELIVERED = "delivered"
    ABSENT = "absent"
    """Temporary: the handset is unreachable; the message waits and is retried."""
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Attempt:
    delay: float
    """Seconds the attempt takes before its result is known."""
    result: Result
    network_error_code: int | None = None


class SimulatedNetwork:
    """One configured network; `attempt` decides an attempt's latency and result."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        self.name = config.name

    def attempt(self, destination: str, now: datetime, rng: random.Random) -> Attempt:
        result = Result(self.config.result)
        code = None if result is Result.DELIVERED else self.config.error_code
        return Attempt(self.config.latency, result, code)
