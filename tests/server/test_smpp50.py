"""SMPP 5.0 beside 3.3 and 3.4 on the whole SMSC (REFERENCE-5.0.md): the bind decides the
version, and a 3.x session never sees what 5.0 added."""

from __future__ import annotations

from typing import Any

import pytest

from smsc.pdu import DataSm, GenericNack
from smsc.pdu.constants import CommandStatus

from ..esme import connect

S = CommandStatus


@pytest.mark.parametrize(("interface_version", "answered"),
                         [(0x50, 0x50), (0x60, 0x50), (0x34, 0x34), (0x40, 0x34), (0x33, None)])
async def test_the_bind_response_names_the_version_the_session_speaks(
    make_config: Any, start_smsc: Any, autojump_clock: Any, interface_version: int,
    answered: int | None
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    resp = await esme.bind(interface_version=interface_version)
    assert resp.command_status == S.ESME_ROK
    assert resp.sc_interface_version == answered  # type: ignore[attr-defined]


async def test_data_sm_from_a_3_3_bind_is_an_unknown_command(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind(interface_version=0x33)
    resp = await esme.request(DataSm(source_addr="4915100000001",
                                     destination_addr="4915100000002"))
    assert isinstance(resp, GenericNack)
    assert resp.command_status == S.ESME_RINVCMDID
