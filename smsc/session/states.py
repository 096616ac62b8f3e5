"""Bind states and THE legality table: who may send which PDU in which state (SPEC Table 2-1).

The table follows REFERENCE.md §3.3 with its notes: replace_sm is allowed in BOUND_TRX, data_sm
follows SMPP 5.0 (ESME→SMSC in TX/TRX, SMSC→ESME in RX/TRX), and enquire_link / generic_nack are
allowed in OPEN as well. The broadcast PDUs follow SMPP 5.0 Table 2-1 (ESME→SMSC in TX/TRX).

`ALLOWED_IN` narrows the table to a session's version: a 3.3 session has no data_sm, a 3.x
session no broadcast PDUs (REFERENCE-5.0.md §1).
"""

from __future__ import annotations

from enum import Enum

from smsc.pdu.constants import V33_ABSENT_COMMANDS, V50_COMMANDS, CommandId, SmppVersion


class Role(Enum):
    """Which end of the connection a session plays."""

    SMSC = "smsc"
    ESME = "esme"

    @property
    def peer(self) -> Role:
        return Role.ESME if self is Role.SMSC else Role.SMSC


class BindState(Enum):
    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    """unbind sent or received: only outstanding requests are finished, then the link closes."""
    CLOSED = "closed"

    @property
    def is_bound(self) -> bool:
        return self in (BindState.BOUND_TX, BindState.BOUND_RX, BindState.BOUND_TRX)


class BindType(Enum):
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"

    @property
    def bound_state(self) -> BindState:
        return _BOUND_STATE[self]

    @property
    def can_receive(self) -> bool:
        """Whether the SMSC may deliver (deliver_sm, data_sm) on a bind of this type."""
        return self is not BindType.TRANSMITTER

    @property
    def can_submit(self) -> bool:
        return self is not BindType.RECEIVER


_BOUND_STATE = {
    BindType.TRANSMITTER: BindState.BOUND_TX,
    BindType.RECEIVER: BindState.BOUND_RX,
    BindType.TRANSCEIVER: BindState.BOUND_TRX,
}

BIND_TYPE_OF: dict[int, BindType] = {
    CommandId.bind_transmitter: BindType.TRANSMITTER,
    CommandId.bind_transmitter_resp: BindType.TRANSMITTER,
    CommandId.bind_receiver: BindType.RECEIVER,
    CommandId.bind_receiver_resp: BindType.RECEIVER,
    CommandId.bind_transceiver: BindType.TRANSCEIVER,
    CommandId.bind_transceiver_resp: BindType.TRANSCEIVER,
}
BIND_REQUESTS = frozenset(
    {CommandId.bind_transmitter, CommandId.bind_receiver, CommandId.bind_transceiver}
)

E, S = Role.ESME, Role.SMSC
OPEN, TX, RX, TRX = BindState.OPEN, BindState.BOUND_TX, BindState.BOUND_RX, BindState.BOUND_TRX
BOUND = (TX, RX, TRX)
ANY = (OPEN, *BOUND)

# (commands, senders, states in which they may be sent). A response is legal wherever its
# request was: responses are listed explicitly so the table reads like SPEC Table 2-1.
LEGALITY: tuple[tuple[tuple[CommandId, ...], tuple[Role, ...], tuple[BindState, ...]], ...] = (
    (
        (CommandId.bind_transmitter, CommandId.bind_receiver, CommandId.bind_transceiver),
        (E,),
        (OPEN,),
    ),
    (
        (
            CommandId.bind_transmitter_resp,
            CommandId.bind_receiver_resp,
            CommandId.bind_transceiver_resp,
        ),
        (S,),
        (OPEN,),
    ),
    ((CommandId.outbind,), (S,), (OPEN,)),
    ((CommandId.unbind, CommandId.unbind_resp), (E, S), BOUND),
    (
        (CommandId.submit_sm, CommandId.submit_multi, CommandId.query_sm, CommandId.cancel_sm,
         CommandId.replace_sm),
        (E,),
        (TX, TRX),
    ),
    (
        (CommandId.submit_sm_resp, CommandId.submit_multi_resp, CommandId.query_sm_resp,
         CommandId.cancel_sm_resp, CommandId.replace_sm_resp),
        (S,),
        (TX, TRX),
    ),
    ((CommandId.deliver_sm, CommandId.alert_notification), (S,), (RX, TRX)),
    ((CommandId.deliver_sm_resp,), (E,), (RX, TRX)),
    ((CommandId.data_sm,), (E,), (TX, TRX)),
    ((CommandId.data_sm_resp,), (S,), (TX, TRX)),
    ((CommandId.data_sm,), (S,), (RX, TRX)),
    ((CommandId.data_sm_resp,), (E,), (RX, TRX)),
    (
        (CommandId.broadcast_sm, CommandId.query_broadcast_sm, CommandId.cancel_broadcast_sm),
        (E,),
        (TX, TRX),
    ),
    (
        (CommandId.broadcast_sm_resp, CommandId.query_broadcast_sm_resp,
         CommandId.cancel_broadcast_sm_resp),
        (S,),
        (TX, TRX),
    ),
    ((CommandId.enquire_link, CommandId.enquire_link_resp, CommandId.generic_nack), (E, S), ANY),
)


def _derive() -> dict[tuple[Role, BindState], frozenset[int]]:
    table: dict[tuple[Role, BindState], set[int]] = {
        (role, state): set() for role in Role for state in BindState
    }
    for commands, senders, states in LEGALITY:
        for sender in senders:
            for state in states:
                table[(sender, state)].update(int(c) for c in commands)
    return {key: frozenset(value) for key, value in table.items()}


ALLOWED: dict[tuple[Role, BindState], frozenset[int]] = _derive()
"""(sender, state) → command ids that sender may send in that state."""


NOT_IN_VERSION: dict[SmppVersion, frozenset[int]] = {
    SmppVersion.V33: frozenset(int(c) for c in V33_ABSENT_COMMANDS | V50_COMMANDS),
    SmppVersion.V34: frozenset(int(c) for c in V50_COMMANDS),
    SmppVersion.V50: frozenset(),
}
"""Per version, the commands it does not have: a peer sending one is answered as for an
unknown command_id (generic_nack ESME_RINVCMDID)."""

ALLOWED_IN: dict[tuple[Role, BindState, SmppVersion], frozenset[int]] = {
    (role, state, version): commands - NOT_IN_VERSION[version]
    for (role, state), commands in ALLOWED.items()
    for version in SmppVersion
}
"""(sender, state, version) → what `ALLOWED` lets that sender send, less what the version
lacks."""


def is_allowed(sender: Role, state: BindState, command_id: int) -> bool:
    return command_id in ALLOWED[(sender, state)]
