"""A message's simulated fate is stored with it: an SMSC restarted on the same SQLite data
directory while messages are retrying ends every message as a run without the restart does;
and a submit the store refuses (a failed write, max_pending) gives its copy number back, so
later copies of its message meet the fates they would have met without it. Real SMSCs on
127.0.0.1, real TCP clients, trio's autojump MockClock.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import trio

from esme_client import SmppStatusError, connect
from smsc.app import RunningSmsc, run
from smsc.config import (
    AccountConfig,
    Config,
    NetworkConfig,
    OutcomeMixConfig,
    SimulationConfig,
    StoreConfig,
)
from smsc.pdu import SubmitSm
from smsc.simulation.draws import fate_of, identity
from smsc.store import Message, MessageQuery
from smsc.store import sqlite_batch as sqlite_batch_module
from smsc.store.models import Direction
from smsc.store.rows import NO_OCTETS

from .test_store_faults import io_error, smsc_on_faulty_sqlite

Identity = tuple[str, str, bytes]
Endings = dict[Identity, list[tuple[str, str, int]]]
"""Per message of the traffic, how each of its copies ended (state, error code, attempts),
in the order the copies were sent."""

MIX = OutcomeMixConfig(delivered=50.0, absent=40.0, undeliverable=10.0)
"""Four attempts in ten find the handset absent: retried, each retry drawn anew."""
TRAFFIC = [(f"49151{n:08d}", text) for n in range(25)
           for text in (b"ping", b"ping", b"ping", b"hello %d" % n)]
"""100 submits: to each of 25 destinations three copies of one text and one other text."""


def configured(make_config: Any, data_dir: Path) -> Config:
    config: Config = make_config(
        networks=(NetworkConfig(outcomes=MIX),),
        store=StoreConfig(kind="sqlite", data_dir=str(data_dir), retry_schedule=(2.0, 5.0),
                          default_validity=3600.0),
        simulation=SimulationConfig(seed=5),
    )
    return config


async def submit_all(running: RunningSmsc, config: Config) -> list[str]:
    """Send the traffic over one connection, one submit after the other (so that the
    copies of one message are counted in the order sent); returns the submit statuses. (The
    response timeout is generous: the autojump clock runs on while SQLite's worker thread
    works.)"""
    account = config.accounts[0]
    statuses = []
    async with connect(port=running.smpp_port, system_id=account.system_id,
                       password=account.password, mode="transmitter",
                       enquire_link_interval=0, response_timeout=3600.0) as client:
        for destination, text in TRAFFIC:
            try:
                await client.request(SubmitSm(source_addr="4242",
                                              destination_addr=destination,
                                              short_message=text))
                statuses.append("ESME_ROK")
            except SmppStatusError as error:
                statuses.append(error.status_name)
    return statuses


async def stored(running: RunningSmsc) -> list[Message]:
    messages = await running.committer.read(running.store.find, MessageQuery(limit=10_000))
    return sorted((m for m in messages if m.fields.direction is Direction.MT),
                  key=lambda m: m.message_id)


async def wait_until_all_ended(running: RunningSmsc, config: Config) -> list[Message]:
    while True:
        messages = await stored(running)
        if all(m.is_final for m in messages):
            return messages
        with trio.move_on_after(max(config.store.retry_schedule)):
            await running.committer.wait_committed()


def endings(messages: list[Message]) -> Endings:
    ended: Endings = defaultdict(list)
    for message in messages:
        fields = message.fields
        ended[(fields.source_addr, fields.destination_addr, fields.payload)].append(
            (message.state.name, str(message.network_error_code), message.attempts))
    return dict(ended)


async def without_restart(config: Config) -> Endings:
    async with trio.open_nursery() as nursery:
        running: RunningSmsc = await nursery.start(run, config)
        assert set(await submit_all(running, config)) == {"ESME_ROK"}
        messages = await wait_until_all_ended(running, config)
        running.shutdown.set()
    return endings(messages)


async def with_restart(config: Config) -> tuple[Endings, list[Message]]:
    """The traffic sent, the SMSC stopped with messages still to be retried and started
    again on the same data directory; returns the endings and what was retrying."""
    async with trio.open_nursery() as nursery:
        running: RunningSmsc = await nursery.start(run, config)
        assert set(await submit_all(running, config)) == {"ESME_ROK"}
        await running.committer.wait_idle()
        retrying = [m for m in await stored(running) if not m.is_final]
        running.shutdown.set()
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        messages = await wait_until_all_ended(running, config)
        running.shutdown.set()
    return endings(messages), retrying


def later_copies(messages: list[Message]) -> list[Message]:
    """Those that are not the first copy of their message."""
    return [m for m in messages if int.from_bytes(m.fields.fate[8:], "little") > 0]


async def test_a_restart_with_messages_retrying_changes_no_fate(
    make_config: Any, tmp_path: Path, autojump_clock: Any
) -> None:
    with trio.fail_after(3600):  # virtual seconds
        straight = await without_restart(configured(make_config, tmp_path / "straight"))
        restarted, retrying = await with_restart(configured(make_config, tmp_path / "restart"))
    assert len(later_copies(retrying)) >= 3  # copies whose fate a restart used to lose
    assert all(m.attempts >= 1 for m in retrying)
    assert restarted == straight
    outcomes = [ending for copies in straight.values() for ending in copies]
    assert {"DELIVERED", "UNDELIVERABLE"} <= {ending[0] for ending in outcomes}
    assert any(ending[2] > 2 for ending in outcomes)  # retried across the restart


async def test_the_restart_comparison_catches_fates_that_are_not_stored(
    make_config: Any, tmp_path: Path, autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows written without their fates (as before the column): after the restart each
    message draws from its first copy's fate, and later copies end otherwise."""
    with trio.fail_after(3600):
        straight = await without_restart(configured(make_config, tmp_path / "straight"))
        writes = sqlite_batch_module.fields_of

        def without_fate(*args: Any) -> tuple[Any, ...]:
            return (*writes(*args)[:-1], NO_OCTETS)

        monkeypatch.setattr(sqlite_batch_module, "fields_of", without_fate)
        restarted, _ = await with_restart(configured(make_config, tmp_path / "restart"))
    assert restarted != straight


async def ping(client: Any, statuses: list[str]) -> None:
    """One copy more of the same message; its submit status added to `statuses`."""
    try:
        await client.request(SubmitSm(source_addr="4242", destination_addr="4915100000002",
                                      short_message=b"ping"))
        statuses.append("ESME_ROK")
    except SmppStatusError as error:
        statuses.append(error.status_name)


def copy_numbers(messages: list[Message], text: bytes) -> list[int]:
    return [int.from_bytes(m.fields.fate[8:], "little") for m in messages
            if m.fields.payload == text]


async def test_a_submit_the_store_could_not_write_gives_its_copy_back(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    def drawing_config() -> Config:
        config: Config = make_config(networks=(NetworkConfig(outcomes=MIX),),
                                     simulation=SimulationConfig(seed=5))
        return config

    running, _, connection = await smsc_on_faulty_sqlite(drawing_config, start_smsc)
    account = drawing_config().accounts[0]
    statuses: list[str] = []
    async with connect(port=running.smpp_port, system_id=account.system_id,
                       password=account.password, mode="transmitter",
                       enquire_link_interval=0, response_timeout=3600.0) as client:
        await ping(client, statuses)
        connection.fail("INSERT INTO messages", io_error)
        await ping(client, statuses)
        await ping(client, statuses)
        connection.clear()
        await ping(client, statuses)
        await ping(client, statuses)
    assert statuses == ["ESME_ROK", "ESME_RSYSERR", "ESME_RSYSERR", "ESME_ROK", "ESME_ROK"]
    await running.committer.wait_idle()
    messages = await stored(running)
    assert copy_numbers(messages, b"ping") == [0, 1, 2]  # as if the refused had not been
    expected = identity("4242", "4915100000002", b"ping")
    assert [m.fields.fate for m in messages] == [fate_of(expected, n) for n in range(3)]


async def test_a_submit_max_pending_refuses_gives_its_copy_back(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config: Config = make_config(
        accounts=(AccountConfig(max_pending=1),),
        networks=(NetworkConfig(latency=100.0,
                                outcomes=OutcomeMixConfig(delivered=1.0, undeliverable=1.0)),),
        simulation=SimulationConfig(seed=5),
    )
    running: RunningSmsc = await start_smsc(config)
    account = config.accounts[0]
    statuses: list[str] = []
    async with connect(port=running.smpp_port, system_id=account.system_id,
                       password=account.password, mode="transmitter",
                       enquire_link_interval=0, response_timeout=3600.0) as client:
        await ping(client, statuses)  # under way for 100 s: the account's one pending message
        await ping(client, statuses)
        await ping(client, statuses)
        await trio.sleep(150)  # it ended (delivered or undeliverable: no retry)
        await ping(client, statuses)
    assert statuses == ["ESME_ROK", "ESME_RMSGQFUL", "ESME_RMSGQFUL", "ESME_ROK"]
    await running.committer.wait_idle()
    assert copy_numbers(await stored(running), b"ping") == [0, 1]
