"""The sans-IO SMPP session: bind states, legality table, events and the state machine."""

from smsc.session.events import (
    BadResponseDropped,
    BindRequested,
    Bound,
    ConnectionClosed,
    Event,
    PeerErrorAnswered,
    RequestAnswered,
    RequestReceived,
    ResponseReceived,
    ResponseTimedOut,
    Unbound,
    UnmatchedResponse,
)
from smsc.session.session import LocalProtocolError, SessionLimits, SmppSession
from smsc.session.states import ALLOWED, BindState, BindType, Role, is_allowed

__all__ = [
    "ALLOWED",
    "BadResponseDropped",
    "BindRequested",
    "BindState",
    "BindType",
    "Bound",
    "ConnectionClosed",
    "Event",
    "LocalProtocolError",
    "PeerErrorAnswered",
    "RequestAnswered",
    "RequestReceived",
    "ResponseReceived",
    "ResponseTimedOut",
    "Role",
    "SessionLimits",
    "SmppSession",
    "Unbound",
    "UnmatchedResponse",
    "is_allowed",
]
