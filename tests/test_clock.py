"""Clock: wall and simulated time follow trio's clock (MockClock included), scaled and jumped
forward by hand; scopes waiting for a simulated time wake when a jump passes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
import trio.testing

from smsc.clock import Clock

ANCHOR = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


async def test_wall_time_advances_with_trio_time(autojump_clock: Any) -> None:
    clock = Clock(ANCHOR)
    assert clock.wall() == ANCHOR
    await trio.sleep(90.5)
    assert clock.wall() == ANCHOR + timedelta(seconds=90.5)
    assert clock.monotonic() == trio.current_time() == clock.simulated()


async def test_wall_and_simulated_convert_both_ways(autojump_clock: Any) -> None:
    clock = Clock(ANCHOR)
    later = clock.monotonic() + 3600.25
    wall = clock.wall_at(later)
    assert wall == ANCHOR + timedelta(seconds=3600.25)
    assert abs(clock.simulated_of(wall) - later) < 1e-6
    assert clock.wall_of(clock.simulated_of(wall)) == wall


async def test_a_scaled_clock_runs_simulated_time_faster(autojump_clock: Any) -> None:
    clock = Clock(ANCHOR, scale=60)
    real = clock.monotonic()
    await trio.sleep(2)
    assert clock.monotonic() == real + 2  # protocol time stays real
    assert clock.wall() == ANCHOR + timedelta(minutes=2)
    slept_from = trio.current_time()
    await clock.sleep(600)  # ten simulated minutes: ten real seconds
    assert trio.current_time() - slept_from == pytest.approx(10)
    assert clock.wall() == ANCHOR + timedelta(minutes=12)


async def test_a_jump_wakes_what_it_passes_and_retimes_the_rest() -> None:
    clock = Clock(ANCHOR)
    woken: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woken.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper, "hour", 3600.0)
        nursery.start_soon(sleeper, "day", 86400.0)
        await trio.testing.wait_all_tasks_blocked()
        start = clock.simulated()
        assert clock.next_step() == pytest.approx(start + 3600, abs=0.1)
        clock.jump_to(start + 7200)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == ["hour"]
        assert clock.wall() >= ANCHOR + timedelta(hours=2)
        assert clock.advanced == pytest.approx(7200, abs=0.1)
        clock.jump_to(start + 86400)
        await trio.testing.wait_all_tasks_blocked()
    assert woken == ["hour", "day"]
    assert clock.next_step() is None


async def test_time_never_runs_backwards(autojump_clock: Any) -> None:
    clock = Clock(ANCHOR)
    with pytest.raises(ValueError, match="backwards"):
        clock.jump_to(clock.simulated() - 1)
    with pytest.raises(ValueError):
        Clock(ANCHOR, scale=0)
