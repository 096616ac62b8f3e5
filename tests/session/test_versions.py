"""The session's SMPP version (REFERENCE-5.0.md §1): taken from the bind, it decides which
commands either side may use."""

from __future__ import annotations

import pytest

from smsc.pdu import (
    BindTransceiver,
    DataSm,
    GenericNack,
    decode,
    encode,
    make_response,
)
from smsc.pdu.constants import CommandStatus, SmppVersion, Tag
from smsc.session import (
    BindRequested,
    Bound,
    PeerErrorAnswered,
    RequestReceived,
    Role,
    SessionLimits,
    SmppSession,
)

LIMITS = SessionLimits(enquire_link_timer=0, session_init_timer=0)


def drain(session: SmppSession) -> list[object]:
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def bound_pair(interface_version: int, sc_interface_version: int | None = None
               ) -> tuple[SmppSession, SmppSession]:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=0.0)
    esme = SmppSession(Role.ESME, limits=LIMITS, now=0.0)
    esme.send(BindTransceiver(system_id="acme", password="pw",
                              interface_version=interface_version), 0.0)
    smsc.receive_data(esme.data_to_send(), 0.0)
    (requested,) = drain(smsc)
    assert isinstance(requested, BindRequested)
    tlvs = {} if sc_interface_version is None else {Tag.sc_interface_version:
                                                    sc_interface_version}
    smsc.send(make_response(requested.message, system_id="SMSC", tlvs=tlvs), 0.0)
    assert isinstance(drain(smsc)[-1], Bound)
    esme.receive_data(smsc.data_to_send(), 0.0)
    assert isinstance(drain(esme)[-1], Bound)
    return smsc, esme


@pytest.mark.parametrize(("interface_version", "version"), [
    (0x00, SmppVersion.V33), (0x33, SmppVersion.V33), (0x34, SmppVersion.V34),
    (0x4F, SmppVersion.V34), (0x50, SmppVersion.V50), (0x51, SmppVersion.V50),
])
def test_the_smsc_speaks_the_version_the_bind_names(interface_version: int,
                                                    version: SmppVersion) -> None:
    smsc, _ = bound_pair(interface_version)
    assert smsc.version is version
    assert smsc.peer_speaks_34 is (version >= SmppVersion.V34)


def test_the_esme_speaks_the_lower_of_its_own_and_the_smscs_version() -> None:
    assert bound_pair(0x50, 0x50)[1].version is SmppVersion.V50
    assert bound_pair(0x50, 0x34)[1].version is SmppVersion.V34
    assert bound_pair(0x34, 0x50)[1].version is SmppVersion.V34
    assert bound_pair(0x50)[1].version is SmppVersion.V50  # no TLV: its own


@pytest.mark.parametrize("interface_version", [0x34, 0x50])
def test_data_sm_is_an_ordinary_request_from_3_4_on(interface_version: int) -> None:
    smsc, esme = bound_pair(interface_version)
    esme.send(DataSm(destination_addr="4915100000001"), 0.0)
    smsc.receive_data(esme.data_to_send(), 0.0)
    (event,) = drain(smsc)
    assert isinstance(event, RequestReceived)


def test_data_sm_from_a_3_3_peer_is_an_unknown_command() -> None:
    """SMPP 3.3 has no data_sm: answered as any command_id unknown to the version."""
    smsc, _ = bound_pair(0x33)
    request = DataSm(sequence_number=7, destination_addr="4915100000001")
    smsc.receive_data(encode(request), 0.0)
    (event,) = drain(smsc)
    assert isinstance(event, PeerErrorAnswered)
    assert event.command_status == CommandStatus.ESME_RINVCMDID
    answer = decode(smsc.data_to_send())
    assert isinstance(answer, GenericNack)
    assert (answer.sequence_number, answer.command_status) == (7, CommandStatus.ESME_RINVCMDID)
    assert not smsc.closed
