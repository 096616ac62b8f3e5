"""The client at SMPP 5.0 against the real SMSC over TCP on 127.0.0.1: broadcasts, and
congestion_state on the answers; at 3.4 the same commands are unknown to the session."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio

from esme_client import MessageState, SmppStatusError, connect
from smsc.config import AccountConfig, NetworkConfig
from smsc.pdu import SubmitSm
from smsc.pdu.constants import CommandStatus, SmppVersion, Tag
from smsc.session.session import LocalProtocolError

S = CommandStatus


@pytest.fixture
async def smsc(make_config: Any, start_smsc: Any) -> Any:
    config = make_config(
        accounts=(AccountConfig(max_pending=10),),
        networks=(NetworkConfig(name="uk", broadcast_areas=("London", "Leeds"),
                                broadcast_success=0.75),),
    )
    config = dataclasses.replace(config, server=dataclasses.replace(config.server,
                                                                    host="127.0.0.1"))
    running = await start_smsc(config)
    yield running
    running.shutdown.set()


async def test_a_5_0_client_broadcasts_queries_and_cancels(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, interface_version=0x50) as client:
            assert client.connection is not None
            assert client.connection.session.version is SmppVersion.V50
            sent = await client.broadcast("Storm warning", ["London", "Leeds", "Atlantis"],
                                          source_addr="447700900123", rep_num=0,
                                          interval=1800)
            assert sent.failed_areas == {"Atlantis": S.ESME_RINVBCASTALIAS_NAME}
            found = await client.query_broadcast(sent.message_id, "447700900123")
            assert found.state is MessageState.ENROUTE
            assert found.area_success == {"London": 75, "Leeds": 75, "Atlantis": 0}
            assert found.end_time == ""
            await client.cancel_broadcast(sent.message_id, source_addr="447700900123")
            found = await client.query_broadcast(sent.message_id, "447700900123")
            assert found.state is MessageState.DELETED and len(found.end_time) == 16
            with pytest.raises(SmppStatusError) as refused:
                await client.broadcast("x", ["Atlantis"], source_addr="447700900123")
            assert refused.value.status == S.ESME_RBCASTFAIL
            resp = await client.request(SubmitSm(source_addr="4915100000001",
                                                 destination_addr="4915100000002",
                                                 short_message=b"hi"))
            assert 0 <= resp.tlvs[Tag.congestion_state] <= 100


async def test_a_3_4_client_cannot_broadcast(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port) as client:
            with pytest.raises(LocalProtocolError):  # our own session knows no broadcast
                await client.broadcast("x", ["London"], source_addr="447700900123")
            assert client.bound
