"""The legality table against SMPP 3.4 Table 2-1 as restated in REFERENCE.md §3.3."""

from __future__ import annotations

import pytest

from smsc.pdu.constants import CommandId as C
from smsc.session import BindState, Role, is_allowed

E, S = Role.ESME, Role.SMSC
OPEN, TX, RX, TRX = BindState.OPEN, BindState.BOUND_TX, BindState.BOUND_RX, BindState.BOUND_TRX

# (command, sender, states where allowed) written out row by row from REFERENCE.md §3.3
EXPECTED = [
    (C.bind_transmitter, E, {OPEN}),
    (C.bind_receiver, E, {OPEN}),
    (C.bind_transceiver, E, {OPEN}),
    (C.bind_transmitter_resp, S, {OPEN}),
    (C.outbind, S, {OPEN}),
    (C.unbind, E, {TX, RX, TRX}),
    (C.unbind, S, {TX, RX, TRX}),
    (C.unbind_resp, E, {TX, RX, TRX}),
    (C.submit_sm, E, {TX, TRX}),
    (C.submit_multi, E, {TX, TRX}),
    (C.query_sm, E, {TX, TRX}),
    (C.cancel_sm, E, {TX, TRX}),
    (C.replace_sm, E, {TX, TRX}),
    (C.submit_sm_resp, S, {TX, TRX}),
    (C.deliver_sm, S, {RX, TRX}),
    (C.deliver_sm_resp, E, {RX, TRX}),
    (C.data_sm, E, {TX, TRX}),
    (C.data_sm, S, {RX, TRX}),
    (C.enquire_link, E, {OPEN, TX, RX, TRX}),
    (C.enquire_link, S, {OPEN, TX, RX, TRX}),
    (C.alert_notification, S, {RX, TRX}),
    (C.generic_nack, E, {OPEN, TX, RX, TRX}),
    (C.submit_sm, S, set()),
    (C.deliver_sm, E, set()),
    (C.bind_transmitter, S, set()),
    (C.outbind, E, set()),
    (C.alert_notification, E, set()),
]


@pytest.mark.parametrize(("command", "sender", "states"), EXPECTED)
def test_legality_matches_table_2_1(command: C, sender: Role, states: set[BindState]) -> None:
    for state in BindState:
        assert is_allowed(sender, state, command) == (state in states), (command, sender, state)
