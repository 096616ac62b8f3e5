"""What an SmppSession reports to the shell that drives it (event values, never changed).

The two made for every message (RequestReceived, ResponseReceived) are not frozen: a frozen
dataclass sets each field through object.__setattr__, which made them four times as costly to
build. Treat them as values all the same."""

from __future__ import annotations

from dataclasses import dataclass

from smsc.constructors import constructor
from smsc.pdu import Pdu
from smsc.session.states import BindType


@dataclass(frozen=True, slots=True)
class BindRequested:
    """SMSC role: a bind the application must accept or reject with a bind_*_resp."""

    message: Pdu


@dataclass(slots=True)
class RequestReceived:
    """Any other request the application must answer (or act on, for outbind/alert)."""

    message: Pdu


@dataclass(slots=True)
class ResponseReceived:
    """A response (or generic_nack) matched to our outstanding request by sequence number."""

    message: Pdu
    request: Pdu


make_request_received = constructor(RequestReceived)
make_response_received = constructor(ResponseReceived)
"""The two events of every message, built without type.__call__."""


@dataclass(frozen=True, slots=True)
class ResponseTimedOut:
    """An outstanding request of ours passed its response deadline."""

    request: Pdu


@dataclass(frozen=True, slots=True)
class Bound:
    bind_type: BindType
    system_id: str


@dataclass(frozen=True, slots=True)
class Unbound:
    """The session left the bound state (unbind sent or received)."""


@dataclass(frozen=True, slots=True)
class RequestAnswered:
    """The session answered a protocol-level request itself (enquire_link, unbind)."""

    request: Pdu
    response: Pdu


@dataclass(frozen=True, slots=True)
class PeerErrorAnswered:
    """The session answered a peer's protocol error itself (generic_nack or an error resp)."""

    command_status: int
    command_id: int | None
    sequence_number: int
    reason: str


@dataclass(frozen=True, slots=True)
class BadResponseDropped:
    """A response of the peer's that could not be read, dropped unanswered: a response is never
    answered (REFERENCE.md §12.5). A request of ours it was meant for waits for its response
    timer; if framing was lost with it, ConnectionClosed follows."""

    command_status: int
    """What was wrong with it, as the status a request would have been answered with."""
    command_id: int
    sequence_number: int
    reason: str


@dataclass(frozen=True, slots=True)
class UnmatchedResponse:
    """A response for which no request of ours was outstanding: logged and dropped (§12.5)."""

    message: Pdu


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is finished; `unanswered` are our requests that never got a response."""

    reason: str
    unanswered: tuple[Pdu, ...] = ()


Event = (
    BindRequested
    | RequestReceived
    | ResponseReceived
    | ResponseTimedOut
    | Bound
    | Unbound
    | RequestAnswered
    | PeerErrorAnswered
    | BadResponseDropped
    | UnmatchedResponse
    | ConnectionClosed
)
