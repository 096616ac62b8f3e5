"""SmppSession: the sans-IO SMPP 3.4 state machine of one connection, for either role.

Bytes and the current monotonic time go in; events and bytes come out (the h11 / aioquic
pattern). The session answers protocol-level PDUs itself (enquire_link, unbind, generic_nack for
broken headers, ESME_RINVBNDSTS for out-of-state requests; never a response, however broken) and
reports every answer and every response it drops as an event; everything that needs a decision
(binds, submits, deliveries) is left to the application.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smsc.pdu import (
    DecodeError,
    EnquireLink,
    FrameBuffer,
    GenericNack,
    Pdu,
    Prebuilt,
    Unbind,
    UnbindResp,
    decode,
    encode,
    response_class,
)
from smsc.pdu.codec import HEADER
from smsc.pdu.constants import CommandId, CommandStatus, SmppVersion, Tag
from smsc.pdu.framing import MAX_UNBOUND_COMMAND_LENGTH
from smsc.session.events import (
    BadResponseDropped,
    BindRequested,
    Bound,
    ConnectionClosed,
    Event,
    PeerErrorAnswered,
    RequestAnswered,
    ResponseTimedOut,
    Unbound,
    UnmatchedResponse,
    make_request_received,
    make_response_received,
)
from smsc.session.states import (
    ALLOWED_IN,
    BIND_REQUESTS,
    BIND_TYPE_OF,
    NOT_IN_VERSION,
    BindState,
    BindType,
    Role,
)

MAX_SEQUENCE = 0x7FFFFFFF
_UNWINDOWED = frozenset({CommandId.enquire_link, CommandId.unbind, CommandId.outbind})
_NO_RESPONSE = frozenset({CommandId.outbind, CommandId.alert_notification})
_ORDINARY = frozenset(
    command_id for command_id in CommandId
    if not command_id & 0x80000000 and command_id not in _UNWINDOWED
    and command_id not in _NO_RESPONSE and command_id not in BIND_REQUESTS
)
"""Requests whose matching response needs nothing but the window and the event."""
_USUAL_ANSWERS = frozenset(command_id | 0x80000000 for command_id in _ORDINARY)
"""Their responses: what `send_prebuilt_answer` writes (a bind's answer changes the state)."""
# DecodeError statuses that mean "the header was the problem": answered with generic_nack
# (REFERENCE.md §12.5), everything else with the request's own response.
_HEADER_STATUSES = frozenset({CommandStatus.ESME_RINVCMDLEN, CommandStatus.ESME_RINVCMDID})

# Enum members as module constants (docs/architecture.md, "Hot-path idioms").
_ENQUIRE_LINK = CommandId.enquire_link
_UNBIND = CommandId.unbind
_GENERIC_NACK = CommandId.generic_nack
_ROK = CommandStatus.ESME_ROK
_OPEN = BindState.OPEN
_CLOSED = BindState.CLOSED
_SMSC = Role.SMSC
_ESME = Role.ESME
_V34 = SmppVersion.V34
_pack_header = HEADER.pack
_ENCODE_EACH, _WIRE_FORM = True, False
"""`_send_run`'s `encode_each`: PDUs to encode, or requests and bodies prebuilt."""


class LocalProtocolError(Exception):
    """Our own side tried something SMPP forbids here: a bug in the caller, never the peer."""


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Protocol limits and timers of one session, in seconds (0 disables a timer)."""

    max_command_length: int = 65536
    window: int = 10
    """Most of our own requests (deliver_sm, data_sm, ...) awaiting a response at once."""
    session_init_timer: float = 30.0
    enquire_link_timer: float = 30.0
    inactivity_timer: float = 0.0
    response_timer: float = 30.0
    pdu_read_timer: float = 10.0


class SmppSession:
    """One SMPP connection's protocol state, without any I/O.

    Call `receive_data` with what the socket gave (b"" when the peer closed), drain
    `next_event`, `send` answers and requests, and write out `data_to_send()`. Ask `get_timer`
    for the next deadline and call `handle_timer` once it passes.
    """

    def __init__(self, role: Role, *, limits: SessionLimits, now: float) -> None:
        self.role = role
        self.limits = limits
        self.state = _OPEN
        self.version = _V34
        """The SMPP version this session speaks (`SmppVersion`), from the bind: the SMSC takes
        the ESME's interface_version; the ESME its own, lowered to the SMSC's
        sc_interface_version when the bind response names one. What a version lacks is
        neither sent nor accepted (`states.ALLOWED_IN`)."""
        self._peer_may_send = ALLOWED_IN[(role.peer, _OPEN, _V34)]
        self._we_may_send = ALLOWED_IN[(role, _OPEN, _V34)]
        """The legality table's rows for the present state and version (looked up once per
        change)."""
        self.closed = False
        """Whether the session is over (state CLOSED)."""
        self.bound = False
        """Whether the state is one of the bound ones (`state.is_bound`, kept as it changes)."""
        self.bind_type: BindType | None = None
        self.system_id = ""
        """The ESME's system_id once bound (either role)."""
        self.peer_interface_version = 0
        self.peer_speaks_34 = False
        """Whether TLVs may be sent on this session (REFERENCE.md §6.1): the peer's bind
        said interface_version 0x34 or later."""
        self._bind_request_system_id = ""
        # until bound, no PDU may be longer than a bind (docs/hardening.md); _enter lifts it
        self._frames = FrameBuffer(
            max_command_length=min(limits.max_command_length, MAX_UNBOUND_COMMAND_LENGTH))
        self._events: deque[Event] = deque()
        self.events = self._events
        """The events not yet taken, oldest first (the shell may drain it directly instead
        of calling `next_event` for each)."""
        self._out = bytearray()
        self._next_sequence = 1
        # our requests awaiting responses, in send order (so the first has the earliest deadline)
        self._outstanding: dict[int, tuple[Pdu, float]] = {}
        self._windowed = 0
        # the peer's requests we have not answered yet: sequence → command_id
        self._peer_open: dict[int, int] = {}
        self._pending_unbind_resp: Pdu | None = None
        self._created = now
        self._last_received = now
        self._last_activity = now
        self._partial_since: float | None = None
        self._enquire_sequence: int | None = None

    # -- views ---------------------------------------------------------------------------

    @property
    def window_free(self) -> int:
        return self.limits.window - self._windowed

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    @property
    def peer_open_requests(self) -> int:
        return len(self._peer_open)

    @property
    def pending_output(self) -> int:
        """Octets queued for the peer and not yet taken by `data_to_send`."""
        return len(self._out)


    # -- input ---------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the peer; b"" means the peer closed its side."""
        if self.state is _CLOSED:
            return
        if not data:
            self._close("peer closed the connection")
            return
        self._last_received = now
        frames = self._frames
        frames.feed(data)
        completed = False
        handle = self._handle_frame
        while not self.closed:
            try:
                batch = frames.pop_all()
            except DecodeError as error:
                self._answer_error(error, "framing lost")
                self._close("framing lost: " + str(error))
                return
            if not batch:
                break
            completed = True
            for frame in batch:
                handle(frame, now)
                if self.closed:  # a frame closed the session: the rest go unread
                    break
        # the read timer runs from the first octet of a PDU, however slowly the rest trickles
        if not frames.buffered:
            self._partial_since = None
        elif completed or self._partial_since is None:
            self._partial_since = now

    def next_event(self) -> Event | None:
        """The next event, or None when nothing more is pending."""
        events = self._events
        return events.popleft() if events else None

    def _handle_frame(self, frame: bytes, now: float) -> None:
        try:
            message = decode(frame)
        except DecodeError as error:
            self._answer_error(error, str(error))
            return
        command_id = message.command_id
        if command_id & 0x80000000:
            self._handle_response(message, now)
            return
        if command_id != _ENQUIRE_LINK:
            self._last_activity = now  # enquire_link proves the link, not a transaction
        if command_id not in self._peer_may_send:
            self._reject_out_of_state(message)
            return
        if command_id in _NO_RESPONSE:
            self._events.append(make_request_received(message))
            return
        peer_open = self._peer_open
        sequence = message.sequence_number
        if sequence in peer_open:  # the number of a request still awaiting our answer
            self._refuse(message, CommandStatus.ESME_RUNKNOWNERR,
                         f"sequence {sequence} reused while its request awaits an answer")
            return
        peer_open[sequence] = command_id
        if command_id in _ORDINARY:  # submit_sm and the like: the application answers
            self._events.append(make_request_received(message))
        elif command_id == _ENQUIRE_LINK:
            self._auto_answer(message, response_class(command_id)(  # type: ignore[misc]
                sequence_number=message.sequence_number))
        elif command_id == _UNBIND:
            self._unbind_received(message)
        elif command_id in BIND_REQUESTS:
            version = message.interface_version  # type: ignore[attr-defined]
            self.peer_interface_version = version
            self.version = SmppVersion.of(version)
            self.peer_speaks_34 = self.version >= _V34
            self._bind_request_system_id = message.system_id  # type: ignore[attr-defined]
            self._events.append(BindRequested(message))
        else:
            self._events.append(make_request_received(message))

    def _handle_response(self, message: Pdu, now: float) -> None:
        entry = self._outstanding.pop(message.sequence_number, None)
        if entry is None:
            self._events.append(UnmatchedResponse(message))
            return
        request = entry[0]
        request_id = request.command_id
        if request_id in _ORDINARY and message.command_id == request_id | 0x80000000:
            # the usual answer (a deliver_sm_resp): what the general path below does for it
            self._windowed -= 1
            self._last_activity = now
            self._events.append(make_response_received(message, request))
            return
        if request.command_id not in _UNWINDOWED:
            self._windowed -= 1
        if message.command_id != _GENERIC_NACK and (
            message.command_id != request.command_id | 0x80000000
        ):
            # a response of the wrong kind for this sequence: treat like a nack of the request
            self._events.append(UnmatchedResponse(message))
        request_id = request.command_id
        if request_id != _ENQUIRE_LINK:
            self._last_activity = now
        if request_id == _ENQUIRE_LINK:
            self._enquire_sequence = None
            self._events.append(make_response_received(message, request))
            return
        if request_id == _UNBIND:
            self._events.append(make_response_received(message, request))
            self._close("unbind acknowledged")
            return
        if (
            self.role is _ESME
            and request_id in BIND_REQUESTS
            and message.command_status == _ROK
            and message.command_id != _GENERIC_NACK
        ):
            bind_type = BIND_TYPE_OF[request_id]
            self.version = _negotiated(request.interface_version,  # type: ignore[attr-defined]
                                       message.tlvs.get(Tag.sc_interface_version))
            self._enter(bind_type.bound_state)
            self.bind_type = bind_type
            self.system_id = request.system_id  # type: ignore[attr-defined]
            self._events.append(make_response_received(message, request))
            self._events.append(Bound(bind_type, self.system_id))
            return
        self._events.append(make_response_received(message, request))

    def _reject_out_of_state(self, message: Pdu) -> None:
        command_id = message.command_id
        if command_id in NOT_IN_VERSION[self.version]:
            # a command this session's version does not have is unknown to it
            status = CommandStatus.ESME_RINVCMDID
            self._write(GenericNack(sequence_number=message.sequence_number,
                                    command_status=status))
            self._events.append(PeerErrorAnswered(
                int(status), command_id, message.sequence_number,
                f"{CommandId(command_id).name} is not SMPP {self.version:x}"))
            return
        if command_id in BIND_REQUESTS and self.state is not _OPEN:
            status = CommandStatus.ESME_RALYBND
        else:
            status = CommandStatus.ESME_RINVBNDSTS
        self._refuse(message, status, f"{CommandId(command_id).name} not allowed in "
                                      f"{self.state.value}")

    def _refuse(self, message: Pdu, status: int, reason: str) -> None:
        """Answer a request the application never sees with `status`: its own response, or
        generic_nack for a request that has none."""
        command_id = message.command_id
        resp_cls = response_class(command_id)
        answer: Pdu
        if resp_cls is None:
            answer = GenericNack(sequence_number=message.sequence_number, command_status=status)
        else:
            answer = resp_cls(sequence_number=message.sequence_number, command_status=status)
        self._write(answer)
        self._events.append(
            PeerErrorAnswered(int(status), command_id, message.sequence_number, reason)
        )

    def _answer_error(self, error: DecodeError, reason: str) -> None:
        """Answer what could not be read: with the request's own response, or generic_nack
        (REFERENCE.md §12.5); a response is never answered, only reported."""
        sequence = error.sequence_number or 0
        command_id = error.command_id
        if command_id is not None and command_id & 0x80000000:
            self._events.append(
                BadResponseDropped(error.command_status, command_id, sequence, reason))
            return
        resp_cls = None
        if command_id is not None and error.command_status not in _HEADER_STATUSES:
            resp_cls = response_class(command_id)
        answer: Pdu
        if resp_cls is None:
            answer = GenericNack(sequence_number=sequence, command_status=error.command_status)
        else:
            answer = resp_cls(sequence_number=sequence, command_status=error.command_status)
        self._write(answer)
        self._events.append(PeerErrorAnswered(error.command_status, command_id, sequence, reason))
        if self.role is _SMSC and command_id in BIND_REQUESTS and self.state is _OPEN:
            self._close("bind refused")  # as every other bind refusal: answered, then closed

    def _auto_answer(self, request: Pdu, response: Pdu) -> None:
        del self._peer_open[request.sequence_number]
        self._write(response)
        self._events.append(RequestAnswered(request, response))

    def _unbind_received(self, message: Pdu) -> None:
        was_bound = self.bound
        self._enter(BindState.UNBINDING)
        if was_bound:
            self._events.append(Unbound())
        del self._peer_open[message.sequence_number]
        response = UnbindResp(sequence_number=message.sequence_number)
        if self._peer_open:
            # finish the requests in progress first (REFERENCE.md §12.6)
            self._pending_unbind_resp = response
            return
        self._write(response)
        self._events.append(RequestAnswered(message, response))
        self._close("unbind received")

    # -- output --------------------------------------------------------------------------
    # Every way to send is `_send_run` with its own checks in front: one place numbers our
    # requests, counts the window, checks that an answer answers an open request, lets a
    # waiting unbind finish and writes the octets. A single ordinary request or usual answer
    # (the commonest sends there are) takes `_send_request` or `_send_answer` instead:
    # `_send_run` of one without the loop and the checks only other commands need, held equal
    # to it by tests/session/test_send_properties.py.

    def send(self, message: Pdu, now: float) -> Pdu:
        """Queue a request or a response; returns it, its sequence number set.

        A request sent with sequence_number 0 gets the next free number, written into the
        message itself (copying it would cost more than the rest of the send).

        Raises:
            LocalProtocolError: the message is illegal in this state, answers no open request,
                or the window is full.
        """
        command_id = message.command_id
        if command_id & 0x80000000:
            if command_id in _USUAL_ANSWERS:
                self._send_answer(command_id, message.sequence_number, message, _ENCODE_EACH)
            else:
                self._send_run(command_id, ((message.sequence_number, message),), now,
                               _ENCODE_EACH)
        elif not (self._send_request(command_id, message, now, _ENCODE_EACH)
                  if command_id in _ORDINARY
                  else self._send_run(command_id, (message,), now, _ENCODE_EACH)):
            raise LocalProtocolError("window full")
        return message

    def send_prebuilt(self, message: Prebuilt, now: float) -> Prebuilt:
        """`send` for one request already prebuilt (`send_prebuilt_run` of one).

        Raises:
            LocalProtocolError: as `send`.
        """
        command_id = message.command_id
        if command_id not in _ORDINARY:  # not windowed the usual way: the general path
            self.send(message, now)
        elif not self._send_request(command_id, message, now, _WIRE_FORM):
            raise LocalProtocolError("window full")
        return message

    def send_prebuilt_run(self, messages: Sequence[Prebuilt], now: float) -> int:
        """`send` for requests already prebuilt, several of one command at once (a round
        of receipts for one link: once per message). Sends them in order while the window has
        room and the command stays the first's; returns how many went (those after are left
        as they were, to send later). A first message that is no ordinary windowed request
        goes through `send`, alone.

        Raises:
            LocalProtocolError: the first message cannot be sent, for a reason other than a
                full window: as `send` (nothing is sent).
        """
        if not messages:
            return self._send_run(0, messages, now, _WIRE_FORM)  # 0, or the closed session's error
        command_id = messages[0].command_id
        if command_id not in _ORDINARY:
            self.send(messages[0], now)
            return 1
        return self._send_run(command_id, messages, now, _WIRE_FORM)

    def send_response(self, message: Pdu) -> Pdu:
        """`send` for a response: it needs no time (half of all sends, one per submit).

        Raises:
            LocalProtocolError: the session is closed, or the message answers no open request.
        """
        command_id = message.command_id
        if command_id in _USUAL_ANSWERS:
            self._send_answer(command_id, message.sequence_number, message, _ENCODE_EACH)
        elif command_id & 0x80000000:
            self._send_run(command_id, ((message.sequence_number, message),), 0.0, _ENCODE_EACH)
        else:
            raise LocalProtocolError(f"{CommandId(command_id).name} answers no open request")
        return message

    def send_prebuilt_answer(self, command_id: int, sequence: int, body: bytes) -> None:
        """Queue an ordinary request's usual answer straight as octets: `command_id` (a
        response), status 0, `body` already prebuilt. What `send_response` does for that
        answer, without a PDU to build and encode (`send_prebuilt_answers` of one).

        Raises:
            LocalProtocolError: the session is closed, or this answers no open request.
        """
        if command_id not in _USUAL_ANSWERS:
            raise LocalProtocolError(f"{command_id:#010x} is no usual answer")
        self._send_answer(command_id, sequence, body, _WIRE_FORM)

    def send_prebuilt_answers(self, command_id: int, answers: Sequence[tuple[int, bytes]]
                            ) -> None:
        """`send_prebuilt_answer` for several answers of one command, (sequence, body) each, in
        order (a commit's submits on one link: once per submit, the commonest send there is);
        binds, unbinds and enquire_links are answered through `send_response`.

        Raises:
            LocalProtocolError: the session is closed, or an answer answers no open request
                (those before it are sent).
        """
        if command_id not in _USUAL_ANSWERS:
            raise LocalProtocolError(f"{command_id:#010x} is no usual answer")
        self._send_run(command_id, answers, 0.0, _WIRE_FORM)

    def _send_request(self, command_id: int, message: Pdu, now: float, encode_each: bool
                      ) -> bool:
        """`_send_run` of one ordinary request (`command_id` in _ORDINARY, the message's
        own): False, nothing sent, when the window is full.

        Raises:
            LocalProtocolError: as `_send_run`.
        """
        if self.state is _CLOSED:
            raise LocalProtocolError("session is closed")
        if command_id not in self._we_may_send:
            raise LocalProtocolError(
                f"{CommandId(command_id).name} may not be sent in {self.state.value}")
        if self._windowed >= self.limits.window:
            return False
        outstanding = self._outstanding
        sequence = message.sequence_number
        if sequence == 0:  # numbered in place, as `_send_run` does
            sequence = self._next_sequence
            if sequence < MAX_SEQUENCE and sequence not in outstanding:
                self._next_sequence = sequence + 1
            else:
                sequence = self._take_sequence()
            message.sequence_number = sequence
        elif sequence in outstanding:
            raise LocalProtocolError(f"sequence {sequence} is already awaiting a response")
        out = self._out
        if encode_each:
            out += encode(message)
        else:
            body = message.body  # type: ignore[attr-defined]
            out += _pack_header(16 + len(body), command_id, 0, sequence)
            out += body
        outstanding[sequence] = (message, now + self.limits.response_timer)
        self._windowed += 1
        self._last_activity = now
        return True

    def _send_answer(self, command_id: int, sequence: int, answer: Any, encode_each: bool
                     ) -> None:
        """`_send_run` of one usual answer (`command_id` in _USUAL_ANSWERS): `answer` the
        PDU to encode, or its body prebuilt.

        Raises:
            LocalProtocolError: as `_send_run`.
        """
        if self.state is _CLOSED:
            raise LocalProtocolError("session is closed")
        peer_open = self._peer_open
        if peer_open.get(sequence) != command_id & 0x7FFFFFFF:
            self._finish_waiting_unbind()  # (as the run's `finally`)
            raise LocalProtocolError(
                f"{CommandId(command_id).name} seq {sequence} answers no open request")
        del peer_open[sequence]
        out = self._out
        if encode_each:
            out += encode(answer)
        else:
            out += _pack_header(16 + len(answer), command_id, 0, sequence)
            out += answer
        if self._pending_unbind_resp is not None:
            self._finish_waiting_unbind()

    def _finish_waiting_unbind(self) -> None:
        """Send the unbind_resp that waits for our answers once none is left open."""
        if self._pending_unbind_resp is not None and not self._peer_open:
            response, self._pending_unbind_resp = self._pending_unbind_resp, None
            self._write(response)
            self._close("unbind received")

    def _send_run(self, command_id: int, items: Sequence[Any], now: float, encode_each: bool
                  ) -> int:
        """Send `items`, all of `command_id`, in order; returns how many went.

        Requests are PDUs, answers (sequence, body) pairs. With `encode_each` every PDU (each
        request, each answer's body) is encoded; otherwise they are prebuilt, written after
        a header with status 0 (`Prebuilt` requests, bodies as octets).

        Answers must each answer an open request of the peer's (a generic_nack may answer
        none); an accepting bind_*_resp binds, and the answer to the last open request lets a
        waiting unbind finish. Requests are numbered when their sequence_number is 0, kept
        until answered (by `now` + response_timer) and counted in the window; the run stops
        where the window is full, where the command changes, or at a number still awaiting
        its response (nothing is sent when that is the first).

        Raises:
            LocalProtocolError: the session is closed, a request is illegal in this state or
                its number awaits a response, or an answer answers no open request (those
                before it are sent).
        """
        if self.state is _CLOSED:
            raise LocalProtocolError("session is closed")
        out = self._out
        if command_id & 0x80000000:
            request_id = command_id & 0x7FFFFFFF
            peer_open = self._peer_open
            try:
                for sequence, body in items:
                    if peer_open.get(sequence) != request_id:
                        if command_id != _GENERIC_NACK:
                            raise LocalProtocolError(f"{CommandId(command_id).name} seq "
                                                     f"{sequence} answers no open request")
                        peer_open.pop(sequence, None)  # (what is open under its number, or none)
                    else:
                        del peer_open[sequence]
                    if encode_each:
                        out += encode(body)
                    else:
                        out += _pack_header(16 + len(body), command_id, 0, sequence)
                        out += body
            finally:  # (after an answer refused too: those before it went)
                self._finish_waiting_unbind()
            if request_id in BIND_REQUESTS and self.role is _SMSC and body.command_status == _ROK:
                bind_type = BIND_TYPE_OF[request_id]
                self._enter(bind_type.bound_state)
                self.bind_type = bind_type
                self.system_id = self._bind_request_system_id
                self._events.append(Bound(bind_type, self.system_id))
            return len(items)
        if command_id not in self._we_may_send:
            if not items:  # (an empty run names no command: 0)
                return 0
            raise LocalProtocolError(
                f"{CommandId(command_id).name} may not be sent in {self.state.value}")
        outstanding = kept = self._outstanding
        windowed = True
        if command_id not in _ORDINARY:  # enquire_link, unbind, outbind, alert_notification, binds
            windowed = command_id not in _UNWINDOWED and command_id not in _NO_RESPONSE
            if command_id in _NO_RESPONSE:
                kept = {}  # (no response awaited: nothing kept)
        room = self.limits.window - self._windowed if windowed else len(items)
        deadline = now + self.limits.response_timer
        sent = 0
        for message in items:
            if sent >= room or message.command_id != command_id:
                break
            sequence = message.sequence_number
            if sequence == 0:  # numbered in place: the message is ours to send from here on
                sequence = self._next_sequence
                if sequence < MAX_SEQUENCE and sequence not in outstanding:
                    self._next_sequence = sequence + 1  # (_take_sequence's usual case, inlined)
                else:
                    sequence = self._take_sequence()
                message.sequence_number = sequence
            elif sequence in outstanding:
                if sent:
                    break
                raise LocalProtocolError(f"sequence {sequence} is already awaiting a response")
            if encode_each:
                out += encode(message)
            else:
                body = message.body
                out += _pack_header(16 + len(body), command_id, 0, sequence)
                out += body
            kept[sequence] = (message, deadline)
            sent += 1
        if sent:
            if windowed:
                self._windowed += sent
            if command_id != _ENQUIRE_LINK:
                self._last_activity = now  # enquire_link proves the link, not a transaction
            if command_id == _UNBIND:
                was_bound = self.bound
                self._enter(BindState.UNBINDING)
                if was_bound:
                    self._events.append(Unbound())
        return sent

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        if not self._out:
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def _write(self, message: Pdu) -> None:
        self._out += encode(message)

    def _enter(self, state: BindState) -> None:
        self.state = state
        self.closed = state is _CLOSED
        self.bound = state.is_bound
        if self.bound:
            self._frames.max_command_length = self.limits.max_command_length
        self._peer_may_send = ALLOWED_IN[(self.role.peer, state, self.version)]
        # what we send is narrowed to 3.4 at most: a receipt dialect's data_sm to a 3.3
        # receiver stays the configuration's choice (docs/smpp50.md)
        self._we_may_send = ALLOWED_IN[(self.role, state, max(self.version, _V34))]

    def _take_sequence(self) -> int:
        sequence = self._next_sequence
        while sequence in self._outstanding:
            sequence = sequence % MAX_SEQUENCE + 1
        self._next_sequence = sequence % MAX_SEQUENCE + 1
        return sequence

    # -- timers --------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The monotonic time at which `handle_timer` must next be called, or None."""
        if self.state is _CLOSED:
            return None
        limits = self.limits
        deadlines: list[float] = []
        if self._outstanding:
            deadlines.append(next(iter(self._outstanding.values()))[1])
        if self.state is _OPEN and self.role is _SMSC and limits.session_init_timer:
            deadlines.append(self._created + limits.session_init_timer)
        if self.bound:
            if limits.enquire_link_timer and self._enquire_sequence is None:
                deadlines.append(self._last_received + limits.enquire_link_timer)
            if limits.inactivity_timer:
                deadlines.append(self._last_activity + limits.inactivity_timer)
        if self._partial_since is not None and limits.pdu_read_timer:
            deadlines.append(self._partial_since + limits.pdu_read_timer)
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        """Act on every deadline that has passed by `now`."""
        if self.state is _CLOSED:
            return
        limits = self.limits
        if (
            self._partial_since is not None
            and limits.pdu_read_timer
            and now >= self._partial_since + limits.pdu_read_timer
        ):
            self._answer_error(
                DecodeError(CommandStatus.ESME_RINVCMDLEN, "partial PDU never completed"),
                "pdu read timeout",
            )
            self._close("pdu read timeout")
            return
        if (
            self.state is _OPEN
            and self.role is _SMSC
            and limits.session_init_timer
            and now >= self._created + limits.session_init_timer
        ):
            self._close("no bind within session_init_timer")
            return
        while self._outstanding:
            sequence, (request, deadline) = next(iter(self._outstanding.items()))
            if deadline > now:
                break
            del self._outstanding[sequence]
            if request.command_id == _ENQUIRE_LINK:
                self._close("enquire_link unanswered")
                return
            if request.command_id == _UNBIND:
                self._close("unbind unanswered")
                return
            self._windowed -= 1
            self._events.append(ResponseTimedOut(request))
        if not self.bound:
            return
        if limits.inactivity_timer and now >= self._last_activity + limits.inactivity_timer:
            self.send(Unbind(), now)
            return
        if (
            limits.enquire_link_timer
            and self._enquire_sequence is None
            and now >= self._last_received + limits.enquire_link_timer
        ):
            self._enquire_sequence = self.send(EnquireLink(), now).sequence_number

    def close(self, reason: str = "closed locally") -> None:
        """Mark the session finished (the shell closed the socket)."""
        if self.state is not _CLOSED:
            self._close(reason)

    def _close(self, reason: str) -> None:
        unanswered = tuple(
            request
            for request, _ in self._outstanding.values()
            if request.command_id not in _UNWINDOWED
        )
        self._outstanding.clear()
        self._windowed = 0
        was_bound = self.bound
        self._enter(_CLOSED)
        if was_bound:
            self._events.append(Unbound())
        self._events.append(ConnectionClosed(reason, unanswered))


def _negotiated(interface_version: int, sc_interface_version: object) -> SmppVersion:
    """An ESME's version once bound: its own, lowered to the SMSC's when it names one."""
    version = SmppVersion.of(interface_version)
    if isinstance(sc_interface_version, int):
        return min(version, SmppVersion.of(sc_interface_version))
    return version
