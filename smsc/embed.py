"""Run the SMSC inside a test: `async with open_smsc()` under trio, or `smsc_in_thread()` (a
plain context manager that runs trio in a thread) for test suites that are not trio's.

Both give a handle with the bound ports and the helpers tests need: inject MO messages, look up
messages, wait for a message to reach a state, wait for an ESME to acknowledge a receipt. The
handle drives the same ControlPlane the HTTP API uses.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import trio

from smsc.app import RunningSmsc, run
from smsc.config import (
    Config,
    ControlConfig,
    FaultMixConfig,
    ServerConfig,
    SimulationConfig,
    StoreConfig,
)
from smsc.control.plane import ControlPlane
from smsc.delivery.simulation import HandsetView, NetworkView, SimulationControl
from smsc.pdu.constants import MessageState
from smsc.simulation.inbox import InboxMessage
from smsc.store import MessageQuery, parse_message_id

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


def embedded_config(config: Config | None = None, **sections: Any) -> Config:
    """`config` (or the defaults) on free loopback ports with an in-memory store, quick
    shutdown and no enquire_link probing; keyword sections replace whole sections."""
    base = config or Config(
        server=ServerConfig(port=0, enquire_link_timer=0, shutdown_grace=1.0),
        store=StoreConfig(kind="memory"),
        control=ControlConfig(port=0),
        simulation=SimulationConfig(inbox_size=100),
    )
    return dataclasses.replace(base, **sections)


class EmbeddedSmsc:
    """A running SMSC, seen from a trio test."""

    def __init__(self, running: RunningSmsc, config: Config) -> None:
        assert running.control is not None
        self.running = running
        self.config = config
        self.control: ControlPlane = running.control
        self.host = config.server.host
        self.smpp_port = running.smpp_port
        self.http_port = running.http_port

    @property
    def http_url(self) -> str:
        """Base URL of the control API, /metrics and the dashboard ("" when disabled)."""
        return f"http://{self.config.control.host}:{self.http_port}" if self.http_port else ""

    def _id(self, message_id: str | int) -> int:
        if isinstance(message_id, int):
            return message_id
        parsed = parse_message_id(message_id, self.control.id_format)
        if parsed is None:
            raise ValueError(f"not a message id: {message_id!r}")
        return parsed

    async def inject_mo(self, source_addr: str, destination_addr: str, text: str,
                        data_coding: int | None = None) -> list[str]:
        """A handset sends `text` to `destination_addr`; returns the ids, one a part."""
        return await self.control.inject_mo(source_addr, destination_addr, text, data_coding)

    async def messages(self, *, account: str | None = None, number: str | None = None,
                       state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Stored messages, newest first, as the API's JSON objects."""
        return await self.control.find_messages(MessageQuery(
            system_id=account, address=number,
            state=None if state is None else MessageState[state.upper()], limit=limit))

    async def message(self, message_id: str | int) -> dict[str, Any]:
        return await self.control.message(self._id(message_id))

    async def wait_for_message(self, *, number: str | None = None, account: str | None = None,
                               state: str = "DELIVERED", count: int = 1,
                               timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """Wait until `count` messages to or from `number` are in `state` (DELIVERED: the
        handset has it); returns them, newest first. Raises trio.TooSlowError."""
        with trio.fail_after(timeout):
            while True:
                found = await self.messages(number=number, account=account, state=state,
                                            limit=max(count, 100))
                if len(found) >= count:
                    return found
                await self.control.committer.wait_committed()

    async def wait_for_receipt(self, message_id: str | int,
                               timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait until an ESME has acknowledged the delivery receipt of `message_id`; returns
        the message (in its final state). Raises trio.TooSlowError."""
        with trio.fail_after(timeout):
            await self.control.wait_acknowledged(self._id(message_id))
        return await self.message(message_id)

    # -- the simulated world -----------------------------------------------------------------

    @property
    def simulation(self) -> SimulationControl:
        """Handsets, outages, fault mixes (see smsc.delivery.simulation)."""
        assert self.running.simulation is not None
        return self.running.simulation

    def inbox(self, number: str) -> list[InboxMessage]:
        """What the handset received, oldest first (reassembled and decoded)."""
        return self.simulation.inbox(number)

    def clear_inbox(self, number: str | None = None) -> None:
        self.simulation.clear_inbox(number)

    async def wait_for_inbox(self, number: str, count: int = 1,
                             timeout: float = DEFAULT_TIMEOUT) -> list[InboxMessage]:
        """Wait until the handset's inbox holds `count` messages; returns the inbox.
        Raises trio.TooSlowError."""
        with trio.fail_after(timeout):
            while len(inbox := self.inbox(number)) < count:
                await self.control.committer.wait_committed()
            return inbox

    async def set_handset(self, number: str, **changes: Any) -> HandsetView:
        """state= online | offline | memory_full | failing, latency=, reply=, reply_text=."""
        return await self.simulation.set_handset(number, **changes)

    def start_outage(self, network: str, duration: float | None = None) -> NetworkView:
        return self.simulation.start_outage(network, duration)

    async def stop_outage(self, network: str) -> NetworkView:
        return await self.simulation.stop_outage(network)

    def set_faults(self, network: str, **probabilities: float) -> NetworkView:
        """throttled=, system_error=, slow_response=, no_response=, disconnect= (0..1)."""
        return self.simulation.set_faults(network, FaultMixConfig(**probabilities))

    async def reset(self) -> None:
        """The simulated world back to its configuration (between tests)."""
        await self.simulation.reset()

    async def stop(self) -> None:
        self.running.shutdown.set()


@asynccontextmanager
async def open_smsc(config: Config | None = None, **sections: Any
                    ) -> AsyncIterator[EmbeddedSmsc]:
    """Run an SMSC for the body of the `async with` (see `embedded_config` for defaults)."""
    config = embedded_config(config, **sections)
    async with trio.open_nursery() as nursery:
        running: RunningSmsc = await nursery.start(run, config)
        try:
            yield EmbeddedSmsc(running, config)
        finally:
            running.shutdown.set()


class ThreadedSmsc:
    """A running SMSC seen from ordinary (non-trio) code: every helper blocks."""

    def __init__(self, embedded: EmbeddedSmsc, token: trio.lowlevel.TrioToken) -> None:
        self.embedded = embedded
        self._token = token
        self.config = embedded.config
        self.host = embedded.host
        self.smpp_port = embedded.smpp_port
        self.http_port = embedded.http_port
        self.http_url = embedded.http_url

    def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run an async function on the SMSC's trio thread and return its result."""
        return trio.from_thread.run(function, *args, trio_token=self._token)

    def inject_mo(self, source_addr: str, destination_addr: str, text: str,
                  data_coding: int | None = None) -> list[str]:
        return self.call(self.embedded.inject_mo, source_addr, destination_addr, text,
                         data_coding)

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        return self.call(lambda: self.embedded.messages(**filters))

    def message(self, message_id: str | int) -> dict[str, Any]:
        return self.call(self.embedded.message, message_id)

    def wait_for_message(self, **filters: Any) -> list[dict[str, Any]]:
        return self.call(lambda: self.embedded.wait_for_message(**filters))

    def wait_for_receipt(self, message_id: str | int,
                         timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return self.call(self.embedded.wait_for_receipt, message_id, timeout)

    def run_sync(self, function: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the SMSC's trio thread and return its result."""
        return trio.from_thread.run_sync(function, *args, trio_token=self._token)

    def inbox(self, number: str) -> list[InboxMessage]:
        return self.run_sync(self.embedded.inbox, number)

    def clear_inbox(self, number: str | None = None) -> None:
        self.run_sync(self.embedded.clear_inbox, number)

    def wait_for_inbox(self, number: str, count: int = 1,
                       timeout: float = DEFAULT_TIMEOUT) -> list[InboxMessage]:
        return self.call(self.embedded.wait_for_inbox, number, count, timeout)

    def set_handset(self, number: str, **changes: Any) -> HandsetView:
        return self.call(lambda: self.embedded.set_handset(number, **changes))

    def start_outage(self, network: str, duration: float | None = None) -> NetworkView:
        return self.run_sync(self.embedded.start_outage, network, duration)

    def stop_outage(self, network: str) -> NetworkView:
        return self.call(self.embedded.stop_outage, network)

    def set_faults(self, network: str, **probabilities: float) -> NetworkView:
        return self.run_sync(lambda: self.embedded.set_faults(network, **probabilities))

    def reset(self) -> None:
        self.call(self.embedded.reset)

    @property
    def running(self) -> RunningSmsc:
        """The live objects; touch them only through `call` (they belong to the trio thread)."""
        return self.embedded.running


@contextmanager
def smsc_in_thread(config: Config | None = None, *, start_timeout: float = 30.0,
                   **sections: Any) -> Iterator[ThreadedSmsc]:
    """Run an SMSC on its own trio loop in a background thread for the `with` body."""
    handed: queue.Queue[ThreadedSmsc | BaseException] = queue.Queue()
    stopper: list[Callable[[], None]] = []

    async def serve() -> None:
        async with open_smsc(config, **sections) as embedded:
            finished = trio.Event()
            stopper.append(finished.set)
            handed.put(ThreadedSmsc(embedded, trio.lowlevel.current_trio_token()))
            await finished.wait()

    def main() -> None:
        try:
            trio.run(serve)
        except BaseException as error:  # handed to the caller, raised there
            handed.put(error)

    thread = threading.Thread(target=main, name="smsc", daemon=True)
    thread.start()
    result = handed.get(timeout=start_timeout)
    if isinstance(result, BaseException):
        thread.join()
        raise result
    try:
        yield result
    finally:
        trio.from_thread.run_sync(stopper[0], trio_token=result._token)
        thread.join(timeout=30.0)
        if not handed.empty():
            error = handed.get()
            if isinstance(error, BaseException):
                raise error


__all__ = ["EmbeddedSmsc", "ThreadedSmsc", "embedded_config", "open_smsc", "smsc_in_thread"]
