"""Link: drives one SmppSession over one trio stream (reader, single writer, timer).

A Link is the `Receiver` the delivery side sends receipts and MO messages over.

The reader (`_reader`, where every octet from the peer enters) hands every whole PDU of a
received chunk to the session before yielding, the writer (`LinkWriter`, smsc/server/
link_writer.py) coalesces everything queued into one write, and the timer task acts on the
session's deadlines. Events go to a synchronous handler: work that must wait (a store commit)
is queued by the handler and answered later through `Link.send`, so one slow request never
stops the reader.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Protocol

import trio

from smsc.clock import Clock
from smsc.pdu import Pdu, Prebuilt, Unbind
from smsc.server.link_writer import LinkWriter
from smsc.session import (
    BindState,
    BindType,
    ConnectionClosed,
    Event,
    RequestReceived,
    ResponseReceived,
    SmppSession,
)

RECEIVE_SIZE = 65536


class LinkHandler(Protocol):
    def on_event(self, link: Link, event: Event) -> None:
        """Called for every session event, in order, on the trio thread (but those
        `on_requests` and `on_responses` take)."""

    def on_requests(self, link: Link, events: list[RequestReceived]) -> None:
        """Called instead of `on_event` for consecutive RequestReceived events, several at
        once, in order (a read chunk's submit_sm: one per message)."""

    def on_responses(self, link: Link, events: list[ResponseReceived]) -> None:
        """Called instead of `on_event` for consecutive ResponseReceived events, several at
        once, in order (a read chunk's deliver_sm_resp: one per message)."""


class Link:
    """One SMPP connection: owns its stream and session; `run` returns when it is closed."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        session: SmppSession,
        *,
        clock: Clock,
        handler: LinkHandler,
        peer: str,
        max_peer_open: int = 1000,
        max_unsent: int = 1 << 20,
        send_timeout: float = 30.0,
        on_sent: Callable[[Pdu], None] | None = None,
        on_sent_prebuilt: Callable[[int, int], None] | None = None,
    ) -> None:
        self.stream = stream
        self.session = session
        self.clock = clock
        self.handler = handler
        self.peer = peer
        self.peer_ip = peer.rsplit(":", 1)[0].strip("[]")
        self._max_peer_open = max_peer_open
        self._max_unsent = max_unsent
        self._reader_resume = trio.Event()
        self._timer_scope: trio.CancelScope | None = None
        """The timer task's sleep, its deadline the session's next one (moved, never renewed)."""
        self._closed = trio.Event()
        self.is_open = True
        """False once the connection is closed and the session finished."""
        self.writer = LinkWriter(stream, session, send_timeout=send_timeout, abort=self.abort,
                                 on_taken=self._resume_reader_if_room)
        """The send side: every octet for the peer leaves through it."""
        self._reader_paused = False
        """Whether the reader waits for our answers to catch up (back-pressure)."""
        self._cancel_scope: trio.CancelScope | None = None
        self.close_reason = ""
        self._dispatching = False
        self.received_at = clock.monotonic()
        """The clock reading of the chunk the reader last gave the session: when the PDUs
        being handled arrived (one reading, and one object, for every PDU of a chunk)."""
        self._on_sent = on_sent
        """Called with each PDU sent."""
        self._on_sent_prebuilt = on_sent_prebuilt
        """Called instead, for what `send_prebuilt_answer(s)` and `send_prebuilt_run` send
        (prebuilt, status 0), with the command_id and how many; when None, `on_sent` gets each
        PDU."""

    # -- what the application calls --------------------------------------------------------

    def send(self, message: Pdu, now: float | None = None) -> Pdu:
        """Queue a PDU through the session (raises LocalProtocolError when illegal). `now`,
        for a request, is the caller's reading of the clock for its response deadline (the
        outbound dispatcher reads it once per round); a request prebuilt (`Prebuilt`)
        goes through the session's shorter path for it.

        A response on a session that has closed meanwhile is dropped: a chunk's events are
        handled after the whole chunk was read, and a later PDU of the same chunk may have
        closed the session (lost framing) before an earlier request is answered."""
        session = self.session
        if message.command_id & 0x80000000:  # a response: no clock read, no deadline moved
            if session.closed:
                return message  # the connection is going: the answer has nowhere to go
            sent = session.send_response(message)
            if self._on_sent is not None:
                self._on_sent(sent)
            self._after_session_change()
            return sent
        if now is None:
            now = self.clock.monotonic()
        sent = (session.send_prebuilt(message, now) if isinstance(message, Prebuilt)
                else session.send(message, now))
        if self._on_sent is not None:
            self._on_sent(sent)
        self._after_session_change()
        if session.outstanding == 1:
            self._timer_moved()  # the first request in flight: its response deadline counts
        return sent

    def send_prebuilt_answer(self, kind: type[Prebuilt], body: bytes, sequence: int) -> None:
        """Queue a request's usual answer, as `send(kind(body, sequence))` would, without
        building that PDU unless a hook wants it (raises LocalProtocolError when illegal)."""
        self.send_prebuilt_answers(kind, ((sequence, body),))

    def send_prebuilt_answers(self, kind: type[Prebuilt], answers: Sequence[tuple[int, bytes]]
                          ) -> None:
        """`send_prebuilt_answer` for several answers of one kind, (sequence, body) each: a commit's
        for this link, with one hook call and one wakeup for the lot (raises
        LocalProtocolError as `SmppSession.send_prebuilt_answers`)."""
        command_id = kind.command_id
        self.session.send_prebuilt_answers(command_id, answers)
        if self._on_sent_prebuilt is not None:
            self._on_sent_prebuilt(command_id, len(answers))
        elif self._on_sent is not None:
            for sequence, body in answers:
                self._on_sent(kind(body, sequence))
        self._after_session_change()

    def send_prebuilt_run(self, messages: Sequence[Prebuilt], now: float) -> int:
        """Queue requests prebuilt, several of one command at once, as
        `SmppSession.send_prebuilt_run` takes them (a round of receipts for one receiver): one
        hook call and one wakeup for the lot. Returns how many went; `now` is the caller's
        clock reading for their response deadlines (raises LocalProtocolError as `send`)."""
        session = self.session
        count = session.send_prebuilt_run(messages, now)
        if count:
            if self._on_sent_prebuilt is not None:
                self._on_sent_prebuilt(messages[0].command_id, count)
            elif self._on_sent is not None:
                for message in messages[:count]:
                    self._on_sent(message)
            self._after_session_change()
            if session.outstanding == count:
                self._timer_moved()  # the first requests in flight: their deadline counts
        return count

    def flush(self) -> None:
        """Write what is queued now, from the caller's task, when the writer is idle
        (`LinkWriter.flush`: a commit's answers, ahead of the round's other work)."""
        self.writer.flush()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def unbind(self, timeout: float) -> None:
        """Ask the peer to unbind, then wait (bounded) for the link to close."""
        if self.session.state.is_bound:
            self.send(Unbind())
        with trio.move_on_after(timeout):
            await self._closed.wait()
        self.abort("shutdown")

    def abort(self, reason: str) -> None:
        """Close the connection now, whatever state it is in."""
        if not self.session.closed:
            self.session.close(reason)
            self._dispatch()
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # -- the three tasks -------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._cancel_scope = nursery.cancel_scope
                nursery.start_soon(self._reader)
                nursery.start_soon(self.writer.run)
                nursery.start_soon(self._timer)
        finally:
            if not self.session.closed:
                self.session.close("connection lost")
                self._dispatch()
            self.is_open = False
            self._closed.set()
            with trio.CancelScope(shield=True):
                with trio.move_on_after(1):
                    await self.stream.aclose()

    async def _reader(self) -> None:
        session = self.session
        clock = self.clock
        while not session.closed:
            if not self._room_to_read():  # back-pressure: wait until our answers catch up
                self._reader_resume = trio.Event()
                self._reader_paused = True
                await self._reader_resume.wait()
                self._reader_paused = False
                continue
            try:
                data = bytes(await self.stream.receive_some(RECEIVE_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            now = self.received_at = clock.monotonic()
            session.receive_data(data, now)
            self._after_session_change()
            self._timer_moved()

    async def _timer(self) -> None:
        session = self.session
        clock = self.clock
        while not session.closed:
            deadline = session.get_timer()
            with trio.CancelScope(deadline=math.inf if deadline is None else deadline) as sleep:
                self._timer_scope = sleep
                await trio.sleep_forever()
            self._timer_scope = None
            session.handle_timer(clock.monotonic())  # acts only on deadlines that passed
            self._after_session_change()

    def _timer_moved(self) -> None:
        """Bring the timer's wake-up forward when the session now has an earlier deadline
        (a later one is found when the timer wakes: cheaper than waking it now)."""
        sleep = self._timer_scope
        if sleep is not None:
            deadline = self.session.get_timer()
            if deadline is not None and deadline < sleep.deadline:
                sleep.deadline = deadline

    # -- plumbing ----------------------------------------------------------------------------

    def _after_session_change(self) -> None:
        """Hand new events to the handler, wake the writer (once per round) and the reader
        when it waits for room."""
        if self.session.events:
            self._dispatch()
        self.writer.wake()
        if self._reader_paused:
            self._resume_reader_if_room()

    def _resume_reader_if_room(self) -> None:
        """Let the reader waiting for room (back-pressure) go on once there is some (after
        a send, or once the writer took queued octets)."""
        if self._reader_paused and self._room_to_read():
            self._reader_resume.set()

    def _room_to_read(self) -> bool:
        """Whether the peer's open requests and our unsent octets are within their bounds."""
        session = self.session
        return (session.peer_open_requests < self._max_peer_open
                and session.pending_output < self._max_unsent)

    def _dispatch(self) -> None:
        # a handler that sends from inside on_event must not see later events first
        if self._dispatching:
            return
        self._dispatching = True
        events = self.session.events
        handler = self.handler
        try:
            while events:
                # what is queued now, in runs of one kind (grouped in C); events the
                # handler's sends queue meanwhile follow in the next round
                queued = list(events)
                events.clear()
                for kind, run in groupby(queued, type):
                    if kind is RequestReceived:
                        handler.on_requests(self, list(run))  # type: ignore[arg-type]
                    elif kind is ResponseReceived:
                        handler.on_responses(self, list(run))  # type: ignore[arg-type]
                    else:
                        for event in run:
                            if isinstance(event, ConnectionClosed):
                                self.close_reason = event.reason
                            handler.on_event(self, event)
        finally:
            self._dispatching = False

    @property
    def state(self) -> BindState:
        return self.session.state

    # -- what delivery reads (smsc.delivery.receivers.Receiver) ---------------------------

    @property
    def bound(self) -> bool:
        return self.session.bound

    @property
    def bind_type(self) -> BindType | None:
        return self.session.bind_type

    @property
    def system_id(self) -> str:
        return self.session.system_id

    @property
    def window_free(self) -> int:
        return self.session.window_free

    @property
    def speaks_34(self) -> bool:
        return self.session.peer_speaks_34

