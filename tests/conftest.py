"""Shared fixtures: configs for tests, and a running SMSC on 127.0.0.1 with a free port."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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
