"""Clock: wall time follows trio's clock (MockClock included), to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from smsc.clock import Clock

ANCHOR = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


async def test_wall_time_advances_with_trio_time(autojump_clock: Any) -> None:
    clock = Clock(ANCHOR)
    assert clock.wall() == ANCHOR
    await trio.sleep(90.5)
    assert clock.wall() == ANCHOR + timedelta(seconds=90.5)
    assert clock.monotonic() == trio.current_time()


async def test_wall_and_monotonic_convert_both_ways(autojump_clock: Any) -> None:
    clock = Clock(ANCHOR)
    later = clock.monotonic() + 3600.25
    wall = clock.wall_at(later)
    assert wall == ANCHOR + timedelta(seconds=3600.25)
    assert abs(clock.monotonic_at(wall) - later) < 1e-6
