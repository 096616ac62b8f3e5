"""pytest plugin (entry point `smsc`): a running SMSC for the tests that ask for one.

Fixtures:
    smsc_config         the Config the `smsc` fixture's server starts with: free loopback
                        ports, in-memory store. Override it in a conftest.py or test module.
    smsc                a ThreadedSmsc (see smsc.embed) of its own for each test:
                        `smsc.smpp_port`, `smsc.http_url`, `smsc.inject_mo(...)`,
                        `smsc.wait_for_message(...)`, `smsc.wait_for_receipt(message_id)`. It
                        runs in a thread, so it serves blocking clients (smpplib) and async
                        test suites alike. `smsc.advance(seconds)` moves its simulated clock
                        forward (retries, expiry, schedules happen before it returns) and
                        `smsc.time_scale` is simulation.time_scale: set it with
                        `embedded_config(time_scale=60)` in an overriding `smsc_config`.
    smsc_shared_config  the Config of the one server `smsc_shared` starts (session-scoped:
                        override it with a session-scoped fixture in conftest.py).
    smsc_shared         one SMSC for the whole session, its simulated world `reset()` before
                        each test that uses it (handsets, outages, fault mixes, inboxes and
                        fates as at start). For a system under test
                        that is set up once per session and stays connected to one address.
                        Stored messages and sessions stay: give each test its own numbers.
                        The clock is not turned back either: what one test advanced, the
                        next finds.
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


@pytest.fixture(scope="session")
def smsc_shared_config() -> Config:
    """The configuration of the session's shared SMSC (override, session-scoped, to adjust)."""
    return embedded_config()


@pytest.fixture(scope="session")
def smsc_shared_server(smsc_shared_config: Config) -> Iterator[ThreadedSmsc]:
    """The session's shared SMSC as it is; tests take it through `smsc_shared`."""
    with smsc_in_thread(smsc_shared_config) as server:
        yield server


@pytest.fixture
def smsc_shared(smsc_shared_server: ThreadedSmsc) -> ThreadedSmsc:
    """The session's one SMSC, its simulated world reset for this test."""
    smsc_shared_server.reset()
    return smsc_shared_server
