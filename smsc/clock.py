"""The shell's single time source: real time for the protocol, simulated time for the world.

Two times, both read from trio's clock (so MockClock drives them alike):

- `monotonic()` is trio's own time. Session timers (enquire_link, inactivity, response
  timeouts), send deadlines, throttles, back-offs and latency metrics run on it: they are about
  the peer on the other end of a socket, which lives in real time.
- `simulated()` is `offset + scale × trio time`: the time of the simulated world. Wall time
  (`wall()`, what receipts, query_sm, the API and the dashboard show, and what ESMEs'
  absolute SMPP times are read against) is a UTC anchor plus simulated time. It runs `scale`
  times as fast as real time (`simulation.time_scale`) and jumps forward when the harness
  advances it (`jump_to`); it never runs backwards.

Whatever sleeps until a simulated time does so in a scope from `move_on_at` (or `sleep`,
`sleep_until`): the clock keeps those scopes and moves their trio deadlines when it jumps, so
they wake at once when their time has come (docs/clock.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import trio

_from_timestamp = datetime.fromtimestamp


class Clock:
    """Real (trio) and simulated time, and wall time = a UTC anchor + simulated time.

    Build it inside `trio.run`. Under `MockClock` (autojump) both advance with the virtual
    clock, so validity periods and receipt dates are testable without waiting.
    """

    def __init__(self, wall_anchor: datetime | None = None, *, scale: float = 1.0) -> None:
        if not scale > 0 or math.isinf(scale):
            raise ValueError("the time scale must be a positive number")
        self.scale = scale
        """Simulated seconds per real second."""
        self.monotonic: Callable[[], float] = trio.lowlevel.current_clock().current_time
        """trio's time (what `trio.current_time()` returns), read from the run's clock
        directly: the hot path reads it several times per message."""
        now = self.monotonic()
        self._offset = now - scale * now
        """Simulated time minus scale × trio time: at start both read the same."""
        self._epoch = (wall_anchor or datetime.now(UTC)).timestamp() - now
        """POSIX time minus simulated time (constant: a jump moves both)."""
        self._wall_base = self._epoch + self._offset
        """POSIX time minus scale × trio time: wall time is one multiply-add and one
        `fromtimestamp` (read once or twice per message)."""
        unscaled = scale == 1
        self.wall: Callable[[], datetime] = self._wall_unscaled if unscaled else self._wall
        """The present (simulated) wall time, UTC, to the microsecond."""
        self.wall_at: Callable[[float], datetime] = (self._wall_at_unscaled if unscaled
                                                     else self._wall_at)
        """The wall time of a trio time (e.g. when a read chunk arrived). Both skip the
        multiply at scale 1: as cheap as before simulated time existed."""
        self.advanced = 0.0
        """Seconds the clock was moved forward by hand (`jump_to`), in all."""
        self._scopes: dict[trio.CancelScope, tuple[float, bool]] = {}
        """Scopes waiting for a simulated time: that time, and whether `advance` stops at it."""

    # -- reading ------------------------------------------------------------------------------

    def simulated(self) -> float:
        """The simulated world's monotonic time (seconds, same origin as trio's at start)."""
        return self._offset + self.scale * self.monotonic()

    def _wall(self) -> datetime:
        return _from_timestamp(self._wall_base + self.scale * self.monotonic(), UTC)

    def _wall_unscaled(self) -> datetime:
        return _from_timestamp(self._wall_base + self.monotonic(), UTC)

    def _wall_at(self, monotonic: float) -> datetime:
        return _from_timestamp(self._wall_base + self.scale * monotonic, UTC)

    def _wall_at_unscaled(self, monotonic: float) -> datetime:
        return _from_timestamp(self._wall_base + monotonic, UTC)

    def wall_of(self, simulated: float) -> datetime:
        """The wall time of a simulated time."""
        return _from_timestamp(self._epoch + simulated, UTC)

    def simulated_of(self, wall: datetime) -> float:
        """The simulated time of a wall time."""
        return wall.timestamp() - self._epoch

    def deadline_of(self, simulated: float) -> float:
        """The trio deadline at which the simulated time `simulated` comes (if no jump)."""
        return (simulated - self._offset) / self.scale

    # -- waiting for a simulated time ---------------------------------------------------------

    @contextmanager
    def move_on_at(self, simulated: float, *, step: bool = True) -> Iterator[trio.CancelScope]:
        """`trio.move_on_at` for a simulated time, kept up to date when the clock jumps.

        `step`: whether `advance` stops at this time so that what it wakes happens in order
        with everything else (False for upkeep whose order does not matter, e.g. purges).
        """
        if math.isinf(simulated):
            with trio.CancelScope() as scope:
                yield scope
            return
        scope = trio.CancelScope(deadline=self.deadline_of(simulated))
        scopes = self._scopes
        scopes[scope] = (simulated, step)
        try:
            with scope:
                yield scope
        finally:
            del scopes[scope]

    async def sleep_until(self, simulated: float, *, step: bool = True) -> None:
        # (move_on_at without the generator: once per attempt that takes time)
        scope = trio.CancelScope(deadline=self.deadline_of(simulated))
        scopes = self._scopes
        scopes[scope] = (simulated, step)
        try:
            with scope:
                await trio.sleep_forever()
        finally:
            del scopes[scope]

    async def sleep(self, seconds: float, *, step: bool = True) -> None:
        """Sleep `seconds` of simulated time."""
        await self.sleep_until(self.simulated() + seconds, step=step)

    def next_step(self) -> float | None:
        """The earliest simulated time something waits for, later than now (for `advance`)."""
        now = self.simulated()
        times = [at for at, step in self._scopes.values() if step and at > now]
        return min(times) if times else None

    # -- moving forward -----------------------------------------------------------------------

    def jump_to(self, simulated: float) -> None:
        """Move simulated (and wall) time forward to `simulated` at once; every scope whose
        time has come is woken, the others are re-timed. Real time does not move."""
        ahead = simulated - self.simulated()
        if ahead < 0:
            raise ValueError("the clock never runs backwards")
        self._offset += ahead
        self._wall_base += ahead
        self.advanced += ahead
        for scope, (at, _) in self._scopes.items():
            scope.deadline = -math.inf if at <= simulated else self.deadline_of(at)
