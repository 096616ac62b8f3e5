"""Shared fixtures: configs for tests, a running SMSC on 127.0.0.1 with a free port, and a
throwaway PostgreSQL server (one per session, a fresh database per module)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from smsc.app import RunningSmsc, run
from smsc.config import (
    AccountConfig,
    Config,
    ControlConfig,
    ServerConfig,
    StoreConfig,
)
from tests.postgresql import ThrowawayPostgres, missing_reason

ConfigFactory = Callable[..., Config]


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """A loopback config on free ports; keyword sections replace the defaults."""

    def factory(**sections: Any) -> Config:
        config = Config(
            server=ServerConfig(port=0, enquire_link_timer=0),
            store=StoreConfig(kind="memory", data_dir=str(tmp_path / "var")),
            accounts=(AccountConfig(), AccountConfig(system_id="other", password="secret")),
            control=ControlConfig(enabled=False, port=0),
        )
        return dataclasses.replace(config, **sections)

    return factory


@pytest.fixture
def start_smsc(nursery: trio.Nursery) -> Callable[[Config], Any]:
    async def start(config: Config) -> RunningSmsc:
        running: RunningSmsc = await nursery.start(run, config)
        return running

    return start


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server of the session's own, on a Unix socket in a temporary directory.
    Without PostgreSQL (or psycopg) the tests that need it skip, and say why; under CI they
    fail, since CI installs both."""
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def postgresql_database(postgresql_server: ThrowawayPostgres,
                        request: pytest.FixtureRequest) -> str:
    """The dsn of a database of the test module's own."""
    name = re.sub(r"\W", "_", request.module.__name__).lower()[-60:]
    return postgresql_server.create_database(name)


@pytest.fixture
def postgresql_dsn(postgresql_database: str) -> str:
    """The module's database, emptied of what an earlier test left in it."""
    import psycopg

    with psycopg.connect(postgresql_database, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return postgresql_database
