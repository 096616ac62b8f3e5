"""The same traffic meets the same fates, however it is paced: the shipped chaos and carriers
configurations, a real SMSC on 127.0.0.1, real TCP clients, trio's autojump MockClock.

The same 200 submits go out twice: once over one connection as fast as its window allows,
once over four connections, each paced differently and taking the messages in another
order, so that retries of early messages interleave with later submits differently. Each
message, matched by its identity in the traffic (source, destination, payload and which copy
it is), must end the same: submit status, final state, error code and attempt count.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from esme_client import ResponseTimeout, SmppStatusError, connect
from esme_client.client import EsmeClient
from smsc.app import RunningSmsc, run
from smsc.config import Config, load_config
from smsc.pdu import SubmitSm
from smsc.pdu.constants import CommandStatus
from smsc.simulation import fate as fate_module
from smsc.store import MessageQuery
from smsc.store.models import Direction

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "configs" / "examples"
Chain = tuple[str, str, bytes, int]
"""A message of the traffic and how many copies of it are sent, one after the other."""
Identity = tuple[str, str, bytes]
Ending = dict[Identity, list[tuple[str, ...]]]
"""Per message, what each copy met (in the order the copies were sent)."""


@dataclasses.dataclass
class Log:
    """What the ESME saw: each message's submit answers, and when each submit went out."""

    answers: Ending = dataclasses.field(default_factory=lambda: defaultdict(list))
    sent_at: list[float] = dataclasses.field(default_factory=list)


def traffic(destinations: list[str]) -> list[Chain]:
    """200 submits: ten per destination from two sources, eight distinct texts and one text
    sent twice (copies of one message)."""
    chains: list[Chain] = []
    for index, destination in enumerate(destinations):
        source = "4242" if index % 2 else "4243"
        chains += [(source, destination, f"message {n} to {destination}".encode(), 1)
                   for n in range(8)]
        chains.append((source, destination, b"ping", 2))
    assert sum(chain[3] for chain in chains) == 10 * len(destinations)
    return chains


CHAOS = traffic(
    [f"+4930{n:07}" for n in range(14)]  # "flaky": the outcome mix and the fault mix
    + [f"+999{n:08}" for n in range(3)]  # "dead": retried until validity ends
    + [f"4915200{n:05}" for n in range(3)]  # the "broken" handsets (not the time-scheduled
)  # "flapping" ones: which attempt finds them on is a matter of time, by design)
CARRIERS = traffic(
    [f"+4915{n}1234567" for n in range(3)] + [f"+49172{n}234567" for n in range(2)]
    + [f"+4479{n}1234567" for n in range(2)] + [f"+120255501{n}{n}" for n in range(3)]
    + [f"+91981234567{n}" for n in range(3)] + [f"+551191234567{n}" for n in range(2)]
    + [f"+3361234567{n}" for n in range(2)]
    + ["+491709912345", "+491609912345", "+491528812345"]  # full inbox, slow, echo handsets
)
CASES = {
    # disconnect faults drop whatever the ESME had in flight on the connection, which depends
    # on its pacing; validity shortened so that every message ends within virtual minutes
    "chaos.toml": (CHAOS, 120.0),
    "carriers.toml": (CARRIERS, 600.0),
}


def shipped(name: str, validity: float, tmp_path: Path) -> Config:
    config = load_config(EXAMPLES / name)
    networks = tuple(
        dataclasses.replace(network, faults=dataclasses.replace(network.faults, disconnect=0.0))
        for network in config.networks)
    return dataclasses.replace(
        config,
        networks=networks,
        server=dataclasses.replace(config.server, port=0, enquire_link_timer=0),
        store=dataclasses.replace(config.store, kind="memory", data_dir=str(tmp_path),
                                  default_validity=validity),
        control=dataclasses.replace(config.control, enabled=False),
    )


async def send(client: EsmeClient, chain: Chain, log: Log, pause: float) -> None:
    """Send the copies of one message in turn; a throttled submit is sent again, as an ESME
    does (the account's rate limit and the simulated fault answer alike)."""
    source, destination, payload, copies = chain
    for _ in range(copies):
        while True:
            log.sent_at.append(trio.current_time())
            try:
                await client.request(SubmitSm(source_addr=source, destination_addr=destination,
                                              short_message=payload))
                status = "ESME_ROK"
            except SmppStatusError as error:
                if error.status == CommandStatus.ESME_RTHROTTLED:
                    await trio.sleep(0.05)
                    continue
                status = error.status_name
            except ResponseTimeout:
                status = "no response"
            break
        log.answers[(source, destination, payload)].append((status,))
        if pause:
            await trio.sleep(pause)


async def one_fast_connection(port: int, account: Any, chains: list[Chain], log: Log) -> None:
    async with connect(port=port, system_id=account.system_id, password=account.password,
                       mode="transmitter", window=50, enquire_link_interval=0) as client:
        queue = iter(chains)

        async def worker() -> None:
            for chain in queue:
                await send(client, chain, log, 0.0)

        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(worker)


async def four_paced_connections(port: int, account: Any, chains: list[Chain],
                                 log: Log) -> None:
    async def connection(number: int) -> None:
        mine = chains[number::4]
        if number % 2:
            mine.reverse()
        async with connect(port=port, system_id=account.system_id, password=account.password,
                           mode="transmitter", window=1 + number,
                           enquire_link_interval=0) as client:
            for chain in mine:
                await send(client, chain, log, 0.2 * (number + 1))

    async with trio.open_nursery() as nursery:
        for number in range(4):
            nursery.start_soon(connection, number)


Pacing = Callable[[int, Any, list[Chain], Log], Awaitable[None]]


async def play(config: Config, chains: list[Chain], pacing: Pacing
               ) -> tuple[Ending, Ending, float, float]:
    """Run a fresh SMSC, send the traffic, wait until every message has ended. Returns the
    submit answers and the stored messages' endings (state, error code, attempts), each per
    message in the order its copies were sent; the median time a submit went out at and the
    time the last message ended at (virtual seconds since the start)."""
    log = Log()
    async with trio.open_nursery() as nursery:
        running: RunningSmsc = await nursery.start(run, config)
        started = trio.current_time()
        await pacing(running.smpp_port, config.accounts[0], chains, log)
        retry_max = max(config.store.retry_schedule)
        while True:
            messages = await running.committer.read(running.store.find,
                                                    MessageQuery(limit=1_000_000))
            sent = [m for m in messages if m.fields.direction is Direction.MT]
            if all(m.is_final for m in sent):
                break
            # a commit, else the next retry (messages that expire as the delivery loop
            # claims them end without a commit of their own)
            with trio.move_on_after(retry_max):
                await running.committer.wait_committed()
        ended = trio.current_time() - started
        running.shutdown.set()
    endings: Ending = defaultdict(list)
    for message in sorted(sent, key=lambda m: m.message_id):
        fields = message.fields
        endings[(fields.source_addr, fields.destination_addr, fields.payload)].append(
            (message.state.name, str(message.network_error_code), str(message.attempts)))
    times = sorted(log.sent_at)
    return dict(log.answers), dict(endings), times[len(times) // 2] - started, ended


def differences(first: Ending, second: Ending) -> dict[Identity, tuple[Any, Any]]:
    return {key: (first.get(key), second.get(key)) for key in first.keys() | second.keys()
            if first.get(key) != second.get(key)}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_same_traffic_at_another_pace_meets_the_same_fates(
    name: str, tmp_path: Path, autojump_clock: Any
) -> None:
    chains, validity = CASES[name]
    config = shipped(name, validity, tmp_path)
    with trio.fail_after(3600):  # virtual seconds
        fast_answers, fast, fast_sending, fast_end = await play(config, chains,
                                                                one_fast_connection)
        paced_answers, paced, paced_sending, paced_end = await play(config, chains,
                                                                    four_paced_connections)
    # the paced run sent half its submits after the first retries of the first ones
    assert paced_sending > min(config.store.retry_schedule) > fast_sending
    # both ended before the first scheduled outage (what an outage does depends on time)
    assert max(fast_end, paced_end) < min(outage.start for network in config.networks
                                          for outage in network.outages)
    assert differences(fast_answers, paced_answers) == {}
    assert differences(fast, paced) == {}
    assert sum(map(len, fast_answers.values())) == 200
    endings = [ending for copies in fast.values() for ending in copies]
    assert {"DELIVERED", "UNDELIVERABLE", "EXPIRED"} <= {ending[0] for ending in endings}
    assert any(int(ending[2]) > 1 for ending in endings)  # some were retried


async def test_the_comparison_catches_one_random_stream_per_network(
    tmp_path: Path, autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Draws as they were before, each network's decisions taking the next numbers of one
    stream whatever message they decide: the same traffic at another pace ends otherwise."""
    streams: dict[bytes, random.Random] = {}

    def stream(key: bytes, fate: bytes, step: int) -> random.Random:
        return streams.setdefault(key, random.Random(key))

    monkeypatch.setattr(fate_module, "Draws", stream)
    chains, validity = CASES["chaos.toml"]
    config = shipped("chaos.toml", validity, tmp_path)
    with trio.fail_after(3600):
        _, fast, _, _ = await play(config, chains, one_fast_connection)
        streams.clear()
        _, paced, _, _ = await play(config, chains, four_paced_connections)
    assert differences(fast, paced) != {}
