"""pytest plugin (entry point `smsc`): a running SMSC for each test that asks for one.

Fixtures:
    smsc_config  the Config the server starts with: free loopback ports, in-memory store.
                 Override it in a conftest.py or test module to change accounts, networks...
    smsc         a ThreadedSmsc (see smsc.embed): `smsc.smpp_port`, `smsc.http_url`,
                 `smsc.inject_mo(...)`, `smsc.wait_for_message(...)`,
                 `smsc.wait_for_receipt(message_id)`. It runs in a thread, so it serves
                 blocking clients (smpplib) and async test suites alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smsc.config import Config
from smsc.embed import ThreadedSmsc, embedded_config, smsc_in_thread


@pytest.fixture
def smsc_config() -> Config:
    """The configuration of the `smsc` fixture's server (override to adjust)."""
    return embedded_config()


@pytest.fixture
def smsc(smsc_config: Config) -> Iterator[ThreadedSmsc]:
    """An SMSC on 127.0.0.1 with free ports, stopped after the test."""
    with smsc_in_thread(smsc_config) as server:
        yield server
