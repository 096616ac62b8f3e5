"""The shell's single time source, so trio's MockClock drives timers and wall time alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import trio


class Clock:
    """Monotonic time from trio; wall time = a UTC anchor taken at start + elapsed trio time.

    Build it inside `trio.run`. Under `MockClock` (autojump) wall time then advances with the
    virtual clock, so validity periods and receipt dates are testable without waiting.
    """

    def __init__(self, wall_anchor: datetime | None = None) -> None:
        self._wall_anchor = wall_anchor or datetime.now(UTC)
        self.monotonic: Callable[[], float] = trio.lowlevel.current_clock().current_time
        """trio's time (what `trio.current_time()` returns), read from the run's clock
        directly: the hot path reads it several times per message."""
        self._monotonic_anchor = self.monotonic()

    def wall(self) -> datetime:
        elapsed = self.monotonic() - self._monotonic_anchor
        return self._wall_anchor + timedelta(seconds=elapsed)

    def wall_at(self, monotonic: float) -> datetime:
        return self._wall_anchor + timedelta(seconds=monotonic - self._monotonic_anchor)

    def monotonic_at(self, wall: datetime) -> float:
        return self._monotonic_anchor + (wall - self._wall_anchor).total_seconds()
