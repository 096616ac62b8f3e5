"""A real SMSC on 127.0.0.1 (free port) for the client's tests."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from smsc.config import AccountConfig


@pytest.fixture
async def smsc(make_config: Any, start_smsc: Any) -> Any:
    config = make_config(accounts=(
        AccountConfig(mo_addresses=("4242",), window=50),
        AccountConfig(system_id="other", password="secret", bind_modes=("transmitter",)),
    ))
    config = dataclasses.replace(config, server=dataclasses.replace(config.server,
                                                                    host="127.0.0.1"))
    running = await start_smsc(config)
    yield running
    running.shutdown.set()
