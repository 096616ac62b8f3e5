"""LinkWriter: the send side of a Link, the one task that writes a session's octets to its stream.

Whatever the session queued since the last write goes out in one write: one non-blocking
`os.write` on a plain TCP socket (it almost always takes everything), `send_all` under a
send deadline for what it leaves and on other streams. `flush` writes from the caller's task
when the writer is idle, never ahead of what the writer still has to send.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import trio

from smsc.session import SmppSession


class LinkWriter:
    """Writes what `session` queues to `stream`, woken by `wake`; `run` is the writer task.

    `abort(reason)` closes the link (the connection was lost, or the peer stopped reading;
    once the session is closed it only ends the link's tasks); `on_taken` is called whenever
    queued octets were taken from the session (the link's reader may wait for that room).
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        session: SmppSession,
        *,
        send_timeout: float,
        abort: Callable[[str], None],
        on_taken: Callable[[], None],
    ) -> None:
        self.stream = stream
        self.session = session
        self._send_timeout = send_timeout
        self._abort = abort
        self._on_taken = on_taken
        self._fd = _plain_socket_fd(stream)
        self.wakeup = trio.Event()
        self.woken = False
        """Whether `wakeup` is set already (saves setting it once per PDU)."""
        self.writing = False
        """Whether the writer task waits in send_all: nothing may overtake what it sends."""
        self.backlog: memoryview | None = None
        """What `flush` could not write, for the writer to send before anything else."""

    def wake(self) -> None:
        """Have the writer task send what is queued (once per round, however many PDUs)."""
        if not self.woken:
            self.woken = True
            self.wakeup.set()

    def outgoing(self) -> bytes:
        """Every octet that leaves for the peer, taken from the session here and only here
        (a flush's, the writer's): written now or, what a write leaves, as the backlog."""
        return self.session.data_to_send()

    def flush(self) -> None:
        """Write what is queued now, from the caller's task, on a plain TCP socket whose
        writer is not in the middle of a send (otherwise the writer sends it, as always).

        For answers the peer's window waits for (a commit's submit_sm_resp): written before
        the rest of the round's work (building and queueing receipts), they let the peer send
        its next requests while this side is still busy, instead of the two taking turns.
        """
        fd = self._fd
        if fd is None or self.writing or self.backlog is not None:
            return
        data = self.outgoing()
        if not data:
            return
        left = self._write_now(fd, data)
        if left is None:
            return
        if left:
            self.backlog = left
            self.wake()
        self._on_taken()

    async def run(self) -> None:
        """The writer task: sends what each wakeup finds queued; returns once the session is
        closed and its last octets were sent, or the link was aborted."""
        session = self.session
        with trio.CancelScope() as send_deadline:
            while True:
                await self.wakeup.wait()
                self.wakeup = trio.Event()
                self.woken = False
                data = self.outgoing()
                backlog = self.backlog
                if backlog is not None:  # what a flush left: it goes first
                    self.backlog = None
                    data = bytes(backlog) + data
                if data:
                    self._on_taken()
                    if not await self._write(data, send_deadline):
                        return
                if session.closed:
                    # what the session queued while that write was under way (the answer
                    # to an unbind read meanwhile) goes out before the link closes
                    rest = self.outgoing()
                    if rest and not await self._write(rest, send_deadline):
                        return
                    self._abort("closed")  # the session is over already: ends the link's tasks
                    return
        self._abort("peer stopped reading")  # the send deadline passed

    async def _write(self, data: bytes, send_deadline: trio.CancelScope) -> bool:
        """Send `data`; False once the connection is lost.

        A plain TCP socket gets one non-blocking write first: it almost always takes
        everything, for a fraction of what trio's send_all costs. What it leaves (and every
        write on other streams) goes through send_all within the send timeout.
        """
        fd = self._fd
        if fd is None:
            view = memoryview(data)
        else:
            left = self._write_now(fd, data)
            if left is None:
                return False
            if not left:
                return True
            view = left
        send_deadline.deadline = trio.current_time() + self._send_timeout
        self.writing = True
        try:
            await self.stream.send_all(view)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._abort("peer stopped reading")
            return False
        finally:
            self.writing = False
        send_deadline.deadline = math.inf
        return True

    def _write_now(self, fd: int, data: bytes) -> memoryview | None:
        """One non-blocking write on the plain socket: what it did not take (empty when it
        took everything), or None once the connection is lost (and the link aborted)."""
        view = memoryview(data)
        try:
            return view[os.write(fd, view):]
        except BlockingIOError:
            return view
        except OSError:
            self._abort("connection lost")
            return None


def _plain_socket_fd(stream: trio.abc.Stream) -> int | None:
    """The file descriptor under a plain trio TCP stream (None for TLS, memory streams...)."""
    if isinstance(stream, trio.SocketStream):
        return stream.socket.fileno()
    return None
