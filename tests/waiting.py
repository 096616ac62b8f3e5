"""Waiting in tests for a condition that another task makes true, woken by the event that
changes it (a store commit, a task blocking), never by a timer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], bool], changed: Callable[[], Awaitable[None]]) -> None:
    """Return once `condition()` holds, checking it again after each `changed()`.

    Bound it with `trio.fail_after`: a condition that never comes true fails the test.
    """
    while not condition():
        await changed()
