"""ClockControl: the harness's hold on simulated time (`GET /v1/clock`, `advance`).

An advance moves the simulated clock forward step by step: to each simulated time something
waits for (a due message, the end of a latency, an outage or off-time, the next scheduled MO
message), in order, and after each step waits until what that step woke has run its course:
no task runnable and the committer quiet (nothing queued, no store call under way). Then to
the target. So when `advance` returns, every attempt, retry, expiry, comeback and MO message
due up to the new time has happened and is stored, and the receipts it owes were handed to
the bound ESMEs' sockets (not necessarily read or acknowledged by them yet). Purges
(retention) make no steps of their own: one runs with the first step (or the final jump) past
its time, which removes the same messages. Each step costs a few hundred
microseconds, so advancing past many due times (a retry every 15 minutes for two days: some
200 steps) takes a fraction of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import trio
import trio.testing

from smsc.clock import Clock
from smsc.delivery.committer import Committer


@dataclass(frozen=True, slots=True)
class ClockView:
    """The clock as the control API reports it."""

    now: datetime
    """Simulated wall time: what receipts, query_sm and the API show."""
    scale: float
    """Simulated seconds per real second (simulation.time_scale)."""
    real: datetime
    """The host's wall time."""
    advanced: float
    """Seconds the clock was moved forward by hand, in all."""


class ClockControl:
    """Reads and advances the simulated clock; build it in app.py."""

    def __init__(self, *, clock: Clock, committer: Committer) -> None:
        self.clock = clock
        self.committer = committer
        self._lock = trio.Lock()
        """One advance at a time: a second waits for the first and goes on from there."""

    def view(self) -> ClockView:
        clock = self.clock
        return ClockView(now=clock.wall(), scale=clock.scale, real=datetime.now(UTC),
                         advanced=round(clock.advanced, 6))

    async def advance(self, seconds: float) -> ClockView:
        """Move simulated time `seconds` forward; returns once everything due up to then has
        happened (see the module's docstring).

        Raises:
            ValueError: negative or not finite seconds (time never runs backwards).
        """
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds must be a finite number, 0 or more: time never runs "
                             "backwards")
        async with self._lock:
            await self._advance_to(self.clock.simulated() + seconds)
        return self.view()

    async def advance_to(self, wall: datetime) -> ClockView:
        """Move simulated time forward to the wall time `wall` (UTC when naive).

        Raises:
            ValueError: `wall` is already past (time never runs backwards).
        """
        if wall.tzinfo is None:
            wall = wall.replace(tzinfo=UTC)
        async with self._lock:
            target = self.clock.simulated_of(wall)
            if target < self.clock.simulated():
                raise ValueError(f"{wall.isoformat()} is in the past (now "
                                 f"{self.clock.wall().isoformat()}): time never runs "
                                 "backwards")
            await self._advance_to(target)
        return self.view()

    async def _advance_to(self, target: float) -> None:
        clock = self.clock
        await self._settle()
        while (step := clock.next_step()) is not None and step <= target:
            clock.jump_to(step)
            await self._settle()
        if target > clock.simulated():
            clock.jump_to(target)
        await self._settle()

    async def _settle(self) -> None:
        """Wait until what the last jump woke has run: no task runnable, the store quiet."""
        while True:
            await trio.testing.wait_all_tasks_blocked()
            if self.committer.quiet():
                return
            await self.committer.wait_quiet()
