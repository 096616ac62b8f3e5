"""Every shipped config runs: an SMSC started from it binds, accepts and delivers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from smsc.app import run
from smsc.config import load_config
from smsc.pdu import DataSm, DeliverSm, SubmitSm
from smsc.pdu.constants import CommandStatus, MessageState, Tag

from ..esme import Esme
from ..postgresql import on_store

CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
SHIPPED = [CONFIGS / "default.toml", *sorted((CONFIGS / "examples").glob("*.toml"))]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
async def test_shipped_config_runs(
    path: Path, nursery: trio.Nursery, tmp_path: Path, autojump_clock: Any,
    request: pytest.FixtureRequest,
) -> None:
    config = load_config(path)
    config = on_store(config, config.store.kind, request)  # (a cluster's on the test database)
    config = dataclasses.replace(
        config,
        server=dataclasses.replace(config.server, port=0, enquire_link_timer=0),
        store=dataclasses.replace(config.store, data_dir=str(tmp_path)),
        control=dataclasses.replace(config.control, enabled=False),
    )
    running = await nursery.start(run, config)
    account = config.accounts[0]
    client, server = trio.testing.memory_stream_pair()
    running.attach(server)
    esme = Esme(client)
    mode = "transceiver" if "transceiver" in account.bind_modes else account.bind_modes[0]
    bound = await esme.bind(mode, system_id=account.system_id, password=account.password)
    assert bound.command_status == CommandStatus.ESME_ROK
    # the magic number delivers whatever the network's mix; submit faults may strike first
    for _ in range(10):
        resp = await esme.request(SubmitSm(source_addr="4242", destination_addr="447700900001",
                                           short_message=b"hello", registered_delivery=1))
        if resp.command_status == CommandStatus.ESME_ROK:
            break
    assert resp.command_status == CommandStatus.ESME_ROK
    if mode == "transceiver":
        while True:  # scheduled MO traffic may come first
            receipt = await esme.next_request()
            assert isinstance(receipt, DeliverSm | DataSm)  # dialects may send data_sm
            if receipt.tlvs.get(Tag.receipted_message_id) or receipt.esm_class & 0x04:
                break
        state = receipt.tlvs.get(Tag.message_state)
        if state is None:
            assert b"DELIVRD" in receipt.short_message  # type: ignore[union-attr]
        else:
            assert state == MessageState.DELIVERED
    running.shutdown.set()
