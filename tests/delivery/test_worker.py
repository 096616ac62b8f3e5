"""The store's worker thread: calls run off the trio thread, in order, one at a time."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from smsc.delivery.worker import WorkerThread


async def test_calls_run_on_one_other_thread_and_return_or_raise() -> None:
    worker = WorkerThread()
    try:
        here = threading.get_ident()
        first = await worker.run(threading.get_ident)
        second = await worker.run(threading.get_ident)
        assert first == second != here
        assert await worker.run(divmod, 17, 5) == (3, 2)
        with pytest.raises(ZeroDivisionError):
            await worker.run(divmod, 1, 0)
        assert await worker.run(threading.get_ident) == first  # the thread outlives a raise
    finally:
        worker.stop()


async def test_a_cancelled_caller_waits_for_its_call_to_end() -> None:
    worker = WorkerThread()
    release = threading.Event()
    results: list[str] = []

    def slow() -> str:
        release.wait(30)
        return "done"

    async def caller(scope: trio.CancelScope) -> None:
        with scope:
            results.append(await worker.run(slow))
            await trio.sleep(0)  # the first checkpoint after the call: cancelled here
            results.append("not cancelled")

    try:
        scope = trio.CancelScope()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller, scope)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert results == []  # still waiting for the thread
            release.set()
        assert results == ["done"]
    finally:
        worker.stop()


async def test_after_stop_a_new_call_starts_a_thread_again() -> None:
    worker = WorkerThread()
    assert await worker.run(lambda: 41) == 41
    worker.stop()
    assert await worker.run(lambda: 42) == 42
    worker.stop()
