"""The shell's single time source, so trio's MockClock drives timers and wall time alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import trio

_from_timestamp = datetime.fromtimestamp


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
        self._epoch_offset = self._wall_anchor.timestamp() - self._monotonic_anchor
        """POSIX time minus trio time: wall time is one sum and one `fromtimestamp` (half
        the cost of adding a timedelta; read once or twice per message)."""

    def wall(self) -> datetime:
        """The present wall time, UTC, to the microsecond."""
        return _from_timestamp(self._epoch_offset + self.monotonic(), UTC)

    def wall_at(self, monotonic: float) -> datetime:
        return _from_timestamp(self._epoch_offset + monotonic, UTC)

    def monotonic_at(self, wall: datetime) -> float:
        return self._monotonic_anchor + (wall - self._wall_anchor).total_seconds()
