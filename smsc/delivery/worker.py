"""One long-lived thread that runs store calls for trio tasks, one call at a time.

`trio.to_thread.run_sync` costs some 260,000 instructions a call (thread cache, limiter,
bookkeeping for abandoning); with synchronous FULL the committer makes one call per
transaction, so that was thousands of instructions per message. Here a call is a queue put,
the thread's get, and one `run_sync_soon` back: about half of that.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import trio

T = TypeVar("T")
_Job = tuple[trio.lowlevel.TrioToken, trio.lowlevel.Task, Callable[..., Any], tuple[Any, ...]]


class WorkerThread:
    """Runs calls off the trio thread, in the order they are made. Started on first use;
    `stop` ends the thread once the calls already queued are done."""

    def __init__(self, name: str = "smsc-store") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        """The running thread, which takes its calls from `_jobs` (each thread its own)."""

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the worker thread. Like `trio.to_thread.run_sync` (not
        abandoned on cancel), a cancelled caller still waits for the call to end."""
        if self._thread is None:
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(target=_serve, args=(self._jobs,),
                                            name=self._name, daemon=True)
            self._thread.start()
        task = trio.lowlevel.current_task()
        self._jobs.put((trio.lowlevel.current_trio_token(), task, function, args))
        result: T = await trio.lowlevel.wait_task_rescheduled(_cannot_abort)  # unwrapped
        return result

    def stop(self) -> None:
        """Let the thread finish what is queued and end (a later `run` starts another)."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None


def _serve(jobs: queue.SimpleQueue[_Job | None]) -> None:
    reschedule = trio.lowlevel.reschedule
    while True:
        job = jobs.get()
        if job is None:
            return
        token, task, function, args = job
        result = outcome.capture(function, *args)
        del function, args, job  # nothing of the call outlives it on this thread
        with contextlib.suppress(trio.RunFinishedError):  # the caller's run ended: no one
            token.run_sync_soon(reschedule, task, result)  # is left to tell


def _cannot_abort(_: Any) -> trio.lowlevel.Abort:
    return trio.lowlevel.Abort.FAILED
