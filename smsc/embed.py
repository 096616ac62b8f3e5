"""Run the SMSC inside a test: `async with open_smsc()` under trio, or `smsc_in_thread()` (a
plain context manager that runs trio in a thread) for test suites that are not trio's.

Both give a handle with the bound ports and the helpers tests need: inject MO messages, look up
messages, wait for a message to reach a state, wait for an ESME to acknowledge a receipt,
advance the simulated clock (`advance(seconds)`: retries, expiry and schedules happen before
it returns; docs/clock.md). The
handle drives the same ControlPlane the HTTP API uses. Messages come as the API's JSON objects,
except that "state" is a MessageState (the enum esme_client's receipts carry too). A wait that
runs out raises WaitTimeout, an AssertionError that says what it waited for and what it saw.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any, TypeVar

import trio

from smsc.app import RunningSmsc, run
from smsc.config import (
    AccountConfig,
    Config,
    ControlConfig,
    FaultMixConfig,
    ServerConfig,
    SimulationConfig,
    StoreConfig,
    check_account,
    parse_section,
)
from smsc.control.accounts_api import CHANGEABLE, RESTART_ONLY
from smsc.control.plane import ControlPlane
from smsc.delivery.clock_control import ClockControl
from smsc.delivery.simulation import HandsetView, NetworkView, SimulationControl
from smsc.pdu.constants import MessageState
from smsc.simulation.inbox import InboxMessage
from smsc.store import MessageQuery, parse_message_id

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0
SHOWN = 5
"""Messages a WaitTimeout lists at most."""


class WaitTimeout(AssertionError):
    """A `wait_for_*` helper ran out of time: what it waited for, and what it saw instead."""


def _state(state: MessageState | str) -> MessageState:
    return state if isinstance(state, MessageState) else MessageState[state.upper()]


def _with_state(message: dict[str, Any]) -> dict[str, Any]:
    """The API's JSON object of a message, its state as a MessageState."""
    return {**message, "state": MessageState[message["state"]]}


def _listed(messages: list[dict[str, Any]]) -> str:
    """`1a2b DELIVERED to 4915100000002, ...` (the first few)."""
    if not messages:
        return "no message"
    shown = ", ".join(f"{m['id']} {m['state'].name} {m['source_addr']} -> "
                      f"{m['destination_addr']}" for m in messages[:SHOWN])
    more = len(messages) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _account(keys: dict[str, Any]) -> AccountConfig:
    """An account from keyword keys, checked as one in the config file (ConfigError when
    not); ValueError for a key only a restart applies."""
    for key in RESTART_ONLY:
        if key in keys:
            raise ValueError(f"{key} cannot change at run time: set it in the config and "
                             "restart")
    config = parse_section(AccountConfig, keys, "account")
    check_account(config, "account", "")
    return config


def _listed_value(value: Any) -> Any:
    """A config value as a file (or a request) gives it: tuples as lists."""
    return list(value) if isinstance(value, tuple) else value


def embedded_config(config: Config | None = None, *, time_scale: float | None = None,
                    **sections: Any) -> Config:
    """`config` (or the defaults) on free loopback ports with an in-memory store, quick
    shutdown and no enquire_link probing; keyword sections replace whole sections, and
    `time_scale` sets simulation.time_scale (simulated seconds per real second)."""
    base = config or Config(
        server=ServerConfig(port=0, enquire_link_timer=0, shutdown_grace=1.0),
        store=StoreConfig(kind="memory"),
        control=ControlConfig(port=0),
        simulation=SimulationConfig(inbox_size=100),
    )
    config = dataclasses.replace(base, **sections)
    if time_scale is not None:
        config = dataclasses.replace(config, simulation=dataclasses.replace(
            config.simulation, time_scale=time_scale))
    return config


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
                       state: MessageState | str | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
        """Stored messages, newest first (the API's JSON objects, "state" a MessageState)."""
        found = await self.control.find_messages(MessageQuery(
            system_id=account, address=number,
            state=None if state is None else _state(state), limit=limit))
        return [_with_state(message) for message in found]

    async def message(self, message_id: str | int) -> dict[str, Any]:
        return _with_state(await self.control.message(self._id(message_id)))

    async def wait_for_message(self, *, number: str | None = None, account: str | None = None,
                               state: MessageState | str = MessageState.DELIVERED,
                               count: int = 1,
                               timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """Wait until `count` messages to or from `number` are in `state` (DELIVERED: the
        handset has it); returns them, newest first. Raises WaitTimeout."""
        wanted = _state(state)
        with trio.move_on_after(timeout):
            while True:
                found = await self.messages(number=number, account=account, state=wanted,
                                            limit=max(count, 100))
                if len(found) >= count:
                    return found
                await self.control.committer.wait_committed()
        seen = await self.messages(number=number, account=account)
        of = " and ".join(part for part in (
            f"to or from {number}" if number is not None else "",
            f"of account {account}" if account is not None else "") if part)
        raise WaitTimeout(f"waited {timeout:g} s for {count} message(s) {of or 'at all'} in "
                          f"state {wanted.name}; there are {len(seen)} in any state: "
                          f"{_listed(seen)}")

    async def wait_for_receipt(self, message_id: str | int,
                               timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait until an ESME has acknowledged the delivery receipt of `message_id`; returns
        the message (in its final state). Raises WaitTimeout."""
        with trio.move_on_after(timeout):
            await self.control.wait_acknowledged(self._id(message_id))
            return await self.message(message_id)
        message = await self.message(message_id)
        sessions = [f"{s['system_id']} ({s['bind_type']})" for s in self.control.sessions()
                    if s.get("system_id")]
        raise WaitTimeout(
            f"waited {timeout:g} s for an ESME to acknowledge the receipt of {message['id']}; "
            f"the message is {message['state'].name} after {message['attempts']} attempt(s)"
            f" (registered_delivery {message['registered_delivery']}), bound: "
            f"{', '.join(sessions) or 'nobody'}")

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
        Raises WaitTimeout."""
        with trio.move_on_after(timeout):
            while len(inbox := self.inbox(number)) < count:
                await self.control.committer.wait_committed()
            return inbox
        inbox = self.inbox(number)
        sent = await self.messages(number=number)
        raise WaitTimeout(
            f"waited {timeout:g} s for {count} message(s) in the inbox of {number}; it holds "
            f"{len(inbox)}"
            + (f" ({'; '.join(repr(m.text) for m in inbox[:SHOWN])})" if inbox else "")
            + f"; stored to or from it: {_listed(sent)}"
            + ("; inboxes are off (simulation.inbox_size = 0)"
               if not self.config.simulation.inbox_size else ""))

    async def set_handset(self, number: str, **changes: Any) -> HandsetView:
        """state= online | offline | memory_full | failing, latency=, reply=, reply_text=."""
        return await self.simulation.set_handset(number, **changes)

    async def start_outage(self, network: str, duration: float | None = None) -> NetworkView:
        return await self.simulation.start_outage(network, duration)

    async def stop_outage(self, network: str) -> NetworkView:
        return await self.simulation.stop_outage(network)

    async def set_faults(self, network: str, **probabilities: float) -> NetworkView:
        """throttled=, system_error=, slow_response=, no_response=, disconnect= (0..1)."""
        return await self.simulation.set_faults(network, FaultMixConfig(**probabilities))

    async def reset(self) -> None:
        """The simulated world back to its configuration (between tests)."""
        await self.simulation.reset()

    async def stop(self) -> None:
        self.running.shutdown.set()

    # -- accounts at run time (as /v1/accounts changes them) --------------------------------

    def account(self, system_id: str) -> AccountConfig | None:
        """The account as it is in force now (None when there is no such account)."""
        assert self.running.accounts is not None
        return self.running.accounts.get(system_id)

    def create_account(self, system_id: str, password: str, **keys: Any) -> AccountConfig:
        """A new account (keys as in the config file, e.g. mo_addresses=["4243"]); it can
        bind at once and owns its mo_addresses at once. ValueError when it exists."""
        admin = self.running.accounts
        assert admin is not None
        if admin.get(system_id) is not None:
            raise ValueError(f"account {system_id!r} exists: change it")
        config = _account({**keys, "system_id": system_id, "password": password})
        admin.put(config)
        return config

    def change_account(self, system_id: str, **keys: Any) -> AccountConfig:
        """Change the keys given (the others stay); KeyError when there is no such account."""
        admin = self.running.accounts
        running = admin.get(system_id) if admin is not None else None
        if admin is None or running is None:
            raise KeyError(system_id)
        current = {key: _listed_value(getattr(running, key)) for key in CHANGEABLE}
        config = _account({**current, **keys, "system_id": system_id})
        config = dataclasses.replace(config, **{key: getattr(running, key)
                                                for key in RESTART_ONLY})
        admin.put(config)
        return config

    def delete_account(self, system_id: str) -> int:
        """Delete the account: its sessions are unbound, its mo_addresses route to no one;
        returns how many sessions are being unbound. KeyError when there is no such one."""
        assert self.running.accounts is not None
        unbinding = self.running.accounts.delete(system_id)
        if unbinding is None:
            raise KeyError(system_id)
        return unbinding

    # -- simulated time ----------------------------------------------------------------------

    @property
    def clock(self) -> ClockControl:
        assert self.running.clock is not None
        return self.running.clock

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second (simulation.time_scale)."""
        return self.clock.clock.scale

    def now(self) -> datetime:
        """The simulated time (UTC): what receipts, query_sm and the API show."""
        return self.clock.clock.wall()

    async def advance(self, seconds: float) -> datetime:
        """Move simulated time `seconds` forward; returns the new simulated time once
        everything due up to it (attempts, retries, expiry, comebacks, MO traffic) has
        happened and is stored, its receipts handed to the bound ESMEs. ValueError when
        negative."""
        return (await self.clock.advance(seconds)).now

    async def advance_to(self, when: datetime) -> datetime:
        """`advance` up to the wall time `when` (UTC when naive); ValueError when past."""
        return (await self.clock.advance_to(when)).now


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
        try:
            return trio.from_thread.run(function, *args, trio_token=self._token)
        except WaitTimeout as error:  # an assertion: where in trio it was raised is noise
            raise error.with_traceback(None) from None

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
        return self.call(self.embedded.start_outage, network, duration)

    def stop_outage(self, network: str) -> NetworkView:
        return self.call(self.embedded.stop_outage, network)

    def set_faults(self, network: str, **probabilities: float) -> NetworkView:
        return self.call(lambda: self.embedded.set_faults(network, **probabilities))

    def reset(self) -> None:
        self.call(self.embedded.reset)

    def create_account(self, system_id: str, password: str, **keys: Any) -> AccountConfig:
        """See `EmbeddedSmsc.create_account`."""
        return self.run_sync(lambda: self.embedded.create_account(system_id, password, **keys))

    def change_account(self, system_id: str, **keys: Any) -> AccountConfig:
        return self.run_sync(lambda: self.embedded.change_account(system_id, **keys))

    def delete_account(self, system_id: str) -> int:
        return self.run_sync(self.embedded.delete_account, system_id)

    def account(self, system_id: str) -> AccountConfig | None:
        return self.run_sync(self.embedded.account, system_id)

    @property
    def time_scale(self) -> float:
        return self.embedded.time_scale

    def now(self) -> datetime:
        """The simulated time (UTC)."""
        return self.run_sync(self.embedded.now)

    def advance(self, seconds: float) -> datetime:
        """See `EmbeddedSmsc.advance`."""
        return self.call(self.embedded.advance, seconds)

    def advance_to(self, when: datetime) -> datetime:
        return self.call(self.embedded.advance_to, when)

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


__all__ = [
    "EmbeddedSmsc",
    "MessageState",
    "ThreadedSmsc",
    "WaitTimeout",
    "embedded_config",
    "open_smsc",
    "smsc_in_thread",
]
