"""One SMPP connection of the client: a trio shell around an ESME-role SmppSession.

Three tasks, as in the server's links: a reader that feeds the session every chunk, a single
writer that sends whatever the session has queued (so PDUs sent in one pass leave in one
write), and a timer that drives the session's deadlines (enquire_link keepalive, response
timeouts). Requests wait for room in the window before they are queued.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio

from esme_client.errors import ConnectionLost, ResponseTimeout, SmppError
from smsc.pdu import CommandId, Pdu, make_response
from smsc.session import (
    ConnectionClosed,
    Event,
    RequestReceived,
    ResponseReceived,
    ResponseTimedOut,
    Role,
    SessionLimits,
    SmppSession,
)

RECEIVE_SIZE = 65536
RequestHandler = Callable[[Pdu], int | None]
"""Called with each deliver_sm / data_sm; returns the status to answer with (None: no answer)."""
ResponseHook = Callable[["PendingRequest", Pdu], None]
"""Called as a response is read, before any later PDU (so a receipt finds its submit)."""


class PendingRequest:
    """A request on the wire; `wait` returns its response (of any status) or raises."""

    __slots__ = ("_done", "error", "on_response", "request", "response", "sent_at")

    def __init__(self, request: Pdu, sent_at: float,
                 on_response: ResponseHook | None = None) -> None:
        self.request = request
        self.sent_at = sent_at
        self.on_response = on_response
        self.response: Pdu | None = None
        self.error: SmppError | None = None
        self._done = trio.Event()

    def _finish(self, response: Pdu | None, error: SmppError | None = None) -> None:
        self.response, self.error = response, error
        if response is not None and self.on_response is not None:
            self.on_response(self, response)
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def wait(self) -> Pdu:
        await self._done.wait()
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


class Connection:
    """Drives one SmppSession over one stream; `run` returns once the connection is closed."""

    def __init__(
        self, stream: trio.abc.Stream, limits: SessionLimits, on_request: RequestHandler
    ) -> None:
        self.stream = stream
        self.session = SmppSession(Role.ESME, limits=limits, now=trio.current_time())
        self._on_request = on_request
        self._pending: dict[int, PendingRequest] = {}
        self._window_lot = trio.lowlevel.ParkingLot()
        self._writer_wakeup = trio.Event()
        self._timer_wakeup = trio.Event()
        self._timer_deadline = math.inf
        self._cancel_scope: trio.CancelScope | None = None
        self.closed = trio.Event()
        self.close_reason = ""
        self.keepalives = 0
        """enquire_link probes of ours the SMSC has answered."""
        self._keepalive_lot = trio.lowlevel.ParkingLot()

    # -- requests --------------------------------------------------------------------------

    async def send(self, message: Pdu, on_response: ResponseHook | None = None) -> PendingRequest:
        """Queue a request once the window has room; returns its pending response.

        Raises:
            ConnectionLost: the connection is (or becomes) closed.
        """
        session = self.session
        windowed = message.command_id not in (CommandId.enquire_link, CommandId.unbind)
        while windowed and session.window_free <= 0 and not session.closed:
            await self._window_lot.park()
        if session.closed:
            raise ConnectionLost(f"connection closed: {self.close_reason}")
        now = trio.current_time()
        sent = session.send(message, now)
        pending = PendingRequest(sent, now, on_response)
        self._pending[sent.sequence_number] = pending
        self._after_change()
        return pending

    async def request(self, message: Pdu) -> Pdu:
        """Send a request and return its response (whatever its command_status)."""
        return await (await self.send(message)).wait()

    async def wait_keepalive(self) -> None:
        """Return after the next of our enquire_link probes has been answered.

        Raises:
            ConnectionLost: the connection closed first.
        """
        if not self.session.closed:
            await self._keepalive_lot.park()
        if self.session.closed:
            raise ConnectionLost(f"connection closed: {self.close_reason}")

    def abort(self, reason: str) -> None:
        """Drop the connection now."""
        if not self.session.closed:
            self.session.close(reason)
            self._dispatch()
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # -- tasks -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._cancel_scope = nursery.cancel_scope
                nursery.start_soon(self._reader)
                nursery.start_soon(self._writer)
                nursery.start_soon(self._timer)
                task_status.started()
        finally:
            if not self.session.closed:
                self.session.close("connection lost")
                self._dispatch()
            self.closed.set()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self.stream.aclose()

    async def _reader(self) -> None:
        session = self.session
        while not session.closed:
            try:
                data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            session.receive_data(data, trio.current_time())
            self._after_change()
        self._writer_wakeup.set()

    async def _writer(self) -> None:
        session = self.session
        while True:
            await self._writer_wakeup.wait()
            # let the other tasks that are ready queue their PDUs too: one write for all
            await trio.lowlevel.cancel_shielded_checkpoint()
            self._writer_wakeup = trio.Event()
            data = session.data_to_send()
            if data:
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.abort("connection lost while sending")
                    return
            if session.closed:
                assert self._cancel_scope is not None
                self._cancel_scope.cancel()
                return

    async def _timer(self) -> None:
        session = self.session
        while not session.closed:
            deadline = session.get_timer()
            self._timer_deadline = math.inf if deadline is None else deadline
            with trio.move_on_at(self._timer_deadline):
                await self._timer_wakeup.wait()
            self._timer_wakeup = trio.Event()
            now = trio.current_time()
            if now >= self._timer_deadline:
                session.handle_timer(now)
                self._after_change()

    # -- events ----------------------------------------------------------------------------

    def _after_change(self) -> None:
        self._dispatch()
        self._writer_wakeup.set()
        timer = self.session.get_timer()
        if timer is not None and timer < self._timer_deadline:
            self._timer_wakeup.set()

    def _dispatch(self) -> None:
        session = self.session
        while (event := session.next_event()) is not None:
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            pending = self._pending.pop(event.request.sequence_number, None)
            if pending is not None:
                pending._finish(event.message)
            elif event.request.command_id == CommandId.enquire_link:
                self.keepalives += 1
                self._keepalive_lot.unpark_all()
            self._window_lot.unpark()
        elif isinstance(event, RequestReceived):
            message = event.message
            if message.command_id in (CommandId.deliver_sm, CommandId.data_sm):
                status = self._on_request(message)
                if status is not None and not self.session.closed:
                    self.session.send(make_response(message, status), trio.current_time())
        elif isinstance(event, ResponseTimedOut):
            pending = self._pending.pop(event.request.sequence_number, None)
            if pending is not None:
                pending._finish(None, ResponseTimeout(event.request))
            self._window_lot.unpark()
        elif isinstance(event, ConnectionClosed):
            self.close_reason = event.reason
            error = ConnectionLost(f"connection closed: {event.reason}")
            for pending in self._pending.values():
                pending._finish(None, error)
            self._pending.clear()
            self._window_lot.unpark_all()
            self._keepalive_lot.unpark_all()
